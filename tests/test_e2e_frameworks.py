"""FastAPI, Flask and Django apps end to end, through the CLI and a private local cloud.

Each app (``tests/framework_apps``) is deployed as a user would deploy it;
then every route of its table answers through the API's endpoint and through
the custom domain (with a base path or at its root), an unknown path gets API
Gateway's own 403, the URLs the framework builds lead back to the app, and a
renamed path parameter replaces the API behind the domain while a steady
client sees no failed request.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import random
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import run_teal_subprocess
from e2e import LocalCloudEnv, SteadyClient, free_port
from framework_projects import cloud_for

MISSING_TOKEN = (403, b'{"message":"Missing Authentication Token"}')
ORIGIN = "https://app.example.com"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01"


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None  # a redirect is an answer the tests look at


_opener = urllib.request.build_opener(_NoRedirects)


def call(
    url: str,
    method: str = "GET",
    body: Any = None,
    accept: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if accept is not None:  # API Gateway decodes a binary answer for an Accept that asks
        request.add_header("Accept", accept)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _opener.open(request, timeout=30) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read())


def deployed(cloud: LocalCloudEnv) -> tuple[str, str]:
    """Deploy the app; its endpoint and its domain's URL (each ending in '/')."""
    out = cloud.teal_ok("deploy", "--json").json()
    return out["endpoint"], out["domain"]["url"]


def routes_of(cloud: LocalCloudEnv) -> dict[str, Any]:
    out: dict[str, Any] = cloud.teal_ok("routes", "--json").json()
    return out


def assert_every_route_is_tried(cloud: LocalCloudEnv, tried: set[str]) -> None:
    """The requests below cover the whole route table (a new route needs a request)."""
    assert {route["path"] for route in routes_of(cloud)["routes"]} == tried


def cloud_fixture(name: str, tmp_path: Path) -> Iterator[LocalCloudEnv]:
    cloud = cloud_for(name, tmp_path)
    yield cloud
    cloud.teal("local", "stop")


@pytest.fixture
def fastapi_cloud(tmp_path: Path) -> Iterator[LocalCloudEnv]:
    yield from cloud_fixture("fastapi_app", tmp_path)


@pytest.fixture
def flask_cloud(tmp_path: Path) -> Iterator[LocalCloudEnv]:
    yield from cloud_fixture("flask_app", tmp_path)


@pytest.fixture
def django_cloud(tmp_path: Path) -> Iterator[LocalCloudEnv]:
    yield from cloud_fixture("django_app", tmp_path)


# ---------------------------------------------------------------- FastAPI


def test_fastapi_app_answers_through_the_endpoint_and_the_domain(
    fastapi_cloud: LocalCloudEnv,
) -> None:
    endpoint, domain = deployed(fastapi_cloud)
    assert domain.endswith("/v1/")
    for base in (endpoint, domain):
        check_fastapi_routes(base)
    assert_every_route_is_tried(
        fastapi_cloud,
        {
            "/health",
            "/lifespan",
            "/session",
            "/posts",
            "/posts/{post_id}",
            "/uploads",
            "/users/{user_id}/avatar",
            "/users/{user_id}/files/{path+}",
            "/static/{proxy+}",
            "/docs",
            "/docs/oauth2-redirect",
            "/openapi.json",
            "/redoc",
        },
    )
    checked = fastapi_cloud.teal_ok("check", "--json").json()
    assert checked["ok"] is True


def check_fastapi_routes(base: str) -> None:
    assert call(base + "health").json() == {"status": "ok", "version": "1"}
    assert call(base + "posts?tag=a&tag=b%20c").json() == {"posts": [], "tags": ["a", "b c"]}
    created = call(base + "posts", "POST", {"title": "hi"})
    assert (created.status, created.json()) == (201, {"created": {"title": "hi"}})
    shown = call(base + "posts/3").json()
    assert shown["url"] == base + "posts/3"  # request.url_for, as the client sees the API
    assert call(shown["url"]).json()["id"] == 3
    assert call(base + "posts/3", "DELETE").status == 204
    invalid = call(base + "posts/three")
    assert invalid.status == 422 and invalid.json()["detail"][0]["loc"] == ["path", "post_id"]
    avatar = call(base + "users/5/avatar", accept="image/png")
    assert (avatar.body, avatar.headers["Content-Type"]) == (PNG, "image/png")
    assert call(base + "users/5/files/a/b.txt").json() == {"user": 5, "path": "a/b.txt"}
    assert call(base + "static/site.css").body == b"body { color: teal; }\n"
    cookies = call(base + "session").headers.get_all("Set-Cookie") or []
    assert [c.split(";")[0] for c in cookies] == ["session=s1", "theme=dark"]
    assert call(base + "lifespan").json()["greeting"] == "hello"
    for page in ("docs", "docs/oauth2-redirect", "openapi.json", "redoc"):
        assert call(base + page).status == 200, page
    assert (call(base + "nowhere").status, call(base + "nowhere").body) == MISSING_TOKEN
    assert (call(base + "posts/3/nope").status, call(base + "posts/3/nope").body) == MISSING_TOKEN
    check_fastapi_preflights(base)
    check_fastapi_binary_upload(base)


