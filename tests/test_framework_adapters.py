"""teal's ASGI and WSGI adapters on proxy events, beside Mangum (and a2wsgi for WSGI).

The same FastAPI and Flask apps answer the same events through teal's own
adapters and through Mangum, and the responses are read back as API Gateway
reads them (``parse_proxy_response``). Where both agree, teal's adapter is
as good as the well-kept library; the tests at the end show the two places
where teal's is more faithful, and why it is the one teal ships: the app's
lifespan starts once per execution environment (Mangum starts and stops it
around every request), and URLs the app builds carry the stage or the
domain's base path (Mangum mounts every app at ``/``).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import warnings
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import flask
import pytest
from a2wsgi import WSGIMiddleware
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response, StreamingResponse
from mangum import Mangum

from proxy_event_samples import proxy_event
from teal import App
from teal.project.package import build_package
from teal.rules.proxy_events import ProxyResponse, parse_proxy_response
from teal.runtime.asgi import AsgiAdapter, LifespanFailed
from teal.runtime.exchange import LOCAL_CLOUD_VARIABLE, LOCAL_ENDPOINT_PREFIX, mount_point
from teal.runtime.frameworks import kind_of
from teal.runtime.wsgi import WsgiAdapter

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01"
Served = Callable[[dict[str, Any]], ProxyResponse]


def fastapi_app(starts: list[str]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        starts.append("started")
        yield {"greeting": "hello"}
        starts.append("stopped")

    app = FastAPI(lifespan=lifespan)

    @app.get("/items/{item_id}", name="item")
    def item(
        item_id: int, request: Request, tag: Annotated[list[str] | None, Query()] = None
    ) -> Any:
        return {
            "id": item_id,
            "tags": tag or [],
            "url": str(request.url_for("item", item_id=7)),
            "greeting": request.state.greeting,
            "session": request.cookies.get("session"),
        }

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        body = await request.body()
        return Response(body[::-1], media_type=request.headers.get("content-type"))

    @app.get("/cookies")
    def cookies(response: Response) -> dict[str, bool]:
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return {"ok": True}

    @app.get("/image")
    def image() -> Response:
        return Response(PNG, media_type="image/png")

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"one,", b"two,", b"three"]), media_type="text/plain")

    return app


def flask_app() -> flask.Flask:
    app = flask.Flask("adapters")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> Any:
        return {
            "id": item_id,
            "tags": flask.request.args.getlist("tag"),
            "url": flask.url_for("item", item_id=7, _external=True),
            "session": flask.request.cookies.get("session"),
        }

    @app.post("/echo")
    def echo() -> flask.Response:
        body = flask.request.get_data()[::-1]
        return flask.Response(body, content_type=flask.request.content_type)

    @app.get("/cookies")
    def cookies() -> flask.Response:
        response = flask.jsonify(ok=True)
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    @app.get("/image")
    def image() -> flask.Response:
        return flask.Response(PNG, content_type="image/png")

    @app.get("/broken")
    def broken() -> str:
        raise RuntimeError("secret detail")

    return app


_opened: list[AsgiAdapter] = []


def teal_asgi(app: Any) -> AsgiAdapter:
    """teal's ASGI adapter, closed when the test ends (as no function's ever is)."""
    adapter = AsgiAdapter(app)
    _opened.append(adapter)
    return adapter


@pytest.fixture(autouse=True)
def _close_adapters() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def through(adapter: Callable[[dict[str, Any], Any], dict[str, Any]]) -> Served:
    return lambda event: parse_proxy_response(adapter(event, None))


# (app, adapter): each app through teal's adapter and through Mangum (a2wsgi for WSGI)
SERVINGS = [("asgi", "teal"), ("asgi", "mangum"), ("wsgi", "teal"), ("wsgi", "mangum")]


def serving(app: str, adapter: str) -> Served:
    if app == "asgi":
        fastapi = fastapi_app([])
        return through(teal_asgi(fastapi) if adapter == "teal" else Mangum(fastapi))
    flask_ = flask_app()
    if adapter == "teal":
        return through(WsgiAdapter(flask_))
    return through(Mangum(WSGIMiddleware(flask_), lifespan="off"))  # type: ignore[arg-type]


@pytest.fixture(params=SERVINGS, ids=["-".join(s) for s in SERVINGS])
def served(request: pytest.FixtureRequest) -> Served:
    return serving(*request.param)


def header_values(response: ProxyResponse, name: str) -> list[str]:
    return [value for key, value in response.headers if key.lower() == name]


def body_json(response: ProxyResponse) -> Any:
    return json.loads(response.body)


# ---------------------------------------------------------------- both adapters agree


def test_repeated_query_keys_reach_the_app(served: Served) -> None:
    event = proxy_event(
        "/items/{item_id}",
        "/items/3",
        path_params={"item_id": "3"},
        query=[("tag", "a"), ("tag", "b c"), ("other", "x")],
    )
    response = served(event)
    assert response.status == 200
    assert body_json(response)["tags"] == ["a", "b c"]


def test_cookies_both_ways(served: Served) -> None:
    host = ("Host", "abc123.execute-api.us-east-1.amazonaws.com")
    sent = proxy_event(
        "/items/{item_id}",
        "/items/3",
        path_params={"item_id": "3"},
        headers=[host, ("Cookie", "session=s3cr3t; theme=dark")],
    )
    assert body_json(served(sent))["session"] == "s3cr3t"
    response = served(proxy_event("/cookies", "/cookies"))
    cookies = header_values(response, "set-cookie")
    assert [c.split(";")[0] for c in cookies] == ["a=1", "b=2"]


def test_binary_response_arrives_byte_for_byte(served: Served) -> None:
    response = served(proxy_event("/image", "/image"))
    assert response.status == 200
    assert response.body == PNG
    assert header_values(response, "content-type") == ["image/png"]


@pytest.mark.parametrize(
    ("body", "content_type", "binary"),
    [
        ('{"name": "caf\u00e9"}', "application/json", False),
        (PNG, "application/octet-stream", True),
    ],
)
def test_request_bodies_reach_the_app(
    served: Served, body: str | bytes, content_type: str, binary: bool
) -> None:
    host = ("Host", "abc123.execute-api.us-east-1.amazonaws.com")
    raw = body if isinstance(body, bytes) else body.encode()
    headers = [host, ("Content-Type", content_type), ("Content-Length", str(len(raw)))]
    event = proxy_event("/echo", "/echo", "POST", headers=headers, body=body, binary=binary)
    response = served(event)
    assert (response.status, response.body) == (200, raw[::-1])


@pytest.mark.parametrize("adapter", ["teal", "mangum"])
def test_fastapi_errors_pass_through_untouched(adapter: str) -> None:
    asgi = serving("asgi", adapter)
    with warnings.catch_warnings():  # starlette's test client frowns on this httpx
        warnings.filterwarnings("ignore", message=".*httpx")
        from fastapi.testclient import TestClient

        reference = TestClient(fastapi_app([]))
    for event, path in [
        (proxy_event("/items/{item_id}", "/items/x", path_params={"item_id": "x"}), "/items/x"),
        (proxy_event("/{proxy+}", "/nowhere", path_params={"proxy": "nowhere"}), "/nowhere"),
    ]:
        expected = reference.get(path)
        response = asgi(event)
        assert response.status == expected.status_code in (404, 422)
        assert response.body == expected.content
        assert header_values(response, "content-type") == [expected.headers["content-type"]]


@pytest.mark.parametrize("adapter", ["teal", "mangum"])
def test_flask_errors_pass_through_untouched(adapter: str) -> None:
    wsgi = serving("wsgi", adapter)
    reference = flask_app().test_client()
    for path in ("/items/x", "/nowhere"):
        expected = reference.get(path)
        response = wsgi(proxy_event("/{proxy+}", path, path_params={"proxy": path[1:]}))
        assert (response.status, response.body) == (404, expected.data)
    crashed = wsgi(proxy_event("/broken", "/broken"))
    assert crashed.status == 500 and b"secret detail" not in crashed.body


# ---------------------------------------------------------------- where teal's adapter is needed


def test_lifespan_starts_once_per_environment_with_teal_and_per_request_with_mangum() -> None:
    starts: list[str] = []
    adapter = teal_asgi(fastapi_app(starts))
    event = proxy_event("/items/{item_id}", "/items/3", path_params={"item_id": "3"})
    for _ in range(3):
        assert body_json(through(adapter)(event))["greeting"] == "hello"
    assert starts == ["started"]

    per_request: list[str] = []
    mangum = Mangum(fastapi_app(per_request), lifespan="auto")
    for _ in range(3):
        mangum(event, None)  # type: ignore[arg-type]
    assert per_request == ["started", "stopped"] * 3


def item_url(served: Served, event: dict[str, Any]) -> str:
    return str(body_json(served(event))["url"])


def domain_event(base_path: str, host: str = "api.example.com") -> dict[str, Any]:
    """A request through a custom domain: the path and the context's path hold the base path."""
    path = f"{base_path}/items/3"
    event = proxy_event(
        "/items/{item_id}", path, path_params={"item_id": "3"}, headers=[("Host", host)]
    )
    event["requestContext"].update(path=path, domainName=host)
    return event


