"""A framework's routes read into API Gateway's form: the readers on their own, on apps
built here, and ``teal routes`` on the framework apps as a user runs it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Host, Route, WebSocketRoute
from werkzeug.routing import BaseConverter

from e2e import Run
from framework_projects import APPS, copy_app
from teal.project import framework_routes as reader
from teal.project.framework_routes import ONE, OPAQUE, REST, STATIC, Part


def table(found: list[dict[str, Any]] | None) -> dict[str, list[str]]:
    assert found is not None
    return {route["path"]: route["methods"] for route in found}


def text(request: Any) -> PlainTextResponse:
    return PlainTextResponse("x")


# ---------------------------------------------------------------- paths


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([], ("/", False)),
        ([Part("items", STATIC), Part("id", ONE)], ("/items/{id}", False)),
        ([Part("files", STATIC), Part("p", REST)], ("/files/{p+}", False)),
        # a greedy parameter before the end: a stand-in from there on
        ([Part("a", STATIC), Part("p", REST), Part("b", STATIC)], ("/a/{proxy+}", True)),
        ([Part("a", STATIC), Part("x-{id}.txt", OPAQUE)], ("/a/{proxy+}", True)),
        ([Part("caf\u00e9", STATIC)], ("/{proxy+}", True)),  # API Gateway takes no such part
    ],
)
def test_resource_paths(parts: list[Part], expected: tuple[str, bool]) -> None:
    assert reader.resource_path(parts) == expected


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        (r"^archive/(?P<year>[0-9]{4})/$", "/archive/{year}"),
        (r"^users/(?P<name>[^/]+)/posts/(?P<pk>\d+)$", "/users/{name}/posts/{pk}"),
        (r"^docs/(?P<rest>.*)$", "/docs/{rest+}"),
        (r"^v1\.0/status/$", "/v1.0/status"),
        (r"^(?:en|fr)/about/$", "/{proxy+}"),
        (r"^shop/items-(?P<id>\d+)/$", "/shop/{proxy+}"),
        (r"^shop/(?P<a>\d+)?/$", "/shop/{proxy+}"),
        (r"^blog/", "/blog/{proxy+}"),  # not anchored: any path that starts so
    ],
)
def test_django_regular_expressions(regex: str, expected: str) -> None:
    parts = reader._regex_parts(regex, endpoint=True)
    assert reader.resource_path(parts)[0] == expected


# ---------------------------------------------------------------- Starlette and FastAPI


def test_fastapi_routers_mounts_and_converters() -> None:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    items = APIRouter(prefix="/items")
    items.add_api_route("/", lambda: [], methods=["GET", "POST"])
    items.add_api_route("/{item_id:int}", lambda item_id: {}, methods=["GET"])
    items.add_api_route("/{item_id}", lambda item_id: {}, methods=["PUT", "PATCH"])
    nested = APIRouter(prefix="/{item_id}/tags")
    nested.add_api_route("/{tag}", lambda item_id, tag: {}, methods=["DELETE"])
    items.include_router(nested)
    app.include_router(items)
    app.add_api_route("/files/{p:path}", lambda p: p, methods=["GET"])
    sub = Starlette(routes=[Route("/hello/{name}", text), WebSocketRoute("/ws", text)])
    app.mount("/sub", sub)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent), name="static")
    app.mount("/legacy", PlainTextResponse("a mounted ASGI app without routes"))

    found = reader.starlette_routes(app)
    assert found is not None
    assert [(r["path"], r["methods"]) for r in found] == [
        ("/items", ["GET", "POST"]),
        ("/items/{item_id}", ["GET"]),
        ("/items/{item_id}", ["PATCH", "PUT"]),  # one resource in the end (teal.project.loader)
        ("/items/{item_id}/tags/{tag}", ["DELETE"]),
        ("/files/{p+}", ["GET"]),
        ("/sub/hello/{name}", ["GET", "HEAD"]),  # Starlette adds HEAD to GET, FastAPI does not
        ("/static/{proxy+}", ["GET", "HEAD"]),
        ("/legacy", ["ANY"]),
        ("/legacy/{proxy+}", ["ANY"]),
    ]
    assert found[1]["source"] == "route GET /items/{item_id:int}"
    assert found[5]["source"] == "route GET|HEAD /sub/hello/{name}"


def test_routes_are_found_inside_middleware_and_hosts() -> None:
    inner = Starlette(routes=[Host("api.example.com", app=Starlette(routes=[Route("/a", text)]))])
    wrapped = CORSMiddleware(inner, allow_origins=["*"])
    assert table(reader.starlette_routes(wrapped)) == {"/a": ["GET", "HEAD"]}


def test_a_bare_asgi_callable_has_no_route_table() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    assert reader.starlette_routes(app) is None


def test_500_fastapi_routes_are_read_in_well_under_a_second() -> None:
    app = FastAPI()
    for index in range(500):
        app.add_api_route(f"/r{index}/{{item_id:int}}", lambda item_id: {}, methods=["GET"])
    started = time.perf_counter()
    found = reader.starlette_routes(app)
    elapsed = time.perf_counter() - started
    assert found is not None and len(found) >= 500
    assert elapsed < 1.0, f"{elapsed:.3f} s"


# ---------------------------------------------------------------- Flask


def test_flask_blueprints_converters_and_slashes() -> None:
    class Year(BaseConverter):
        regex = r"\d{4}"

    class Anything(BaseConverter):
        regex = r".+"
        part_isolating = False

    app = flask.Flask("routes")
    app.url_map.converters.update(year=Year, anything=Anything)
    shop = flask.Blueprint("shop", "routes", url_prefix="/shop")
    shop.add_url_rule("/", "index", lambda: "", methods=["GET", "POST"])
    shop.add_url_rule("/<int:uid>", "user", lambda uid: "", methods=["GET", "DELETE"])
    shop.add_url_rule("/<int:uid>/files/<path:p>", "files", lambda uid, p: "")
    shop.add_url_rule("/archive/<year:y>", "archive", lambda y: "")
    shop.add_url_rule("/raw/<anything:rest>", "raw", lambda rest: "")
    shop.add_url_rule("/report-<int:y>.csv", "report", lambda y: "")
    app.register_blueprint(shop)

    found = table(reader.flask_routes(app))
    assert found == {
        "/static/{filename+}": ["GET", "HEAD", "OPTIONS"],
        "/shop": ["GET", "HEAD", "OPTIONS", "POST"],
        "/shop/{uid}": ["DELETE", "GET", "HEAD", "OPTIONS"],
        "/shop/{uid}/files/{p+}": ["GET", "HEAD", "OPTIONS"],
        "/shop/archive/{y}": ["GET", "HEAD", "OPTIONS"],
        "/shop/raw/{rest+}": ["GET", "HEAD", "OPTIONS"],
        "/shop/{proxy+}": ["GET", "HEAD", "OPTIONS"],
    }


# ---------------------------------------------------------------- teal routes


def routes_of(project: Path, teal_cli: Callable[..., Run]) -> Run:
    return teal_cli("routes", "--json", "--project", str(project))


def test_teal_routes_reads_a_fastapi_app(tmp_path: Path, teal_cli: Callable[..., Run]) -> None:
    result = routes_of(copy_app("fastapi_app", tmp_path), teal_cli)
    assert result.code == 0, result.err
    out = result.json()
    assert (out["kind"], out["framework"], out["api"], out["notes"]) == (
        "asgi",
        "fastapi",
        "routes",
        [],
    )
    found = {r["path"]: r for r in out["routes"]}
    assert found["/posts/{post_id}"]["methods"] == ["DELETE", "GET"]
    assert found["/posts/{post_id}"]["handler"] == "main.show_post"
    assert found["/posts/{post_id}"]["source"] == "FastAPI route GET /posts/{post_id}"
    assert found["/users/{user_id}/files/{path+}"]["methods"] == ["GET"]
    assert found["/static/{proxy+}"]["methods"] == ["GET", "HEAD"]
    assert {r["function"] for r in out["routes"]} == {"app"}
    assert (
        "a FastAPI app (ASGI)" in teal_cli("routes", "--project", str(tmp_path / "fastapi_app")).err
    )


def test_teal_routes_reads_a_flask_app(tmp_path: Path, teal_cli: Callable[..., Run]) -> None:
    result = routes_of(copy_app("flask_app", tmp_path), teal_cli)
    assert result.code == 0, result.err
    out = result.json()
    assert (out["kind"], out["framework"]) == ("wsgi", "flask")
    assert [r["path"] for r in out["routes"]] == [
        "/health",
        "/notes",
        "/notes/{note_id}",
        "/static/{filename+}",
        "/users/{user_id}",
        "/users/{user_id}/docs/{name+}",
    ]


def test_teal_routes_reads_a_django_app(tmp_path: Path, teal_cli: Callable[..., Run]) -> None:
    result = routes_of(copy_app("django_app", tmp_path), teal_cli)
    assert result.code == 0, result.err
    out = result.json()
    assert (out["kind"], out["framework"]) == ("wsgi", "django")
    assert {r["path"]: r["methods"] for r in out["routes"]} == {
        "/articles": ["ANY"],
        "/articles/archive/{year}": ["ANY"],
        "/articles/{article_id}": ["ANY"],
        "/articles/{article_id}/files/{name+}": ["ANY"],
        "/health": ["ANY"],
        "/pages/{proxy+}": ["ANY"],
    }
    assert out["notes"] == [
        "Django route '^pages/(?:en|fr)/about/$' cannot be expressed as API Gateway "
        "resources: it is served through /pages/{proxy+}, and Django routes the requests"
    ]
    assert "warning: Django route '^pages/(?:en|fr)/about/$'" in result.err


def add_to_app_section(project: Path, line: str) -> None:
    toml = project / "teal.toml"
    toml.write_text(toml.read_text().replace("[app]\n", f"[app]\n{line}\n", 1))


def test_api_proxy_serves_the_whole_app_through_one_greedy_resource(
    tmp_path: Path, teal_cli: Callable[..., Run]
) -> None:
    project = copy_app("flask_app", tmp_path)
    add_to_app_section(project, 'api = "proxy"')
    out = routes_of(project, teal_cli).json()
    assert (out["api"], out["notes"]) == ("proxy", [])
    assert [(r["path"], r["methods"], r["function"]) for r in out["routes"]] == [
        ("/", ["ANY"], "app"),
        ("/{proxy+}", ["ANY"], "app"),
    ]


BARE_ASGI = """\
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"bare"})
"""


def test_an_app_without_a_readable_route_table_falls_back_to_proxy_and_says_so(
    make_project: Callable[..., Path], teal_cli: Callable[..., Run]
) -> None:
    result = routes_of(make_project(BARE_ASGI), teal_cli)
    assert result.code == 0, result.err
    out = result.json()
    assert (out["kind"], out["api"]) == ("asgi", "proxy")
    assert [r["path"] for r in out["routes"]] == ["/", "/{proxy+}"]
    assert "served through the greedy resources / and /{proxy+}" in out["notes"][0]
    assert 'set [app] api = "proxy"' in result.err


def test_api_proxy_is_refused_for_a_teal_app(
    make_project: Callable[..., Path], teal_cli: Callable[..., Run]
) -> None:
    root = make_project(
        "from teal import App\napp = App()\n@app.route('/a')\ndef a(request):\n    return 'a'\n"
    )
    add_to_app_section(root, 'api = "proxy"')
    result = routes_of(root, teal_cli)
    assert result.code == 2
    assert 'teal.toml [app] api: [app] api = "proxy" is for ASGI and WSGI apps' in result.err


CONFLICTING = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/items/{item_id}")
def show(item_id: int):
    return {}


@app.get("/items/{name}/tags")
def tags(name: str):
    return {}
"""