def check_fastapi_binary_upload(base: str) -> None:
    """A multipart upload of random bytes reaches the app intact (the API lists
    multipart/form-data among its binary media types)."""
    data = random.Random(7).randbytes(3000)
    boundary = "teal-upload-boundary"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="blob.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        base + "uploads",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        files = json.loads(response.read())["files"]
    assert files == [{"size": 3000, "sha256": hashlib.sha256(data).hexdigest()}]


def check_fastapi_preflights(base: str) -> None:
    """CORSMiddleware answers the browser's preflights: they reach the app."""
    for path in ("health", "posts", "posts/3"):
        preflight = call(
            base + path,
            "OPTIONS",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status == 200, (path, preflight.body)
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in preflight.headers["access-control-allow-methods"]
    simple = call(base + "health", headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN


def test_fastapi_lifespan_starts_once_per_worker(fastapi_cloud: LocalCloudEnv) -> None:
    endpoint, _ = deployed(fastapi_cloud)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: call(endpoint + "lifespan").json(), range(24)))
    for answer in answers:
        assert answer["starts"] == 1, answers  # each worker started its app once
    assert len({a["pid"] for a in answers}) < len(answers)  # and served several requests


def test_fastapi_parameter_rename_replaces_the_api_with_no_failed_request(
    fastapi_cloud: LocalCloudEnv,
) -> None:
    endpoint, domain = deployed(fastapi_cloud)
    app = fastapi_cloud.project / "main.py"
    app.write_text(
        app.read_text().replace("post_id", "pid").replace('VERSION = "1"', 'VERSION = "2"')
    )
    assert_replaced_without_failures(fastapi_cloud, endpoint, domain, "posts/3", "/posts/{pid}")


def assert_replaced_without_failures(
    cloud: LocalCloudEnv, endpoint: str, domain: str, item: str, new_path: str
) -> None:
    plan = cloud.teal_ok("plan", "--json").json()
    assert plan["api"]["replace"] is True
    assert plan["api"]["reasons"], plan
    with SteadyClient(domain + item) as client:
        out = cloud.teal_ok("deploy", "--json").json()
    assert out["api_replaced"] is True and out["endpoint"] != endpoint
    assert client.sent > 5 and client.failures == []
    assert {json.loads(b)["version"] for b in client.bodies} <= {"1", "2"}
    for base in (out["endpoint"], domain):
        answer = call(base + item).json()
        assert answer["version"] == "2" and answer["url"] == base + item
    assert new_path in [r["path"] for r in routes_of(cloud)["routes"]]


# ---------------------------------------------------------------- Flask


def test_flask_app_answers_through_the_endpoint_and_the_domain(flask_cloud: LocalCloudEnv) -> None:
    endpoint, domain = deployed(flask_cloud)
    assert urlsplit(domain).path == "/"  # the domain's root mapping
    for base in (endpoint, domain):
        check_flask_routes(base)
    assert_every_route_is_tried(
        flask_cloud,
        {
            "/health",
            "/notes",
            "/notes/{note_id}",
            "/users/{user_id}",
            "/users/{user_id}/docs/{name+}",
            "/static/{filename+}",
        },
    )