@pytest.mark.parametrize("app", ["asgi", "wsgi"])
def test_urls_the_app_builds_work_where_the_request_came_from(
    app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LOCAL_CLOUD_VARIABLE, raising=False)
    served = through(teal_asgi(fastapi_app([])) if app == "asgi" else WsgiAdapter(flask_app()))
    endpoint = proxy_event("/items/{item_id}", "/items/3", path_params={"item_id": "3"})
    host = "https://abc123.execute-api.us-east-1.amazonaws.com"
    assert item_url(served, endpoint) == f"{host}/dev/items/7"
    assert item_url(served, domain_event("")) == "https://api.example.com/items/7"
    assert item_url(served, domain_event("/v1")) == "https://api.example.com/v1/items/7"
    assert item_url(served, domain_event("/shop/v2")) == "https://api.example.com/shop/v2/items/7"

    monkeypatch.setenv(LOCAL_CLOUD_VARIABLE, "arn:aws:lambda:local:000000000000:function:x")
    local = proxy_event(
        "/items/{item_id}",
        "/items/3",
        path_params={"item_id": "3"},
        headers=[("Host", "127.0.0.1:4510")],
    )
    assert item_url(served, local) == (
        "http://127.0.0.1:4510/restapis/abc123/dev/_user_request_/items/7"
    )


