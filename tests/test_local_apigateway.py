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
