"""CORS, authorizers and API keys on the local cloud, through the CLI as a user runs it.

One app, deployed once per test module: API Gateway's answers (preflights, 401,
403, 500, gateway responses with CORS headers), the authorizer's cache and
context reaching the handler, the API key from ``teal status``; then a second
deploy changing an authorizer, whose plan says what changes.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from e2e import LocalCloudEnv, free_port

ORIGIN = "https://app.example.com"
POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123"

TOML = f"""
[app]
name = "shop"
entry = "app:app"
runtime = "python3.11"

[cors]
allow_origins = ["{ORIGIN}"]
allow_headers = ["Authorization", "Content-Type", "X-Api-Key"]
max_age = 600
"""

APP = f"""
import os

from teal import App, CognitoAuthorizer, CORSConfig, Response, allow, deny

app = App()
CALLS = {{"jwt": 0}}


@app.authorizer("jwt", ttl=300)
def check_token(event, context):
    CALLS["jwt"] += 1
    token = event["authorizationToken"]
    arn = event["methodArn"]
    if token == "allow":
        return allow("ann", context={{"role": "admin", "calls": CALLS["jwt"], "ok": True}})
    if token == "deny":
        return deny("bob")
    if token == "orders-only":
        return allow("cy", resource=arn.split("/", 1)[0] + "/*/GET/orders")
    if token == "broken":
        return {{"principalId": "x"}}
    raise Exception("Unauthorized")


@app.authorizer("team", ttl=0, type="REQUEST", identity_sources=["method.request.header.X-Team"])
def check_team(event, context):
    team = event["headers"].get("X-Team")
    return allow(team, context={{"team": team, "path": event["path"]}})


@app.route("/products")
def products(request):
    return {{"products": []}}


@app.route("/orders", authorizer="jwt")
def orders(request):
    return {{"authorizer": request.event["requestContext"]["authorizer"]}}


@app.route("/refunds", authorizer="jwt")
def refunds(request):
    return {{"refunds": []}}


@app.route("/team", authorizer="team")
def team(request):
    return {{"authorizer": request.event["requestContext"]["authorizer"]}}


@app.route("/me", authorizer=CognitoAuthorizer("users", ["{POOL}"]))
def me(request):
    return {{"claims": request.event["requestContext"]["authorizer"]["claims"]}}


@app.route("/admin", authorizer="aws_iam")
def admin(request):
    return {{"access_key": request.event["requestContext"]["identity"]["accessKey"]}}


@app.route("/stock", api_key_required=True)
def stock(request):
    identity = request.event["requestContext"]["identity"]
    return {{"key_id": identity["apiKeyId"]}}


@app.route("/own", methods=["GET", "OPTIONS"])
def own(request):
    return Response(None, status=204) if request.method == "OPTIONS" else {{"own": True}}


@app.route("/wide", cors=CORSConfig("*"))
def wide(request):
    return {{"wide": True}}


@app.route("/crash", raw=True)
def crash(event, context):
    raise RuntimeError("the invocation fails: API Gateway answers 502")
"""


def send(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        connection.request(method, target, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def jwt(claims: dict[str, Any]) -> str:
    """A token of a Cognito ID token's shape (unsigned: the local cloud checks no signature)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloudEnv, str]]:
    root = tmp_path_factory.mktemp("access")
    project = root / "shop"
    project.mkdir()
    (project / "teal.toml").write_text(textwrap.dedent(TOML))
    (project / "app.py").write_text(textwrap.dedent(APP))
    cloud = LocalCloudEnv(root / "teal-home", free_port(), project)
    try:
        endpoint = cloud.teal_ok("deploy", "--json").json()["endpoint"]
        yield cloud, endpoint
    finally:
        cloud.teal("local", "stop")
        shutil.rmtree(root, ignore_errors=True)


def cors_of(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("access-control-")}


PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
APP_HEADERS = {
    "access-control-allow-origin": ORIGIN,
    "access-control-allow-headers": "Authorization,Content-Type,X-Api-Key",
    "access-control-max-age": "600",
}


def test_api_gateway_answers_the_preflight_and_the_handler_answers_with_cors_headers(
    shop: tuple[LocalCloudEnv, str],
) -> None:
    _, endpoint = shop
    status, headers, body = send(endpoint + "products", "OPTIONS", PREFLIGHT)
    assert (status, body) == (200, b"")
    assert cors_of(headers) == {**APP_HEADERS, "access-control-allow-methods": "GET,OPTIONS"}
    assert headers["content-type"] == "application/json"
    status, headers, body = send(endpoint + "products", headers={"Origin": ORIGIN})
    assert (status, json.loads(body)) == (200, {"products": []})
    assert cors_of(headers) == APP_HEADERS
    # a route's own config wins over [cors]
    status, headers, _ = send(endpoint + "wide", "OPTIONS", PREFLIGHT)
    assert status == 200 and headers["access-control-allow-origin"] == "*"
    # the preflight needs no token, even where the route needs one
    status, headers, _ = send(endpoint + "orders", "OPTIONS", PREFLIGHT)
    assert status == 200 and cors_of(headers)["access-control-allow-origin"] == ORIGIN