@pytest.mark.parametrize("app", ["asgi", "wsgi"])
def test_mangum_builds_urls_without_the_stage_or_the_base_path(app: str) -> None:
    target: Any = fastapi_app([]) if app == "asgi" else WSGIMiddleware(flask_app())
    served = through(Mangum(target, lifespan="auto" if app == "asgi" else "off"))
    endpoint = proxy_event("/items/{item_id}", "/items/3", path_params={"item_id": "3"})
    assert (
        item_url(served, endpoint) == "https://abc123.execute-api.us-east-1.amazonaws.com/items/7"
    )
    assert served(domain_event("/v1")).status == 404  # the base path reaches the app's routing


# ---------------------------------------------------------------- teal's adapters alone


def test_a_streaming_response_is_gathered_whole() -> None:
    response = through(teal_asgi(fastapi_app([])))(proxy_event("/stream", "/stream"))
    assert (response.status, response.body) == (200, b"one,two,three")


def test_head_answers_without_a_body() -> None:
    adapter = WsgiAdapter(flask_app())
    result = adapter(proxy_event("/cookies", "/cookies", "HEAD"), None)
    assert result["statusCode"] == 200 and result["body"] == ""


def test_a_failed_lifespan_startup_fails_the_environment() -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    with pytest.raises(LifespanFailed, match="no database"):
        AsgiAdapter(FastAPI(lifespan=lifespan))


def test_a_bare_asgi_callable_without_lifespan_serves() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "only http"
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    result = teal_asgi(app)(proxy_event("/x", "/x"), None)
    assert (result["statusCode"], result["body"]) == (201, "/dev/x")


def test_an_app_that_fails_before_answering_gets_a_500() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raise RuntimeError("secret detail")

    result = teal_asgi(app)(proxy_event("/x", "/x"), None)
    assert result["statusCode"] == 500 and "secret" not in result["body"]


def test_undecodable_bodies_travel_base64_and_text_as_text() -> None:
    served = WsgiAdapter(flask_app())
    image = served(proxy_event("/image", "/image"), None)
    assert image["isBase64Encoded"] is True
    assert base64.b64decode(image["body"]) == PNG
    cookies = served(proxy_event("/cookies", "/cookies"), None)
    assert cookies["isBase64Encoded"] is False and json.loads(cookies["body"]) == {"ok": True}


# ---------------------------------------------------------------- where the app is mounted


