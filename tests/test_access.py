"""The pure rules of access: CORS configs and headers, the runtime's CORS, policies as API
Gateway evaluates them, Cognito tokens, SigV4 presence, the loader's round trip."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from teal import App, CognitoAuthorizer, CORSConfig, allow, deny
from teal.cloud.local.gateway.authorizers import (
    Effect,
    MalformedAnswer,
    cognito_claims,
    evaluate,
    identity_values,
    method_arn,
    read_answer,
    sigv4_access_key,
    wildcard_match,
)
from teal.project.config import ConfigError, load_project, resolve_target
from teal.runtime import entry
from teal.runtime.access import allowed_methods, effective_cors, with_cors_headers

ORIGIN = "https://app.example.com"
POOL = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Pool1"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool1"
ARN = method_arn("us-east-1", "abc123", "dev", "GET", "/orders/7")


# ---------------------------------------------------------------- CORS


def test_a_routes_cors_follows_its_declaration_then_the_apps() -> None:
    app_wide = CORSConfig(ORIGIN)
    own = CORSConfig("https://other.example.com")
    assert effective_cors(None, app_wide) is app_wide
    assert effective_cors(True, app_wide) is app_wide
    assert effective_cors(True, None) == CORSConfig("*")
    assert effective_cors(False, app_wide) is None
    assert effective_cors(own, app_wide) is own
    assert effective_cors(None, None) is None


def test_allowed_methods_name_options_and_any_means_every_verb() -> None:
    assert allowed_methods(["POST", "GET"]) == "GET,OPTIONS,POST"
    assert allowed_methods(["ANY"]) == "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT"


def test_the_handlers_own_headers_win_over_cors_headers() -> None:
    response = {"statusCode": 200, "headers": {"access-control-allow-origin": "https://mine"}}
    with_cors_headers(response, CORSConfig(ORIGIN).headers())
    assert response["headers"]["access-control-allow-origin"] == "https://mine"
    assert "Access-Control-Allow-Origin" not in response["headers"]
    assert response["headers"]["Access-Control-Allow-Headers"]


def test_the_runtime_adds_cors_headers_to_routes_with_cors_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = App()
    app.route("/a", cors=True, function="a")(lambda request: {"a": 1})
    app.route("/b", function="b")(lambda request: {"b": 1})
    app.route("/c", raw=True, cors=True, function="c")(lambda event, context: {"statusCode": 200})
    dispatch = entry.build_dispatch(app, None)
    monkeypatch.setattr(entry, "_app_cors", (None,))

    def headers(path: str, method: str = "GET") -> dict[str, str]:
        event = {"resource": path, "httpMethod": method}
        return dict(entry.invoke(dispatch, event, None).get("headers") or {})

    assert headers("/a")["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in headers("/b")
    assert headers("/c") == {}  # a raw handler's answer is its own


def test_the_apps_cors_reaches_the_runtime_through_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(entry.CORS_VARIABLE, json.dumps(CORSConfig(ORIGIN, max_age=5).to_json()))
    monkeypatch.setattr(entry, "_app_cors", None)
    app = App()
    app.route("/b")(lambda request: {"b": 1})
    event = {"resource": "/b", "httpMethod": "GET"}
    answer = entry.invoke(entry.build_dispatch(app, None), event, None)
    assert answer["headers"]["Access-Control-Allow-Origin"] == ORIGIN
    assert answer["headers"]["Access-Control-Max-Age"] == "5"


def test_cors_in_teal_toml_is_checked_with_the_line(tmp_path: Any) -> None:
    (tmp_path / "teal.toml").write_text(
        '[app]\nname = "shop"\n[cors]\nallow_origins = ["*"]\nallow_credentials = true\n'
    )
    with pytest.raises(ConfigError, match="needs a named origin") as caught:
        load_project(tmp_path)
    assert "teal.toml:3" in str(caught.value.where)
    (tmp_path / "teal.toml").write_text(
        f'[app]\nname = "shop"\n[cors]\nallow_origins = ["{ORIGIN}"]\n'
    )
    target = resolve_target(load_project(tmp_path), environ={})
    assert target.cors == CORSConfig(ORIGIN)
    assert json.loads(target.teal_variables("f")[entry.CORS_VARIABLE])["allow_origins"] == [ORIGIN]


# ---------------------------------------------------------------- policies


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("*", True),
        (ARN, True),
        ("arn:aws:execute-api:us-east-1:000000000000:abc123/*/GET/*", True),
        ("arn:aws:execute-api:us-east-1:000000000000:abc123/dev/GET/orders/?", True),
        ("arn:aws:execute-api:us-east-1:000000000000:abc123/dev/POST/*", False),
        ("arn:aws:execute-api:us-east-1:000000000000:abc123/dev/GET/Orders/7", False),
        ("arn:aws:execute-api:us-east-1:000000000000:abc123/dev/GET/orders", False),
    ],
)
def test_resources_match_with_wildcards_and_case(pattern: str, matches: bool) -> None:
    assert wildcard_match(pattern, ARN) is matches


def test_an_explicit_deny_wins_and_nothing_matching_is_an_implicit_deny() -> None:
    both = allow("a")["policyDocument"]["Statement"] + deny("a")["policyDocument"]["Statement"]
    assert evaluate(both, ARN) is Effect.EXPLICIT_DENY
    assert evaluate(allow("a")["policyDocument"]["Statement"], ARN) is Effect.ALLOW
    other = allow("a", resource="arn:aws:execute-api:*:*:other/*")
    assert evaluate(other["policyDocument"]["Statement"], ARN) is Effect.IMPLICIT_DENY
    wrong_action = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]
    assert evaluate(wrong_action, ARN) is Effect.IMPLICIT_DENY


def test_an_answer_is_read_as_api_gateway_reads_it() -> None:
    answer = read_answer(allow("ann", context={"n": 3, "ok": False, "s": "x"}))
    assert answer.principal_id == "ann"
    assert answer.context == {"n": "3", "ok": "false", "s": "x"}
    single = {
        "principalId": "a",
        "policyDocument": {"Statement": allow("a")["policyDocument"]["Statement"][0]},
    }
    assert read_answer(single).effect_on(ARN) is Effect.ALLOW
    for broken in (
        None,
        {"policyDocument": {"Statement": []}},
        {"principalId": "a"},
        {"principalId": "a", "policyDocument": {"Statement": "x"}},
        {**allow("a"), "context": {"nested": {"no": 1}}},
    ):
        with pytest.raises(MalformedAnswer):
            read_answer(broken)


def test_request_identity_sources_must_all_be_present() -> None:
    event = {
        "headers": {"X-Team": "blue"},
        "queryStringParameters": {"q": "1"},
        "requestContext": {"stage": "dev"},
    }
    sources = ["method.request.header.x-team", "method.request.querystring.q", "context.stage"]
    assert identity_values(sources, event, {}) == ("blue", "1", "dev")
    assert identity_values(["stageVariables.v"], event, {"v": "7"}) == ("7",)
    assert identity_values(["method.request.querystring.other"], event, {}) is None
    assert (
        identity_values(["method.request.header.X-Team"], {"headers": {"X-Team": ""}}, {}) is None
    )


# ---------------------------------------------------------------- Cognito and IAM


def token(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part(header or {'alg': 'RS256'})}.{part(claims)}.sig"


def test_a_cognito_id_token_of_the_pool_and_in_date_passes() -> None:
    claims = {"iss": ISSUER, "token_use": "id", "exp": 2000, "sub": "u"}
    assert cognito_claims(token(claims), [POOL], now=1000) == claims
    assert cognito_claims("Bearer " + token(claims), [POOL], now=1000) == claims
    for refused in (
        {**claims, "exp": 999},
        {**claims, "token_use": "access"},
        {**claims, "iss": ISSUER + "2"},
        {k: v for k, v in claims.items() if k != "exp"},
    ):
        assert cognito_claims(token(refused), [POOL], now=1000) is None
    assert cognito_claims(token(claims, {"typ": "JWT"}), [POOL], now=1000) is None
    assert cognito_claims("a.b", [POOL], now=1000) is None


def test_sigv4_is_found_in_the_header_or_the_query_string() -> None:
    header = (
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/execute-api/aws4_request, "
        "SignedHeaders=host, Signature=ab"
    )
    assert sigv4_access_key({"Authorization": header}, "") == "AKID"
    assert sigv4_access_key({"authorization": "Bearer x"}, "") is None
    query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID2%2F2026&X-Amz-Signature=ab"
    assert sigv4_access_key({}, query) == "AKID2"
    assert sigv4_access_key({}, "") is None


# ---------------------------------------------------------------- the app as the loader reads it


def test_the_loader_rebuilds_what_the_app_declares(make_project: Any) -> None:
    from teal.project.loader import load_routes

    project = make_project(
        f"""
        from teal import App, CognitoAuthorizer, CORSConfig, allow

        app = App()

        @app.authorizer("jwt", ttl=30, token_pattern="^Bearer .+$")
        def check(event, context):
            return allow("x")

        @app.route("/a", authorizer="jwt", cors=CORSConfig("{ORIGIN}", max_age=9))
        def a(request):
            return {{}}

        @app.route("/b", authorizer=CognitoAuthorizer("users", ["{POOL}"]), api_key_required=True)
        def b(request):
            return {{}}
        """
    )
    table = load_routes(project, "app:app", "python3.11")
    by_path = {r.path: r for r in table.routes}
    assert by_path["/a"].cors == CORSConfig(ORIGIN, max_age=9)
    assert by_path["/a"].authorizer == "jwt" and by_path["/b"].api_key_required
    assert table.authorizers["jwt"].ttl == 30
    assert table.authorizers["jwt"].token_pattern == "^Bearer .+$"
    assert table.authorizers["users"] == CognitoAuthorizer("users", [POOL])


# ---------------------------------------------------------------- framework apps


def test_a_flask_app_answers_options_itself_and_the_runtime_adds_the_cors_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import flask

    from proxy_event_samples import proxy_event
    from teal.runtime.wsgi import WsgiAdapter

    web = flask.Flask("shop")
    web.add_url_rule("/items", "items", lambda: {"items": []})
    monkeypatch.setenv(entry.CORS_VARIABLE, json.dumps(CORSConfig(ORIGIN).to_json()))
    monkeypatch.setattr(entry, "_app_cors", None)
    monkeypatch.setattr(entry, "_framework", WsgiAdapter(web))
    monkeypatch.setattr(entry, "_entry_read", True)
    headers = [("Host", "abc123.execute-api.us-east-1.amazonaws.com"), ("Origin", ORIGIN)]
    preflight = entry.handler(proxy_event("/items", "/items", "OPTIONS", headers=headers), None)
    assert preflight["statusCode"] == 200  # Flask's automatic OPTIONS
    answer = {k.lower(): v for k, v in preflight["headers"].items()}
    assert answer["access-control-allow-origin"] == ORIGIN
    assert "OPTIONS" in answer["access-control-allow-methods"]
    got = entry.handler(proxy_event("/items", "/items", headers=headers), None)
    assert {k.lower(): v for k, v in got["headers"].items()}[
        "access-control-allow-origin"
    ] == ORIGIN


def test_api_gateway_answers_preflights_only_where_the_framework_has_no_options() -> None:
    from teal.project.loader import HandlerRef, _framework_table
    from teal.template import synthesize
    from test_template_support import CODE_KEY, make_target

    handler = {
        "module": "app",
        "qualname": "view",
        "name": "view",
        "repr": "view",
        "callable": True,
    }
    routes = [
        {
            "path": "/flask",
            "methods": ["GET", "HEAD", "OPTIONS"],
            "source": "r1",
            "handler": handler,
        },
        {"path": "/fastapi", "methods": ["GET", "HEAD"], "source": "r2", "handler": handler},
    ]
    table = _framework_table(routes, "Framework")
    assert all(isinstance(r.handler, HandlerRef) for r in table.routes)
    template = synthesize(table, make_target(cors=CORSConfig(ORIGIN)), CODE_KEY).template
    options = {
        m["Properties"]["ResourceId"]["Ref"]: m["Properties"]["Integration"]["Type"]
        for m in template["Resources"].values()
        if m["Type"] == "AWS::ApiGateway::Method" and m["Properties"]["HttpMethod"] == "OPTIONS"
    }
    parts = {
        k: v["Properties"]["PathPart"]
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::ApiGateway::Resource"
    }
    assert {parts[r]: kind for r, kind in options.items()} == {
        "flask": "AWS_PROXY",
        "fastapi": "MOCK",
    }


def test_a_framework_app_answers_its_own_preflights_where_teal_has_no_cors() -> None:
    """A FastAPI app's CORSMiddleware answers preflights: without teal's CORS each of its
    resources gets an OPTIONS method to the app (API Gateway would answer 403), and the
    app's function may be called for it."""
    from teal.project.loader import _framework_table
    from teal.template import synthesize
    from test_template_support import CODE_KEY, make_target

    handler = {"module": "app", "qualname": "v", "name": "v", "repr": "v", "callable": True}
    routes = [
        {"path": "/", "methods": ["GET"], "source": "r0", "handler": handler},
        {"path": "/items", "methods": ["GET", "HEAD"], "source": "r1", "handler": handler},
        {"path": "/flask", "methods": ["GET", "OPTIONS"], "source": "r2", "handler": handler},
        {"path": "/any", "methods": ["ANY"], "source": "r3", "handler": handler},
    ]
    resources = synthesize(_framework_table(routes, "Framework"), make_target(), CODE_KEY).template[
        "Resources"
    ]
    verbs: dict[str, list[str]] = {}
    for method in resources.values():
        if method["Type"] == "AWS::ApiGateway::Method":
            properties = method["Properties"]
            assert properties["Integration"]["Type"] == "AWS_PROXY"
            assert properties["AuthorizationType"] == "NONE"
            resource = properties["ResourceId"]
            verbs.setdefault(json.dumps(resource), []).append(properties["HttpMethod"])
    assert sorted(sorted(v) for v in verbs.values()) == [
        ["ANY"],
        ["GET", "HEAD", "OPTIONS"],
        ["GET", "OPTIONS"],
        ["GET", "OPTIONS"],
    ]
    permissions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert [p["Properties"]["SourceArn"]["Fn::Sub"].rsplit("}/", 1)[1] for p in permissions] == [
        "*/*"
    ]