def check_flask_routes(base: str) -> None:
    assert call(base + "health").json() == {"status": "ok", "version": "1"}
    head = call(base + "health", "HEAD")
    assert (head.status, head.body) == (200, b"")
    options = call(base + "health", "OPTIONS")
    assert options.status == 200 and "GET" in options.headers["Allow"]
    assert call(base + "notes/?tag=a&tag=b").json() == {"notes": [], "tags": ["a", "b"]}
    redirect = call(base + "notes")  # strict slashes: Flask sends the client to /notes/
    assert (redirect.status, redirect.headers["Location"]) == (308, base + "notes/")
    created = call(base + "notes/", "POST", {"text": "hi"})
    assert (created.status, created.json()) == (201, {"created": {"text": "hi"}})
    shown = call(base + "notes/3").json()
    assert shown["url"] == base + "notes/3"  # url_for(..., _external=True)
    assert call(shown["url"]).json()["id"] == 3
    assert call(base + "notes/three").status == 404  # Flask's own 404, from the int converter
    user = call(base + "users/4")
    assert user.json() == {"id": 4}
    cookies = user.headers.get_all("Set-Cookie") or []
    assert [c.split(";")[0] for c in cookies] == ["seen=1", "user=4"]
    assert call(base + "users/4/").json() == {"id": 4}  # strict_slashes=False
    assert call(base + "users/4/docs/a/b.md").json() == {"user": 4, "name": "a/b.md"}
    assert call(base + "static/app.js").body == b"console.log('notes')\n"
    assert (call(base + "nowhere").status, call(base + "nowhere").body) == MISSING_TOKEN


def test_flask_parameter_rename_replaces_the_api_with_no_failed_request(
    flask_cloud: LocalCloudEnv,
) -> None:
    endpoint, domain = deployed(flask_cloud)
    app = flask_cloud.project / "app.py"
    app.write_text(
        app.read_text().replace("note_id", "nid").replace('VERSION = "1"', 'VERSION = "2"')
    )
    assert_replaced_without_failures(flask_cloud, endpoint, domain, "notes/3", "/notes/{nid}")


# ---------------------------------------------------------------- Django


def test_django_app_answers_through_the_endpoint_and_the_domain(
    django_cloud: LocalCloudEnv,
) -> None:
    endpoint, domain = deployed(django_cloud)
    assert domain.endswith("/site/")
    for base in (endpoint, domain):
        check_django_routes(base)
    assert_every_route_is_tried(
        django_cloud,
        {
            "/health",
            "/articles",
            "/articles/{article_id}",
            "/articles/{article_id}/files/{name+}",
            "/articles/archive/{year}",
            "/pages/{proxy+}",
        },
    )


def check_django_routes(base: str) -> None:
    assert call(base + "health/").json() == {"status": "ok"}
    assert call(base + "articles/?tag=a&tag=b").json() == {"articles": [], "tags": ["a", "b"]}
    shown = call(base + "articles/3/").json()
    assert shown["url"] == base + "articles/3/"  # reverse() + build_absolute_uri()
    assert call(shown["url"]).json()["id"] == 3
    slashless = call(base + "articles/3")  # APPEND_SLASH: Django sends the client on
    assert slashless.status == 301
    assert base.endswith(slashless.headers["Location"].removesuffix("articles/3/"))
    assert call(base + "articles/3/files/a/b.pdf").json() == {"article": 3, "name": "a/b.pdf"}
    assert call(base + "articles/archive/2024/").json() == {"year": 2024}
    assert call(base + "articles/archive/24/").status == 404  # Django's own 404
    assert call(base + "pages/en/about/").json()["page"] == "about"  # the greedy stand-in
    assert (call(base + "nowhere/").status, call(base + "nowhere/").body) == MISSING_TOKEN


# ---------------------------------------------------------------- teal init


@pytest.mark.parametrize("template", ["teal", "fastapi", "flask"])
def test_each_init_template_deploys_and_answers(tmp_path: Path, template: str) -> None:
    project = tmp_path / "starter"
    cloud = LocalCloudEnv(tmp_path / "teal-home", free_port(), project)
    created = run_teal_subprocess("init", str(project), "--template", template)
    assert created.code == 0, created.err
    expected = {"teal.toml", "app.py"} | ({"requirements.txt"} if template != "teal" else set())
    assert {p.name for p in project.iterdir()} == expected
    try:
        endpoint = cloud.teal_ok("deploy", "--json").json()["endpoint"]
        made = call(endpoint + "items", "POST", {"name": "kettle"})
        assert made.status == 201, made.body
        item = call(endpoint + f"items/{made.json()['id']}").json()
        assert item["name"] == "kettle"
        if template != "teal":  # the framework's URL for the item leads back to it
            assert item["url"] == endpoint + f"items/{item['id']}"
        assert cloud.teal_ok("check", "--json").json()["ok"] is True
    finally:
        cloud.teal("local", "stop")