@pytest.mark.parametrize(
    ("resource", "path", "params", "context_path", "local", "expected"),
    [
        ("/items/{id}", "/items/3", {"id": "3"}, "/dev/items/3", False, ("/dev", "/items/3")),
        ("/items/{id}", "/items/3/", {"id": "3"}, "/dev/items/3/", False, ("/dev", "/items/3/")),
        ("/", "/", None, "/dev/", False, ("/dev", "/")),
        (
            "/items/{id}",
            "/items/3",
            {"id": "3"},
            "/dev/items/3",
            True,
            ("/restapis/abc123/dev/_user_request_", "/items/3"),
        ),
        ("/items/{id}", "/items/3", {"id": "3"}, "/items/3", False, ("", "/items/3")),
        ("/items/{id}", "/v1/items/3", {"id": "3"}, "/v1/items/3", False, ("/v1", "/items/3")),
        ("/", "/v1", None, "/v1", False, ("/v1", "/")),
        ("/", "/v1/", None, "/v1/", False, ("/v1", "/")),
        (
            "/files/{p+}",
            "/a/b/files/x/y/z",
            {"p": "x/y/z"},
            "/a/b/files/x/y/z",
            False,
            ("/a/b", "/files/x/y/z"),
        ),
        # the stage's name as a base path: still the domain's road (the paths are equal)
        ("/items", "/dev/items", None, "/dev/items", False, ("/dev", "/items")),
    ],
)
def test_mount_point(
    resource: str,
    path: str,
    params: dict[str, str] | None,
    context_path: str,
    local: bool,
    expected: tuple[str, str],
) -> None:
    event = proxy_event(resource, path, path_params=params)
    event["requestContext"]["path"] = context_path
    assert mount_point(event, local=local) == expected


# ---------------------------------------------------------------- what an entry names


async def bare_asgi(scope: Any, receive: Any, send: Any) -> None:
    return None


def bare_wsgi(environ: Any, start_response: Any) -> list[bytes]:
    return []


class Handler:
    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        return []


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        (App(), "teal"),
        (FastAPI(), "asgi"),
        (bare_asgi, "asgi"),
        (flask.Flask("kinds"), "wsgi"),
        (bare_wsgi, "wsgi"),
        (Handler(), "wsgi"),
        (Handler, None),  # the class, not an app
        (3, None),
        (None, None),
        (lambda: None, None),
    ],
)
def test_what_an_entry_names(target: Any, kind: str | None) -> None:
    assert kind_of(target) == kind


WSGI_APP = """\
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", "a=1"),
                              ("Set-Cookie", "b=2")])
    return [environ["SCRIPT_NAME"].encode(), b" ", environ["PATH_INFO"].encode()]
"""


def test_a_package_serves_a_wsgi_app_with_nothing_installed(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    """The zip alone, in an isolated interpreter: the adapters are part of teal's runtime."""
    package = build_package(make_project(WSGI_APP))
    assert "teal/runtime/wsgi.py" in package.files
    assert "teal/project/framework_routes.py" not in package.files  # for reading, not serving
    code = tmp_path / "task"
    zipfile.ZipFile(io.BytesIO(package.data)).extractall(code)
    event = proxy_event("/{proxy+}", "/hello/ana", path_params={"proxy": "hello/ana"})
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from teal.runtime.entry import handler;"
        "print(json.dumps(handler(json.loads(sys.argv[2]), None)))"
    )
    env = {"TEAL_ENTRY": "app:app", "TEAL_ENVIRONMENT": "demo-dev", "PATH": os.environ["PATH"]}
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(code), json.dumps(event)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    response = json.loads(done.stdout)
    assert response["body"] == "/dev /hello/ana"
    assert response["multiValueHeaders"]["Set-Cookie"] == ["a=1", "b=2"]
    assert response["headers"] == {"X-Teal-Environment": "demo-dev"}


def test_the_adapters_know_the_local_cloud_as_it_is(tmp_path: Path) -> None:
    """The local endpoint's prefix and the variable that says a function runs locally are
    the gateway's and the workers' own (the runtime cannot import them)."""
    from teal.cloud.local.functions.workers import LogStream, worker_environment
    from teal.cloud.local.gateway.handler import API_PREFIX, USER_REQUEST
    from teal.cloud.local.model import FunctionSpec

    assert f"{API_PREFIX}{{api_id}}/{{stage}}/{USER_REQUEST}" == LOCAL_ENDPOINT_PREFIX
    arn = "arn:aws:lambda:us-east-1:000000000000:function:demo-dev-app"
    spec = FunctionSpec("demo-dev-app", arn, "0" * 64, "code/x.zip", "h.h", "python3.11", 128, 3)
    log = LogStream("/aws/lambda/demo-dev-app", "stream", tmp_path / "log")
    assert worker_environment(spec, tmp_path, log)[LOCAL_CLOUD_VARIABLE] == arn