# ---------------------------------------------------------------- gateway responses


def test_gateway_responses_shape_api_gateways_own_answers_only() -> None:
    from teal.cloud.local.gateway.authorizers import UNAUTHORIZED
    from teal.cloud.local.gateway.handler import (
        BAD_GATEWAY,
        REQUEST_TOO_LONG,
        GatewayResponse,
        _error,
        with_gateway_response,
    )
    from teal.cloud.local.model import GatewayResponseSpec

    cors = (("Access-Control-Allow-Origin", ORIGIN),)
    responses = {
        "DEFAULT_4XX": GatewayResponseSpec("DEFAULT_4XX", None, cors),
        "DEFAULT_5XX": GatewayResponseSpec("DEFAULT_5XX", None, cors),
        "UNAUTHORIZED": GatewayResponseSpec("UNAUTHORIZED", 418, (("X-Own", "yes"),)),
    }
    shaped = with_gateway_response(_error(BAD_GATEWAY, "r"), responses)
    assert shaped.status == 502 and cors[0] in shaped.headers
    own_type = with_gateway_response(_error(UNAUTHORIZED, "r"), responses)
    assert own_type.status == 418 and ("X-Own", "yes") in own_type.headers
    assert cors[0] not in own_type.headers  # the type's own response, not the default
    too_large = _error(REQUEST_TOO_LONG, "r")
    assert with_gateway_response(too_large, responses) == too_large  # AWS fixes its 413
    answered = GatewayResponse(403, (("Content-Type", "text/plain"),), b"no")  # a function's
    assert with_gateway_response(answered, responses) == answered
