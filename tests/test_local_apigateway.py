"""The local API Gateway's RestApis: rows per resource and method, read back as ApiModel."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from teal.apigw import ApiGatewayError
from teal.cloud.local import apigateway
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.store import Store

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
        model = apigateway.load_api(conn, api_id)
        paths = {model.path_of(resource_id) for resource_id in model.resources}
        return paths, {(path, verb) for path, verb, _ in model.endpoints()}


def test_every_change_is_stored_as_rows_another_process_reads_back(
    store: Store, paths: LocalPaths
) -> None:
    with store.transaction() as conn:
        api_id, root = apigateway.create_api(conn, "blog")
        posts = apigateway.create_resource(conn, api_id, root, "posts")
        post = apigateway.create_resource(conn, api_id, posts, "{id}")
        comments = apigateway.create_resource(conn, api_id, post, "comments")
        tags = apigateway.create_resource(conn, api_id, root, "tags")
        apigateway.put_method(conn, api_id, posts, "get", PAYLOAD)
        apigateway.put_method(conn, api_id, post, "DELETE", PAYLOAD)
        apigateway.put_method(conn, api_id, comments, "GET", PAYLOAD)
        apigateway.put_method(conn, api_id, tags, "GET", PAYLOAD)
        apigateway.update_method(conn, api_id, tags, "get", {**PAYLOAD, "uri": "v"})
        apigateway.delete_method(conn, api_id, posts, "GET")
        apigateway.delete_resource(conn, api_id, post)  # with /posts/{id}/comments

    other = Store(paths)  # another connection: nothing cached, only the rows
    assert tree(other, api_id) == ({"/", "/posts", "/tags"}, {("/tags", "GET")})
    with other.transaction() as conn:
        assert apigateway.load_api(conn, api_id).resources[tags].methods["GET"]["uri"] == "v"
    other.close()


def test_a_change_undone_with_its_savepoint_is_not_kept_in_memory(store: Store) -> None:
    def failing_change(api_id: str, root: str) -> None:
        with store.transaction() as conn:
            apigateway.create_resource(conn, api_id, root, "undone")
            raise RuntimeError("the operation failed after its change")

    with store.transaction() as conn:
        api_id, root = apigateway.create_api(conn, "blog")
        apigateway.create_resource(conn, api_id, root, "kept")
        with pytest.raises(RuntimeError):
            failing_change(api_id, root)

    assert tree(store, api_id)[0] == {"/", "/kept"}
    with store.transaction() as conn:  # and API Gateway's rules see the stored tree
        apigateway.create_resource(conn, api_id, root, "undone")


def test_a_refused_change_leaves_the_api_as_it_was(store: Store) -> None:
    with store.transaction() as conn:
        api_id, root = apigateway.create_api(conn, "blog")
        apigateway.create_resource(conn, api_id, root, "{id}")
        with pytest.raises(ApiGatewayError, match="sibling"):
            apigateway.create_resource(conn, api_id, root, "{slug}")
        with pytest.raises(ApiGatewayError, match="Invalid resource identifier"):
            apigateway.put_method(conn, api_id, "missing", "GET", PAYLOAD)

    assert tree(store, api_id) == ({"/", "/{id}"}, set())


def test_the_service_does_not_import_the_resource_providers() -> None:
    """The providers build on the service, never the other way round."""
    probe = (
        "import sys, teal.cloud.local.apigateway; "
        "print('teal.cloud.local.resources' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_method_checked_by_an_authorizer_names_one_of_its_apis(store: Store) -> None:
    with store.transaction() as conn:
        api_id, root = apigateway.create_api(conn, "shop")
        secured = {**PAYLOAD, "authorization": "CUSTOM", "authorizer_id": "nope"}
        with pytest.raises(ApiGatewayError, match="Invalid authorizer ID specified"):
            apigateway.put_method(conn, api_id, root, "GET", secured)
        spec = {"name": "jwt", "type": "TOKEN", "identity_sources": ["method.request.header.A"]}
        authorizer_id = apigateway.create_authorizer(conn, api_id, spec)
        apigateway.put_method(
            conn, api_id, root, "GET", {**secured, "authorizer_id": authorizer_id}
        )


def test_a_deployment_snapshots_access_and_keys_act_at_once(store: Store) -> None:
    with store.transaction() as conn:
        api_id, root = apigateway.create_api(conn, "shop")
        apigateway.put_method(conn, api_id, root, "GET", {**PAYLOAD, "api_key_required": True})
        headers = [["Access-Control-Allow-Origin", "*"]]
        apigateway.put_gateway_response(
            conn, api_id, "DEFAULT_4XX", {"status": None, "headers": headers}
        )
        deployment = apigateway.create_deployment(conn, api_id)
        apigateway.put_stage(conn, api_id, "dev", deployment, {}, create=True)
        apigateway.delete_gateway_response(conn, api_id, "DEFAULT_4XX")  # after the snapshot
        key_id, value = apigateway.create_api_key(conn, "k", True, None)
        assert len(value) == 40
        with pytest.raises(ApiGatewayError, match="API Key already exists"):
            apigateway.create_api_key(conn, "again", True, value)
        assert apigateway.accepted_api_key(conn, api_id, "dev", value) is None  # in no plan
        plan = apigateway.put_usage_plan(conn, None, "plan", [(api_id, "dev")])
        apigateway.add_usage_plan_key(conn, plan, key_id)
        assert apigateway.accepted_api_key(conn, api_id, "dev", value) == key_id
        apigateway.update_api_key(conn, key_id, "k", False)
        assert apigateway.accepted_api_key(conn, api_id, "dev", value) is None  # disabled
        with pytest.raises(ApiGatewayError, match="Invalid stage identifier"):
            apigateway.put_usage_plan(conn, None, "plan", [(api_id, "prod")])
        served = apigateway.served_stage(conn, api_id, "dev")
    assert served is not None
    (route,) = served.routes
    assert route.api_key_required and route.guarded
    assert served.gateway_responses["DEFAULT_4XX"].headers == (
        ("Access-Control-Allow-Origin", "*"),
    )