def test_where_the_app_answers_options_itself_the_runtime_adds_the_preflight_headers(
    shop: tuple[LocalCloudEnv, str],
) -> None:
    _, endpoint = shop
    status, headers, _ = send(endpoint + "own", "OPTIONS", PREFLIGHT)
    assert status == 204
    assert cors_of(headers)["access-control-allow-methods"] == (
        "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT"
    )
    assert cors_of(headers)["access-control-allow-origin"] == ORIGIN


def test_api_gateways_own_errors_carry_the_cors_headers(shop: tuple[LocalCloudEnv, str]) -> None:
    _, endpoint = shop
    status, headers, body = send(endpoint + "nowhere", headers={"Origin": ORIGIN})
    assert (status, body) == (403, b'{"message":"Missing Authentication Token"}')
    assert cors_of(headers) == APP_HEADERS
    status, headers, body = send(endpoint + "crash", headers={"Origin": ORIGIN})
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    assert cors_of(headers) == APP_HEADERS
    status, headers, _ = send(endpoint + "orders")
    assert status == 401 and cors_of(headers) == APP_HEADERS


def test_a_lambda_authorizer_answers_as_api_gateway_does(shop: tuple[LocalCloudEnv, str]) -> None:
    _, endpoint = shop
    status, headers, body = send(endpoint + "orders")
    assert (status, body) == (401, b'{"message":"Unauthorized"}')
    assert headers["x-amzn-errortype"] == "UnauthorizedException"
    status, _, body = send(endpoint + "orders", headers={"Authorization": "who-knows"})
    assert (status, body) == (401, b'{"message":"Unauthorized"}')  # raised "Unauthorized"
    status, headers, body = send(endpoint + "orders", headers={"Authorization": "deny"})
    assert (status, body) == (
        403,
        b'{"Message":"User is not authorized to access this resource with an explicit deny"}',
    )
    assert headers["x-amzn-errortype"] == "AccessDeniedException"
    status, _, body = send(endpoint + "orders", headers={"Authorization": "broken"})
    assert (status, body) == (500, b'{"message":null}')


def test_an_allowed_request_carries_the_authorizers_context_and_the_answer_is_cached(
    shop: tuple[LocalCloudEnv, str],
) -> None:
    _, endpoint = shop
    token = {"Authorization": "allow"}
    status, _, body = send(endpoint + "orders", headers=token)
    assert status == 200, body
    first = json.loads(body)["authorizer"]
    assert first["principalId"] == "ann"
    assert (first["role"], first["ok"]) == ("admin", "true")  # values as strings, as on AWS
    status, _, body = send(endpoint + "orders", headers=token)
    again = json.loads(body)["authorizer"]
    assert again["calls"] == first["calls"]  # the cached answer: the function ran once
    assert again["integrationLatency"] == 0


def test_a_policy_that_does_not_cover_the_method_is_an_implicit_deny(
    shop: tuple[LocalCloudEnv, str],
) -> None:
    _, endpoint = shop
    token = {"Authorization": "orders-only"}
    status, _, body = send(endpoint + "orders", headers=token)
    assert status == 200, body
    # the cached answer is evaluated again for another method, which it does not cover
    status, headers, body = send(endpoint + "refunds", headers=token)
    assert (status, body) == (403, b'{"Message":"User is not authorized to access this resource"}')
    assert headers["x-amzn-errortype"] == "AccessDeniedException"


def test_a_request_authorizer_gets_the_request_and_needs_its_identity_sources(
    shop: tuple[LocalCloudEnv, str],
) -> None:
    _, endpoint = shop
    status, _, body = send(endpoint + "team", headers={"X-Team": "blue"})
    assert status == 200 and json.loads(body)["authorizer"]["team"] == "blue"
    assert json.loads(body)["authorizer"]["path"].endswith("/team")
    status, _, body = send(endpoint + "team")
    assert (status, body) == (401, b'{"message":"Unauthorized"}')


