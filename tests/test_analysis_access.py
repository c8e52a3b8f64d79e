"""Change analysis of CORS, authorizers and API keys: in place or not, and in user words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from teal import App, CognitoAuthorizer, CORSConfig, allow
from teal.plan.analysis import Verdict, analyze
from teal.runtime.routes import RouteTable
from teal.template import synthesize
from test_template_support import CODE_KEY, make_target

POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"
ORIGIN = "https://app.example.com"


def handler(request: Any) -> Any:
    return {}


def check_token(event: Any, context: Any) -> Any:
    return allow("user")


def check_other(event: Any, context: Any) -> Any:
    return allow("other")


def posts(
    authorizers: dict[str, Callable[..., Any]] | None = None, ttl: int = 60, **access: Any
) -> RouteTable:
    app = App()
    for name, function in (authorizers or {}).items():
        app.authorizer(name, ttl=ttl)(function)
    app.route("/posts", methods=["GET", "POST"], function="posts", **access)(handler)
    return app.routes()


def verdict(
    old: RouteTable,
    new: RouteTable,
    old_target: dict[str, Any] | None = None,
    new_target: dict[str, Any] | None = None,
) -> Verdict:
    before = synthesize(old, make_target(**(old_target or {})), CODE_KEY)
    after = synthesize(new, make_target(**(new_target or {})), CODE_KEY)
    return analyze(before.template, before.nested_by_logical_id, after.template, {})


def kinds(found: Verdict, which: str) -> set[str]:
    return {c.type for c in getattr(found.changes, which)}


def test_changing_a_routes_authorizer_changes_its_methods_in_place() -> None:
    both = {"jwt": check_token, "other": check_other}
    found = verdict(posts(both, authorizer="jwt"), posts(both, authorizer="other"))
    assert not found.replace
    assert "AWS::ApiGateway::Method" in kinds(found, "modified")
    assert not found.changes.replaced
    assert "GET /posts: authorizer 'jwt' -> authorizer 'other' (changed in place)" in found.notes


def test_securing_an_open_route_is_explained() -> None:
    found = verdict(posts(), posts({"jwt": check_token}, authorizer="jwt", api_key_required=True))
    assert not found.replace
    assert "Lambda TOKEN authorizer 'jwt' is added" in found.notes
    assert "POST /posts: open -> authorizer 'jwt' + API key (changed in place)" in found.notes
    assert any("gets an API key and a usage plan" in n for n in found.notes)


def test_renaming_an_authorizer_is_explained() -> None:
    found = verdict(
        posts({"jwt": check_token}, authorizer="jwt"),
        posts({"token": check_token}, authorizer="token"),
    )
    assert not found.replace
    assert "AWS::ApiGateway::Authorizer" in kinds(found, "added")
    assert "AWS::ApiGateway::Authorizer" in kinds(found, "removed")
    (renamed,) = [n for n in found.notes if "renamed" in n]
    assert renamed.startswith("authorizer 'jwt' is renamed 'token': API Gateway makes 'token'")


def test_an_authorizers_settings_change_in_place() -> None:
    found = verdict(
        posts({"jwt": check_token}, ttl=60, authorizer="jwt"),
        posts({"jwt": check_token}, ttl=300, authorizer="jwt"),
    )
    assert "AWS::ApiGateway::Authorizer" in kinds(found, "modified")
    assert "authorizer 'jwt' changes in place: cache ttl 60 -> 300" in found.notes


def test_a_cognito_authorizer_and_iam() -> None:
    cognito = CognitoAuthorizer("users", [POOL])
    found = verdict(posts(authorizer=cognito), posts(authorizer="aws_iam"))
    assert "authorizer 'users' is removed" in found.notes
    assert "GET /posts: authorizer 'users' -> IAM (SigV4) (changed in place)" in found.notes


def test_cors_added_then_changed_then_removed() -> None:
    added = verdict(posts(), posts(), new_target={"cors": CORSConfig(ORIGIN)})
    assert not added.replace
    assert f"/posts: API Gateway answers CORS preflights (origin {ORIGIN})" in added.notes
    assert "API Gateway's own errors (DEFAULT_4XX, DEFAULT_5XX) carry CORS headers" in added.notes
    other = "https://other.example.com"
    changed = verdict(posts(), posts(), {"cors": CORSConfig(ORIGIN)}, {"cors": CORSConfig(other)})
    assert (
        f"/posts: the CORS preflight answer changes (origin {ORIGIN} -> {other})" in changed.notes
    )
    removed = verdict(posts(), posts(), {"cors": CORSConfig(ORIGIN)})
    assert "/posts: no more CORS preflight answer" in removed.notes


def test_no_access_change_no_notes() -> None:
    table = posts({"jwt": check_token}, authorizer="jwt", cors=True, api_key_required=True)
    found = verdict(table, table)
    assert found.changes.action == "noop"
    assert found.notes == ()


@pytest.mark.parametrize("gen", ["RestApi1"])
def test_a_replacement_keeps_the_api_key(gen: str) -> None:
    table = posts(api_key_required=True)
    before = synthesize(table, make_target(), CODE_KEY)
    after = synthesize(table, make_target(), CODE_KEY, gen)
    found = analyze(before.template, {}, after.template, {})
    assert "ApiKey" not in {c.logical_id for c in found.changes.removed}
    assert "ApiKey" not in {c.logical_id for c in found.changes.added}
