"""CORS, authorizers and API keys in the template: their resources, cfn-lint, deployments."""

from __future__ import annotations

from typing import Any

import pytest

from teal import App, CognitoAuthorizer, CORSConfig, allow
from teal.runtime.errors import RouteError, UserError
from teal.runtime.routes import RouteTable
from teal.template import synthesize
from teal.template.auth import AUTHORIZER_HANDLER
from test_template_support import CODE_KEY, big_table, lint_errors, make_target

ORIGIN = "https://app.example.com"
POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def methods(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each method's properties by (path part of its resource or '/', verb)."""
    resources = template["Resources"]
    found = {}
    for method in of_type(template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        ref = props["ResourceId"]
        part = "/" if "Fn::GetAtt" in ref else resources[ref["Ref"]]["Properties"]["PathPart"]
        found[(part, props["HttpMethod"])] = props
    return found


def handler(request: Any) -> Any:
    return {}


def check_token(event: Any, context: Any) -> Any:
    return allow("user")


def blog(**route_access: Any) -> RouteTable:
    """/posts (GET, POST) and /posts/{id} (GET), every route with ``route_access``."""
    app = App()
    app.authorizer("jwt", ttl=60)(check_token)
    app.route("/posts", methods=["GET", "POST"], function="posts", **route_access)(handler)
    app.route("/posts/{id}", function="post", **route_access)(handler)
    return app.routes()


def synth_app(table: RouteTable, **target: Any) -> dict[str, Any]:
    template: dict[str, Any] = synthesize(table, make_target(**target), CODE_KEY).template
    return template


# ---------------------------------------------------------------- CORS


def test_a_cors_route_gets_a_mock_preflight_that_answers_with_its_headers() -> None:
    template = synth_app(blog(cors=CORSConfig(ORIGIN, max_age=600, allow_credentials=True)))
    preflight = methods(template)[("posts", "OPTIONS")]
    assert preflight["AuthorizationType"] == "NONE"
    integration = preflight["Integration"]
    assert integration["Type"] == "MOCK"
    assert integration["RequestTemplates"] == {"application/json": '{"statusCode": 200}'}
    (answer,) = integration["IntegrationResponses"]
    assert answer["StatusCode"] == "200"
    assert answer["ResponseParameters"] == {
        "method.response.header.Access-Control-Allow-Methods": "'GET,OPTIONS,POST'",
        "method.response.header.Access-Control-Allow-Origin": f"'{ORIGIN}'",
        "method.response.header.Access-Control-Allow-Headers": (
            "'Authorization,Content-Type,X-Amz-Date,X-Amz-Security-Token,X-Api-Key'"
        ),
        "method.response.header.Access-Control-Max-Age": "'600'",
        "method.response.header.Access-Control-Allow-Credentials": "'true'",
    }
    (declared,) = preflight["MethodResponses"]
    assert set(declared["ResponseParameters"]) == set(answer["ResponseParameters"])
    assert (
        methods(template)[("{id}", "OPTIONS")]["Integration"]["IntegrationResponses"][0][
            "ResponseParameters"
        ]["method.response.header.Access-Control-Allow-Methods"]
        == "'GET,OPTIONS'"
    )
    assert lint_errors(template) == []


def test_api_gateways_own_errors_carry_the_apps_cors_headers() -> None:
    template = synth_app(blog(), cors=CORSConfig(ORIGIN))
    responses = of_type(template, "AWS::ApiGateway::GatewayResponse")
    assert sorted(r["Properties"]["ResponseType"] for r in responses.values()) == [
        "DEFAULT_4XX",
        "DEFAULT_5XX",
    ]
    for response in responses.values():
        headers = response["Properties"]["ResponseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == f"'{ORIGIN}'"
    (deployment,) = of_type(template, "AWS::ApiGateway::Deployment").values()
    assert set(responses) <= set(deployment["DependsOn"])  # in the deployment's snapshot
    assert lint_errors(template) == []


def test_the_apps_cors_reaches_every_route_and_its_functions_but_cors_false() -> None:
    app = App()
    app.route("/a", function="a")(handler)
    app.route("/b", function="b", cors=False)(handler)
    template = synth_app(app.routes(), cors=CORSConfig(ORIGIN))
    found = methods(template)
    assert ("a", "OPTIONS") in found and ("b", "OPTIONS") not in found
    for function in of_type(template, "AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert '"allow_origins":["https://app.example.com"]' in variables["TEAL_CORS"]


def test_without_cors_nothing_changes() -> None:
    template = synth_app(blog())
    assert not of_type(template, "AWS::ApiGateway::GatewayResponse")
    assert ("posts", "OPTIONS") not in methods(template)


def test_where_the_app_declares_options_itself_it_answers_the_preflight() -> None:
    app = App()
    app.route("/posts", methods=["GET", "OPTIONS"], cors=True)(handler)
    found = methods(synth_app(app.routes()))
    assert found[("posts", "OPTIONS")]["Integration"]["Type"] == "AWS_PROXY"


def test_routes_of_one_path_with_different_cors_are_refused() -> None:
    app = App()
    app.route("/posts", methods=["GET"], cors=CORSConfig("https://a.example.com"))(handler)
    app.route("/posts", methods=["POST"], cors=CORSConfig("https://b.example.com"))(handler)
    with pytest.raises(UserError, match="different CORS"):
        synth_app(app.routes())


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (CORSConfig(["https://a.example.com", "https://b.example.com"]), "one origin"),
        (CORSConfig("*", allow_credentials=True), "named origin"),
        (CORSConfig("app.example.com"), "not an origin"),
        (CORSConfig(ORIGIN, allow_headers=["bad header"]), "not an HTTP header name"),
    ],
)
def test_a_cors_config_api_gateway_cannot_serve_is_refused(config: CORSConfig, words: str) -> None:
    app = App()
    app.route("/posts", cors=config)(handler)
    with pytest.raises(RouteError, match=words):
        app.routes()


def test_a_large_app_puts_its_preflights_and_authorizer_ids_into_its_pages() -> None:
    table = big_table(600)
    app = App()
    app.authorizer("jwt")(check_token)
    for route in table.routes:
        app.route(
            route.path, methods=route.methods, function=route.function, cors=True, authorizer="jwt"
        )(handler)
    synthesized = synthesize(app.routes(), make_target(), CODE_KEY)
    assert synthesized.nested
    page = next(iter(synthesized.nested.values()))
    found = of_type(page, "AWS::ApiGateway::Method")
    assert any(m["Properties"]["HttpMethod"] == "OPTIONS" for m in found.values())
    secured = [m for m in found.values() if m["Properties"]["AuthorizationType"] == "CUSTOM"]
    assert secured and all(
        m["Properties"]["AuthorizerId"]["Ref"] in page["Parameters"] for m in secured
    )
    assert lint_errors(page) == []
    assert lint_errors(synthesized.template) == []


# ---------------------------------------------------------------- authorizers


def test_a_lambda_authorizer_is_an_authorizer_with_a_function_of_its_own() -> None:
    template = synth_app(blog(authorizer="jwt"))
    (authorizer,) = of_type(template, "AWS::ApiGateway::Authorizer").values()
    props = authorizer["Properties"]
    assert props["Type"] == "TOKEN"
    assert props["IdentitySource"] == "method.request.header.Authorization"
    assert props["AuthorizerResultTtlInSeconds"] == 60
    alias_ref = props["AuthorizerUri"]["Fn::Sub"][1]["FunctionArn"]["Ref"]
    function_ref = template["Resources"][alias_ref]["Properties"]["FunctionName"]["Ref"]
    function = template["Resources"][function_ref]["Properties"]
    assert function["Handler"] == AUTHORIZER_HANDLER
    assert function["Environment"]["Variables"]["TEAL_FUNCTION"] == "check_token"
    permission = next(
        p["Properties"]
        for p in of_type(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Ref": alias_ref}
    )
    assert permission["SourceArn"]["Fn::Sub"].endswith("/authorizers/*")
    for props in methods(template).values():
        assert props["AuthorizationType"] == "CUSTOM"
        assert props["AuthorizerId"] == {
            "Ref": next(iter(of_type(template, "AWS::ApiGateway::Authorizer")))
        }
    assert "check_token" in template["Metadata"]["teal"]["functions"]
    assert lint_errors(template) == []


def test_a_request_authorizer_names_its_identity_sources() -> None:
    app = App()
    sources = ["method.request.header.X-User", "method.request.querystring.key"]
    app.authorizer("req", type="REQUEST", identity_sources=sources)(check_token)
    app.route("/posts", authorizer="req")(handler)
    template = synth_app(app.routes())
    (authorizer,) = of_type(template, "AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["Type"] == "REQUEST"
    assert authorizer["Properties"]["IdentitySource"] == ",".join(sources)
    assert lint_errors(template) == []


def test_cognito_and_iam_authorizers() -> None:
    app = App()
    app.route("/users", function="users", authorizer=CognitoAuthorizer("users", [POOL]))(handler)
    app.route("/admin", function="admin", authorizer="aws_iam")(handler)
    template = synth_app(app.routes())
    (authorizer,) = of_type(template, "AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["Properties"]["ProviderARNs"] == [POOL]
    found = methods(template)
    assert found[("users", "GET")]["AuthorizationType"] == "COGNITO_USER_POOLS"
    assert found[("admin", "GET")]["AuthorizationType"] == "AWS_IAM"
    assert "AuthorizerId" not in found[("admin", "GET")]
    assert len(of_type(template, "AWS::Lambda::Function")) == 2  # no authorizer function
    assert lint_errors(template) == []


@pytest.mark.parametrize(
    ("declare", "words"),
    [
        (lambda app: app.route("/a", authorizer="nope")(handler), "no authorizer named 'nope'"),
        (lambda app: app.route("/a", authorizer=42)(handler), "authorizer must be"),
        (
            lambda app: (
                app.authorizer("x", ttl=7200)(check_token),
                app.route("/a", authorizer="x")(handler),
            ),
            "ttl must be between 0 and 3600",
        ),
        (
            lambda app: (
                app.authorizer("x", function="handler")(check_token),
                app.route("/a", authorizer="x")(handler),
            ),
            "an authorizer runs in a function of its own",
        ),
        (
            lambda app: app.route("/a", authorizer=CognitoAuthorizer("u", ["pool"]))(handler),
            "not a user pool ARN",
        ),
        (
            lambda app: (
                app.authorizer("x", type="REQUEST", identity_sources=["header.X"])(check_token),
                app.route("/a", authorizer="x")(handler),
            ),
            "identity source 'header.X'",
        ),
    ],
)
def test_an_authorizer_api_gateway_would_refuse_is_refused(declare: Any, words: str) -> None:
    app = App()
    declare(app)
    with pytest.raises(RouteError, match=words):
        app.routes()


# ---------------------------------------------------------------- API keys


def test_an_api_key_route_brings_a_key_and_a_usage_plan_for_the_stage() -> None:
    template = synth_app(blog(api_key_required=True))
    for props in methods(template).values():
        assert props["ApiKeyRequired"] is True
    (key_id,) = of_type(template, "AWS::ApiGateway::ApiKey")
    assert key_id == "ApiKey"
    (plan,) = of_type(template, "AWS::ApiGateway::UsagePlan").values()
    (stage_id,) = of_type(template, "AWS::ApiGateway::Stage")
    assert plan["Properties"]["ApiStages"] == [
        {"ApiId": {"Ref": "RestApi"}, "Stage": {"Ref": stage_id}}
    ]
    (plan_key,) = of_type(template, "AWS::ApiGateway::UsagePlanKey").values()
    assert plan_key["Properties"]["KeyId"] == {"Ref": "ApiKey"}
    assert template["Outputs"]["ApiKeyId"] == {"Value": {"Ref": "ApiKey"}}
    assert lint_errors(template) == []


def test_a_replaced_api_keeps_the_key_but_has_a_plan_of_its_own() -> None:
    rotated = synthesize(blog(api_key_required=True), make_target(), CODE_KEY, "RestApi1").template
    assert "ApiKey" in rotated["Resources"]
    assert "UsagePlanG1" in rotated["Resources"] and "UsagePlanKeyG1" in rotated["Resources"]


def test_without_api_keys_the_methods_say_nothing_of_them() -> None:
    template = synth_app(blog())
    assert all("ApiKeyRequired" not in p for p in methods(template).values())
    assert not of_type(template, "AWS::ApiGateway::ApiKey")


# ---------------------------------------------------------------- deployments


def test_access_changes_make_a_new_deployment_and_apps_without_access_keep_theirs() -> None:
    def deployment(template: dict[str, Any]) -> str:
        (found,) = of_type(template, "AWS::ApiGateway::Deployment")
        return str(found)

    plain = deployment(synth_app(blog()))
    variants = {
        deployment(synth_app(blog(authorizer="jwt"))),
        deployment(synth_app(blog(api_key_required=True))),
        deployment(synth_app(blog(cors=True))),
        deployment(synth_app(blog(), cors=CORSConfig(ORIGIN))),
        deployment(synth_app(blog(), cors=CORSConfig(ORIGIN, max_age=5))),
    }
    assert plain not in variants and len(variants) == 5
    assert deployment(synth_app(blog(cors=False))) == plain


def test_a_request_authorizer_without_a_cache_may_have_no_identity_source() -> None:
    app = App()
    app.authorizer("open-door", ttl=0, type="REQUEST", identity_sources=[])(check_token)
    app.route("/posts", authorizer="open-door")(handler)
    template = synth_app(app.routes())
    (authorizer,) = of_type(template, "AWS::ApiGateway::Authorizer").values()
    assert "IdentitySource" not in authorizer["Properties"]
    assert lint_errors(template) == []
    cached = App()
    cached.authorizer("door", ttl=60, type="REQUEST", identity_sources=[])(check_token)
    cached.route("/posts", authorizer="door")(handler)
    with pytest.raises(RouteError, match="needs identity_sources"):
        cached.routes()