def test_a_cognito_authorizer_checks_the_tokens_issuer_use_and_expiry(
    shop: tuple[LocalCloudEnv, str],
) -> None:
    _, endpoint = shop
    claims = {"iss": ISSUER, "token_use": "id", "sub": "u-1", "exp": int(time.time()) + 600}
    status, _, body = send(endpoint + "me", headers={"Authorization": jwt(claims)})
    assert status == 200, body
    assert json.loads(body)["claims"]["sub"] == "u-1"
    expired = {**claims, "exp": int(time.time()) - 1}
    other_pool = {**claims, "iss": ISSUER + "x"}
    for token in (jwt(expired), jwt(other_pool), "not-a-jwt"):
        status, _, body = send(endpoint + "me", headers={"Authorization": token})
        assert (status, body) == (401, b'{"message":"Unauthorized"}')
    assert send(endpoint + "me")[0] == 401


def test_iam_needs_a_sigv4_signature(shop: tuple[LocalCloudEnv, str]) -> None:
    _, endpoint = shop
    status, _, body = send(endpoint + "admin")
    assert (status, body) == (403, b'{"message":"Missing Authentication Token"}')
    signed = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/"
        "execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc123",
        "X-Amz-Date": "20260101T000000Z",
    }
    status, _, body = send(endpoint + "admin", headers=signed)
    assert (status, json.loads(body)) == (200, {"access_key": "AKIDEXAMPLE"})


def test_the_api_key_from_teal_status_opens_the_route(shop: tuple[LocalCloudEnv, str]) -> None:
    cloud, endpoint = shop
    status, headers, body = send(endpoint + "stock")
    assert (status, body) == (403, b'{"message":"Forbidden"}')
    assert headers["x-amzn-errortype"] == "ForbiddenException"
    assert send(endpoint + "stock", headers={"x-api-key": "x" * 40})[0] == 403
    (environment,) = cloud.teal_ok("status", "--json").json()["environments"]
    key = environment["api_key"]
    assert "local cloud" in key["source"] and len(key["value"]) == 40
    status, _, body = send(endpoint + "stock", headers={"x-api-key": key["value"]})
    assert (status, json.loads(body)) == (200, {"key_id": key["id"]})


def test_changing_a_routes_authorizer_is_planned_in_place_and_deployed(
    shop: tuple[LocalCloudEnv, str],
) -> None:
    cloud, endpoint = shop
    app = cloud.project / "app.py"
    original = app.read_text()
    app.write_text(
        original.replace(
            '@app.route("/orders", authorizer="jwt")', '@app.route("/orders", authorizer="team")'
        )
    )
    try:
        plan = cloud.teal_ok("plan", "--json").json()
        assert plan["api"]["replace"] is False
        assert (
            "GET /orders: authorizer 'jwt' -> authorizer 'team' (changed in place)" in plan["notes"]
        )
        text = cloud.teal_ok("plan").out
        assert "authorizer 'jwt' -> authorizer 'team'" in text
        cloud.teal_ok("deploy", "--json")
        status, _, body = send(endpoint + "orders", headers={"X-Team": "red"})
        assert (status, json.loads(body)["authorizer"]["team"]) == (200, "red")
    finally:
        app.write_text(original)


KEYED_APP = """
from teal import App, allow

app = App()


@app.authorizer("jwt", ttl=300)
def check_token(event, context):
    return allow("ann")


@app.route("/health")
def health(request):
    return "ok"


@app.route("/items/{id}", authorizer="jwt", api_key_required=True, cors=True)
def item(request):
    return {"id": request.path_params["id"]}
"""


def test_a_replacement_behind_a_domain_keeps_the_api_key_and_fails_no_request(
    tmp_path: Path,
) -> None:
    project = tmp_path / "keyed"
    project.mkdir()
    toml = '[app]\nname = "keyed"\nentry = "app:app"\nruntime = "python3.11"\n'
    (project / "teal.toml").write_text(toml + '\n[domain]\nname = "api.keyed.test"\n')
    (project / "app.py").write_text(textwrap.dedent(KEYED_APP))
    cloud = LocalCloudEnv(tmp_path / "teal-home", free_port(), project)
    try:
        domain = cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
        (environment,) = cloud.teal_ok("status", "--json").json()["environments"]
        key = environment["api_key"]["value"]
        headers = {"x-api-key": key, "Authorization": "token"}
        answers: list[int] = []
        stop = threading.Event()

        def steady() -> None:
            while not stop.is_set() and len(answers) < 5000:
                answers.append(send(domain + "items/7", headers=headers)[0])

        client = threading.Thread(target=steady, daemon=True)
        client.start()
        cloud.edit_app('"/items/{id}"', '"/items/{item_id}"')
        cloud.edit_app('path_params["id"]', 'path_params["item_id"]')
        report = cloud.teal_ok("deploy", "--json").json()
        stop.set()
        client.join(timeout=60)
        assert report["api_replaced"] is True
        assert answers and set(answers) == {200}
        (after,) = cloud.teal_ok("status", "--json").json()["environments"]
        assert after["api_key"]["value"] == key
        assert send(domain + "items/7")[0] == 401
    finally:
        cloud.teal("local", "stop")