def test_api_gateway_rules_name_the_framework_routes(
    make_project: Callable[..., Path], teal_cli: Callable[..., Run]
) -> None:
    root = make_project(CONFLICTING)
    (root / "requirements.txt").write_text((APPS / "fastapi_app" / "requirements.txt").read_text())
    result = routes_of(root, teal_cli)
    assert result.code == 2
    assert (
        "routes '/items/{item_id}' (from FastAPI route GET /items/{item_id}) and "
        "'/items/{name}/tags' (from FastAPI route GET /items/{name}/tags) put two different "
        "variables, {item_id} and {name}, under /items"
    ) in result.err
    assert 'or set [app] api = "proxy" in teal.toml' in result.err
    line = CONFLICTING.splitlines().index('@app.get("/items/{name}/tags")') + 1
    assert result.json()["error"]["where"] == (
        f"{root / 'app.py'}:{line} (route '/items/{{name}}/tags' "
        "(from FastAPI route GET /items/{name}/tags), handler app:tags)"
    )


def test_a_framework_missing_from_the_requirements_is_named(
    make_project: Callable[..., Path], teal_cli: Callable[..., Run]
) -> None:
    result = routes_of(make_project(CONFLICTING), teal_cli)
    assert result.code == 2
    assert "add fastapi to requirements.txt" in result.err


def test_a_framework_app_without_routes_is_told_about_proxy(
    make_project: Callable[..., Path], teal_cli: Callable[..., Run]
) -> None:
    root = make_project("from flask import Flask\napp = Flask(__name__, static_folder=None)\n")
    (root / "requirements.txt").write_text((APPS / "flask_app" / "requirements.txt").read_text())
    result = routes_of(root, teal_cli)
    assert result.code == 2
    assert "app:app has no routes" in result.err and 'api = "proxy"' in result.err
