"""The gateway's core, ``Gateway.handle``, in-process: routing, errors, events, domains."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel

from runtime_here import RUNTIME
from teal.cloud.local.functions.workers import WorkerManager
from teal.cloud.local.gateway.handler import (
    Gateway,
    GatewayRequest,
    GatewayResponse,
    random_request_id,
)
from teal.cloud.local.model import DomainRoute, FunctionSpec, RouteIntegration, ServedStage
from teal.cloud.local.paths import LocalPaths
from test_gateway_support import FakeServingState, function_arn

T = TypeVar("T")
MAIN_PORT = 4510
TOKEN = "the-gateways-token"  # what guards /_teal/ (the gateway process makes its own)
WITH_TOKEN = (("X-Teal-Token", TOKEN),)
NOW = 1_800_000_000.0


def request(
    path: str,
    method: str = "GET",
    *,
    query: str = "",
    host: str = f"127.0.0.1:{MAIN_PORT}",
    port: int = MAIN_PORT,
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
) -> GatewayRequest:
    return GatewayRequest(method, path, query, (("host", host), *headers), body, port)


def api(path: str, api_id: str = "blue", stage: str = "dev") -> str:
    return f"/restapis/{api_id}/{stage}/_user_request_{path}"


# ---------------------------------------------------------------- a fake invoker


class ScriptedInvoker:
    """Answers with a callable per function name; records the events it was given."""

    def __init__(self, answers: dict[str, Callable[[Any], Any]]) -> None:
        self.answers = answers
        self.events: list[Any] = []

    async def invoke(self, spec: FunctionSpec, event: Any, request_id: str) -> Any:
        self.events.append(event)
        answer = self.answers[spec.name](event)
        if isinstance(answer, Coroutine):
            return await answer
        return answer


def ok(body: str = "hi") -> Callable[[Any], Any]:
    return lambda event: {"statusCode": 200, "body": body}


def fake_stage(
    state: FakeServingState,
    api_id: str,
    names: dict[str, list[tuple[str, str]]],
    binary_media_types: tuple[str, ...] = (),
) -> None:
    routes: list[RouteIntegration] = []
    for name, endpoints in names.items():
        spec = FunctionSpec(
            name,
            function_arn(name),
            "sha",
            "code/sha.zip",
            "h.h",
            RUNTIME,
            128,
            3,
            invoke_source_arns=(f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/*/*/*",),
        )
        state.put_function(spec)
        routes.extend(RouteIntegration(p, m, spec.arn) for p, m in endpoints)
    deployment = f"d-{api_id}-{len(routes)}-{len(binary_media_types)}"
    state.put_stage(ServedStage(api_id, "dev", deployment, tuple(routes), {}, binary_media_types))


def handle(gateway: Gateway, req: GatewayRequest) -> GatewayResponse:
    return asyncio.run(gateway.handle(req))


@pytest.fixture
def state() -> FakeServingState:
    state = FakeServingState()
    fake_stage(
        state,
        "blue",
        {
            "root": [("/", "GET")],
            "show": [("/posts/{id}", "GET")],
            "list": [("/posts", "GET")],
            "static": [("/posts/new", "GET")],
            "proxy": [("/files/{path+}", "ANY")],
        },
    )
    return state


def gateway_for(state: FakeServingState, invoker: ScriptedInvoker, **kwargs: Any) -> Gateway:
    return Gateway(state, invoker, main_port=MAIN_PORT, clock=lambda: NOW, token=TOKEN, **kwargs)


def all_ok() -> ScriptedInvoker:
    return ScriptedInvoker({n: ok(n) for n in ("root", "show", "list", "static", "proxy", "g")})


@pytest.mark.parametrize(
    ("path", "method", "function", "resource", "params"),
    [
        ("/", "GET", "root", "/", None),
        ("/posts", "GET", "list", "/posts", None),
        ("/posts/7", "GET", "show", "/posts/{id}", {"id": "7"}),
        ("/posts/new", "GET", "static", "/posts/new", None),
        # API Gateway passes the path and its parameters as sent, percent-encoded
        ("/posts/a%20b", "GET", "show", "/posts/{id}", {"id": "a%20b"}),
        ("/files/a/b/c.txt", "DELETE", "proxy", "/files/{path+}", {"path": "a/b/c.txt"}),
    ],
)
def test_routes_by_the_deployment_snapshot(
    state: FakeServingState,
    path: str,
    method: str,
    function: str,
    resource: str,
    params: dict[str, str] | None,
) -> None:
    invoker = all_ok()
    response = handle(gateway_for(state, invoker), request(api(path), method))
    assert (response.status, response.body) == (200, function.encode())
    event = invoker.events[-1]
    APIGatewayProxyEventModel.model_validate(event)
    assert event["resource"] == resource
    assert event["pathParameters"] == params
    assert event["requestContext"]["path"] == "/dev" + path
    assert event["path"] == path
    assert event["requestContext"]["requestTimeEpoch"] == int(NOW * 1000)


@pytest.mark.parametrize(
    ("path", "method"), [("/nothing", "GET"), ("/posts", "POST"), ("/posts/1/2", "GET")]
)
def test_no_route_or_method_is_missing_authentication_token(
    state: FakeServingState, path: str, method: str
) -> None:
    response = handle(gateway_for(state, all_ok()), request(api(path), method))
    assert response.status == 403
    assert response.body == b'{"message":"Missing Authentication Token"}'


def test_unknown_stage_is_forbidden_and_unknown_urls_explain_the_url_form(
    state: FakeServingState,
) -> None:
    gateway = gateway_for(state, all_ok())
    assert handle(gateway, request(api("/", stage="prod"))).status == 403
    lost = handle(gateway, request("/elsewhere"))
    assert lost.status == 404
    assert "_user_request_" in lost.json()["message"]


@pytest.mark.parametrize(
    ("answer", "status", "body"),
    [
        (lambda e: {"statusCode": 200, "oops": 1}, 502, b'{"message": "Internal server error"}'),
        (lambda e: "not a dict", 502, b'{"message": "Internal server error"}'),
        (lambda e: 1 / 0, 502, b'{"message": "Internal server error"}'),
        (
            lambda e: {"statusCode": 200, "headers": {"X-A\r\nB": "1"}},
            502,
            b'{"message": "Internal server error"}',
        ),
        (
            lambda e: {"statusCode": 200, "multiValueHeaders": {"X-A": ["1\nSet-Cookie: x"]}},
            502,
            b'{"message": "Internal server error"}',
        ),
        (lambda e: asyncio.sleep(5), 504, b'{"message": "Endpoint request timed out"}'),
    ],
)
def test_function_failures_answer_as_api_gateway(
    state: FakeServingState, answer: Callable[[Any], Any], status: int, body: bytes
) -> None:
    invoker = ScriptedInvoker({"list": answer})
    response = handle(
        gateway_for(state, invoker, integration_timeout_s=0.2), request(api("/posts"))
    )
    assert (response.status, response.body) == (status, body)


def test_without_invoke_permission_the_answer_is_500(state: FakeServingState) -> None:
    spec = state.functions[function_arn("list")]
    state.put_function(replace(spec, invoke_source_arns=("arn:aws:execute-api:*:*:other/*",)))
    response = handle(gateway_for(state, all_ok()), request(api("/posts")))
    assert (response.status, response.body) == (500, b'{"message": "Internal server error"}')


def test_proxy_response_headers_status_and_binary_bodies_are_applied(
    state: FakeServingState,
) -> None:
    fake_stage(state, "blue", {"list": [("/posts", "GET")]}, ("image/*",))
    encoded = base64.b64encode(b"\x89PNG").decode()
    answer = {
        "statusCode": 418,
        "headers": {"Content-Type": "image/png"},
        "multiValueHeaders": {"X-Twice": ["1", "2"]},
        "body": encoded,
        "isBase64Encoded": True,
    }
    invoker = ScriptedInvoker({"list": lambda e: answer})
    accepting = request(api("/posts"), headers=(("Accept", "image/png, */*"),))
    response = handle(gateway_for(state, invoker), accepting)
    assert response.status == 418
    assert response.body == b"\x89PNG"
    assert ("X-Twice", "1") in response.headers and ("X-Twice", "2") in response.headers
    assert ("Content-Type", "image/png") in response.headers
    # the first Accept type decides: a browser's text/html first gets the base64 text
    for accept in (("Accept", "text/html, image/png"),), ():
        response = handle(gateway_for(state, invoker), request(api("/posts"), headers=accept))
        assert response.body == encoded.encode()


def test_request_bodies_are_base64_exactly_for_the_deployed_binary_media_types(
    state: FakeServingState,
) -> None:
    invoker = ScriptedInvoker({"list": lambda e: {"statusCode": 200}})
    payload = bytes(range(256))
    png = (("Content-Type", "image/png"),)
    for listed, encoded in (((), False), (("image/png",), True), (("*/*",), True)):
        fake_stage(state, "blue", {"list": [("/posts", "POST")]}, listed)
        handle(
            gateway_for(state, invoker), request(api("/posts"), "POST", body=payload, headers=png)
        )
        event = invoker.events[-1]
        assert event["isBase64Encoded"] is encoded, listed
        text = payload.decode("utf-8", errors="replace")
        assert event["body"] == (base64.b64encode(payload).decode() if encoded else text)


def test_lambdas_request_id_is_not_api_gateways_and_the_trace_id_is_added(
    state: FakeServingState,
) -> None:
    invoker = ScriptedInvoker({"list": ok()})
    seen: list[str] = []
    original = invoker.invoke

    async def recording(spec: FunctionSpec, event: Any, request_id: str) -> Any:
        seen.append(request_id)
        return await original(spec, event, request_id)

    invoker.invoke = recording  # type: ignore[method-assign]
    handle(gateway_for(state, invoker), request(api("/posts")))
    (event,) = invoker.events
    assert seen[0] != event["requestContext"]["requestId"]
    assert event["headers"]["X-Amzn-Trace-Id"].startswith(f"Root=1-{int(NOW):08x}-")
    traced = request(api("/posts"), headers=(("X-Amzn-Trace-Id", "Root=1-5-abc"),))
    handle(gateway_for(state, invoker), traced)
    assert invoker.events[-1]["headers"]["X-Amzn-Trace-Id"] == "Root=1-5-abc"


def add_domain(state: FakeServingState, mappings: dict[str, tuple[str, str]]) -> DomainRoute:
    domain = DomainRoute("api.example.com", 4600, mappings)
    state.put_domain(domain)
    return domain


def test_domains_route_by_port_and_by_host_through_base_path_mappings(
    state: FakeServingState,
) -> None:
    fake_stage(state, "green", {"g": [("/posts", "GET"), ("/", "GET")]})
    add_domain(state, {"": ("blue", "dev"), "v2": ("green", "dev")})
    invoker = all_ok()
    gateway = gateway_for(state, invoker)
    by_port = handle(gateway, request("/posts", host="127.0.0.1:4600", port=4600))
    by_host = handle(gateway, request("/posts", host="api.example.com"))
    v2 = handle(gateway, request("/v2/posts", port=4600))
    v2_root = handle(gateway, request("/v2", port=4600))
    assert [r.body for r in (by_port, by_host, v2, v2_root)] == [b"list", b"list", b"g", b"g"]
    event = invoker.events[2]
    APIGatewayProxyEventModel.model_validate(event)
    assert (event["resource"], event["path"]) == ("/posts", "/v2/posts")
    assert event["requestContext"]["path"] == "/v2/posts"


def test_a_mapping_change_applies_to_the_next_request_and_not_to_one_in_flight(
    state: FakeServingState,
) -> None:
    fake_stage(state, "green", {"g": [("/posts", "GET")]})
    add_domain(state, {"": ("blue", "dev")})

    async def slow_blue(event: Any) -> Any:
        add_domain(state, {"": ("green", "dev")})  # switched while this request runs
        await asyncio.sleep(0.05)
        return {"statusCode": 200, "body": "blue"}

    invoker = ScriptedInvoker({"list": slow_blue, "g": ok("green")})
    gateway = gateway_for(state, invoker)

    async def scenario() -> list[bytes]:
        first = await gateway.handle(request("/posts", port=4600))
        second = await gateway.handle(request("/posts", port=4600))
        return [first.body, second.body]

    assert asyncio.run(scenario()) == [b"blue", b"green"]


def test_a_domain_without_a_matching_mapping_is_forbidden(state: FakeServingState) -> None:
    add_domain(state, {"v1": ("blue", "dev")})
    response = handle(gateway_for(state, all_ok()), request("/posts", port=4600))
    assert (response.status, response.body) == (403, b'{"message":"Forbidden"}')


def test_health_answers_on_the_main_port(state: FakeServingState) -> None:
    gateway = gateway_for(state, all_ok(), identity={"pid": 1})
    response = handle(gateway, request("/_teal/health", headers=WITH_TOKEN))
    assert response.status == 200
    assert response.json()["pid"] == 1


# ---------------------------------------------------------------- with real workers


def test_real_workers_serve_the_app_behind_the_gateway(tmp_path: Path) -> None:
    paths = LocalPaths(tmp_path / "home")
    state = FakeServingState()
    state.deploy_app(paths, tmp_path / "app", api_id="blue", version="v1", timeout_s=1)

    async def scenario() -> dict[str, GatewayResponse]:
        workers = WorkerManager(paths)
        gateway = Gateway(state, workers, main_port=MAIN_PORT)
        out = {}
        for name, req in {
            "echo": request(
                api("/echo/42"),
                "POST",
                query="q=1",
                body=b"payload",
                headers=(("content-type", "text/plain"),),
            ),
            "raw": request(api("/raw")),
            "bad": request(api("/raw"), query="bad=1"),
            "binary": request(api("/binary"), headers=(("Accept", "application/octet-stream"),)),
            "crash": request(api("/crash")),
            "timeout": request(api("/sleep"), query="s=3"),
            "hello": request(api("/hello")),
        }.items():
            out[name] = await gateway.handle(req)
        await workers.close()
        return out

    out = asyncio.run(scenario())
    echo = out["echo"].json()
    APIGatewayProxyEventModel.model_validate(echo["event"])
    assert echo["body"] == "payload"
    assert echo["event"]["pathParameters"] == {"id": "42"}
    assert echo["event"]["queryStringParameters"] == {"q": "1"}
    assert out["raw"].status == 201
    assert [v for k, v in out["raw"].headers if k == "Set-Cookie"] == ["a=1", "b=2", "c=3"]
    assert out["binary"].body == bytes(range(256))
    assert [out[k].status for k in ("bad", "crash", "timeout")] == [502, 502, 502]
    assert out["hello"].json() == {"hello": "world", "version": "v1"}
    assert json.loads(out["crash"].body) == {"message": "Internal server error"}


def test_request_ids_are_random_version_4_uuids() -> None:
    ids = [random_request_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:50]:
        parsed = uuid.UUID(text)
        assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)
