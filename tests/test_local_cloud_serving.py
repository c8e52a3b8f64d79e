"""LocalCloud end to end: stacks applied by the engine, served by the real gateway over HTTP."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ports import free_port
from teal.cloud.base import BasePathMapping, StackFailed
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.paths import LocalPaths
from teal.project.config import DomainSpec
from test_local_engine_support import Events, blog_request, put_code

ECHO = """\
import json

def handler(event, context):
    body = {"resource": event["resource"], "path": event["path"],
            "method": event["httpMethod"], "params": event["pathParameters"],
            "version": VERSION}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(body)}
"""
RENAMED = (("/posts", ("GET",)), ("/posts/{post_id}", ("GET", "DELETE")))


def get(url: str) -> tuple[int, Any]:
    rest = url.removeprefix("http://")
    host_port, _, path = rest.partition("/")
    host, _, port = host_port.partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", "/" + path)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCloud]:
    from teal.cloud.local.gateway.lifecycle import stop_gateway

    monkeypatch.setenv("TEAL_LOCAL_PORT", str(free_port()))
    local = LocalCloud(LocalPaths(tmp_path / "home"))
    yield local
    stop_gateway(local.paths)
    local.close()


def deploy(cloud: LocalCloud, name: str, version: str, **options: Any) -> dict[str, str]:
    request = blog_request(cloud, name, **options)
    key = put_code(cloud, ECHO.replace("VERSION", repr(version)))
    params = {**request.parameters, "CodeKey": key}
    result = cloud.apply_stack(
        type(request)(name, request.template, params, request.tags), Events()
    )
    return dict(result.outputs)


def test_a_deployed_stack_answers_over_http_and_a_failed_rename_keeps_serving(
    cloud: LocalCloud,
) -> None:
    outputs = deploy(cloud, "blog-dev", "v1")
    cloud.ensure_serving()
    endpoint = cloud.endpoint_url(outputs["ApiId"], "dev")

    status, body = get(endpoint + "posts/42")
    assert status == 200
    assert body == {
        "resource": "/posts/{id}",
        "path": "/posts/42",
        "method": "GET",
        "params": {"id": "42"},
        "version": "v1",
    }
    assert get(endpoint + "nothing")[0] == 403

    with pytest.raises(StackFailed):
        deploy(cloud, "blog-dev", "v2", routes=RENAMED)
    status, body = get(endpoint + "posts/42")
    assert (status, body["resource"], body["version"]) == (200, "/posts/{id}", "v1")


def test_a_domain_serves_the_api_its_mapping_points_at(cloud: LocalCloud) -> None:
    blue = deploy(cloud, "blog-dev", "blue")
    green = deploy(cloud, "blog-dev-2", "green")
    domain = cloud.ensure_domain(DomainSpec("api.example.com"), {})
    cloud.create_mapping(BasePathMapping("api.example.com", "", blue["ApiId"], "dev"))
    cloud.ensure_serving()

    assert get(domain.url + "posts")[1]["version"] == "blue"
    cloud.update_mapping(BasePathMapping("api.example.com", "", green["ApiId"], "dev"))
    assert get(domain.url + "posts")[1]["version"] == "green"
