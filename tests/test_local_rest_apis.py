"""The local API Gateway's RestApis: rows per resource and method, read back as ApiModel."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from teal.cloud.local.gateway import rest_apis
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.store import Store
from teal.rules.apigateway import ApiGatewayError

PAYLOAD = {"type": "AWS_PROXY", "uri": "u", "function_arn": "arn:f"}


@pytest.fixture
def paths(tmp_path: Path) -> LocalPaths:
    return LocalPaths(tmp_path / "home")


@pytest.fixture
def store(paths: LocalPaths) -> Iterator[Store]:
    opened = Store(paths)
    yield opened
    opened.close()


def tree(store: Store, api_id: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The API's paths and (path, verb) methods, as a fresh read of its rows finds them."""
    with store.transaction() as conn:
        model = rest_apis.load_api(conn, api_id)
        paths = {model.path_of(resource_id) for resource_id in model.resources}
        return paths, {(path, verb) for path, verb, _ in model.endpoints()}


def test_every_change_is_stored_as_rows_another_process_reads_back(
    store: Store, paths: LocalPaths
) -> None:
    with store.transaction() as conn:
        api_id, root = rest_apis.create_api(conn, "blog", "us-east-1")
        posts = rest_apis.create_resource(conn, api_id, root, "posts")
        post = rest_apis.create_resource(conn, api_id, posts, "{id}")
        comments = rest_apis.create_resource(conn, api_id, post, "comments")
        tags = rest_apis.create_resource(conn, api_id, root, "tags")
        rest_apis.put_method(conn, api_id, posts, "get", PAYLOAD)
        rest_apis.put_method(conn, api_id, post, "DELETE", PAYLOAD)
        rest_apis.put_method(conn, api_id, comments, "GET", PAYLOAD)
        rest_apis.put_method(conn, api_id, tags, "GET", PAYLOAD)
        rest_apis.update_method(conn, api_id, tags, "get", {**PAYLOAD, "uri": "v"})
        rest_apis.delete_method(conn, api_id, posts, "GET")
        rest_apis.delete_resource(conn, api_id, post)  # with /posts/{id}/comments

    other = Store(paths)  # another connection: nothing cached, only the rows
    assert tree(other, api_id) == ({"/", "/posts", "/tags"}, {("/tags", "GET")})
    with other.transaction() as conn:
        assert rest_apis.load_api(conn, api_id).resources[tags].methods["GET"]["uri"] == "v"
    other.close()


def test_a_change_undone_with_its_savepoint_is_not_kept_in_memory(store: Store) -> None:
    def failing_change(api_id: str, root: str) -> None:
        with store.transaction() as conn:
            rest_apis.create_resource(conn, api_id, root, "undone")
            raise RuntimeError("the operation failed after its change")

    with store.transaction() as conn:
        api_id, root = rest_apis.create_api(conn, "blog", "us-east-1")
        rest_apis.create_resource(conn, api_id, root, "kept")
        with pytest.raises(RuntimeError):
            failing_change(api_id, root)

    assert tree(store, api_id)[0] == {"/", "/kept"}
    with store.transaction() as conn:  # and API Gateway's rules see the stored tree
        rest_apis.create_resource(conn, api_id, root, "undone")


def test_a_refused_change_leaves_the_api_as_it_was(store: Store) -> None:
    with store.transaction() as conn:
        api_id, root = rest_apis.create_api(conn, "blog", "us-east-1")
        rest_apis.create_resource(conn, api_id, root, "{id}")
        with pytest.raises(ApiGatewayError, match="sibling"):
            rest_apis.create_resource(conn, api_id, root, "{slug}")
        with pytest.raises(ApiGatewayError, match="Invalid resource identifier"):
            rest_apis.put_method(conn, api_id, "missing", "GET", PAYLOAD)

    assert tree(store, api_id) == ({"/", "/{id}"}, set())


def test_the_service_does_not_import_the_resource_providers() -> None:
    """The providers build on the service, never the other way round."""
    probe = (
        "import sys, teal.cloud.local.gateway.rest_apis; "
        "print('teal.cloud.local.stacks.resources' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_method_checked_by_an_authorizer_names_one_of_its_apis(store: Store) -> None:
    with store.transaction() as conn:
        api_id, root = rest_apis.create_api(conn, "shop", "us-east-1")
        secured = {**PAYLOAD, "authorization": "CUSTOM", "authorizer_id": "nope"}
        with pytest.raises(ApiGatewayError, match="Invalid authorizer ID specified"):
            rest_apis.put_method(conn, api_id, root, "GET", secured)
        spec = {"name": "jwt", "type": "TOKEN", "identity_sources": ["method.request.header.A"]}
        authorizer_id = rest_apis.create_authorizer(conn, api_id, spec)
        rest_apis.put_method(conn, api_id, root, "GET", {**secured, "authorizer_id": authorizer_id})


def test_a_deployment_snapshots_access_and_keys_act_at_once(store: Store) -> None:
    with store.transaction() as conn:
        api_id, root = rest_apis.create_api(conn, "shop", "us-east-1")
        rest_apis.put_method(conn, api_id, root, "GET", {**PAYLOAD, "api_key_required": True})
        headers = [["Access-Control-Allow-Origin", "*"]]
        rest_apis.put_gateway_response(
            conn, api_id, "DEFAULT_4XX", {"status": None, "headers": headers}
        )
        deployment = rest_apis.create_deployment(conn, api_id)
        rest_apis.put_stage(conn, api_id, "dev", deployment, {}, create=True)
        rest_apis.delete_gateway_response(conn, api_id, "DEFAULT_4XX")  # after the snapshot
        key_id, value = rest_apis.create_api_key(conn, "k", True, None)
        assert len(value) == 40
        with pytest.raises(ApiGatewayError, match="API Key already exists"):
            rest_apis.create_api_key(conn, "again", True, value)
        assert rest_apis.accepted_api_key(conn, api_id, "dev", value) is None  # in no plan
        plan = rest_apis.put_usage_plan(conn, None, "plan", [(api_id, "dev")])
        rest_apis.add_usage_plan_key(conn, plan, key_id)
        assert rest_apis.accepted_api_key(conn, api_id, "dev", value) == key_id
        rest_apis.update_api_key(conn, key_id, "k", False)
        assert rest_apis.accepted_api_key(conn, api_id, "dev", value) is None  # disabled
        with pytest.raises(ApiGatewayError, match="Invalid stage identifier"):
            rest_apis.put_usage_plan(conn, None, "plan", [(api_id, "prod")])
        served = rest_apis.served_stage(conn, api_id, "dev")
    assert served is not None
    (route,) = served.routes
    assert route.api_key_required and route.guarded
    assert served.gateway_responses["DEFAULT_4XX"].headers == (
        ("Access-Control-Allow-Origin", "*"),
    )
