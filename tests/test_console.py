"""The web console without a browser: its token and CSRF checks, its dispatch by the
gateway, the pages' data, and its actions' plans and runs."""

from __future__ import annotations

import asyncio
import stat
import sys
import textwrap
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest

from teal.cloud.base import AliasState, HistoryEntry, PlanSummary, RoutingRule, Traffic
from teal.cloud.local.console import ConsoleMount
from teal.cloud.local.console.actions import (
    ACTIONS,
    Jobs,
    Planned,
    Refused,
    child_environment,
    plan_preview,
    plan_preview_off,
    plan_rollback,
    plan_switch,
)
from teal.cloud.local.console.auth import ConsoleAuth, Verdict
from teal.cloud.local.console.data import (
    AppView,
    DomainFacts,
    StackFacts,
    TrafficPair,
    app_views,
    as_seen,
    requests_of,
)
from teal.cloud.local.console.web import _templates
from teal.cloud.local.gateway.handler import Gateway, GatewayRequest, GatewayResponse
from teal.cloud.local.gateway.own_endpoints import new_token, read_token, token_file, write_token
from teal.cloud.local.model import DomainRoute, RouteIntegration
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.projects import (
    last_plan,
    project_of,
    remember_plan,
    remember_project,
)
from teal.rules.lambda_logs import LogLine
from test_gateway_support import FakeServingState, function_arn

T = TypeVar("T")
PORT = 4510
ORIGIN = f"http://127.0.0.1:{PORT}"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


# ---------------------------------------------------------------- the token


def test_each_gateway_start_makes_a_new_token_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    paths = LocalPaths(tmp_path)
    first, second = new_token(), new_token()
    write_token(paths, first)
    write_token(paths, second)
    assert first != second and len(second) >= 40
    assert read_token(paths) == second
    assert stat.S_IMODE(token_file(paths).stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["gateway.token"]  # no scratch file left


AUTH = ConsoleAuth("s3cret-token", PORT)


def check(
    *,
    method: str = "GET",
    query: str = "",
    client: str = "127.0.0.1",
    host: str = f"127.0.0.1:{PORT}",
    path: str = AUTH.base + "/",
    **headers: str,
) -> Verdict:
    sent = {"host": host, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return AUTH.check(method, sent, query, client, path).verdict


def test_a_request_without_the_token_is_refused() -> None:
    assert check() is Verdict.REFUSED
    assert check(cookie=f"teal_console_{PORT}=wrong") is Verdict.REFUSED
    assert check(x_teal_token="wrong") is Verdict.REFUSED


def test_the_token_in_the_url_becomes_a_cookie_for_this_port() -> None:
    assert check(query="token=s3cret-token") is Verdict.SET_COOKIE
    assert check(method="POST", query="token=s3cret-token") is Verdict.REFUSED
    assert check(cookie=f"teal_console_{PORT}=s3cret-token") is Verdict.ALLOWED
    with_cookie = check(query="token=s3cret-token", cookie=f"teal_console_{PORT}=s3cret-token")
    assert with_cookie is Verdict.SET_COOKIE  # the token leaves the address bar all the same
    assert check(x_teal_token="s3cret-token") is Verdict.ALLOWED
    # a browser shares cookies between the ports of a host: another gateway's is not ours
    assert check(cookie="teal_console_4999=s3cret-token") is Verdict.REFUSED


def test_the_cookie_lives_under_a_secret_path_other_ports_cannot_know() -> None:
    """A browser sends 127.0.0.1's cookies to every port of it, by path: the cookie's path
    is the console's scope, derived from the token, so no other server on the machine gets
    it; and outside the scope the cookie opens nothing."""
    assert AUTH.scope not in "s3cret-token" and len(AUTH.scope) == 32
    assert ConsoleAuth("another-token", PORT).scope != AUTH.scope
    assert f"Path={AUTH.base};" in AUTH.cookie_header()
    cookie = f"teal_console_{PORT}=s3cret-token"
    assert check(cookie=cookie, path=AUTH.base + "/apps/blog") is Verdict.ALLOWED
    assert check(cookie=cookie, path="/_teal/console/") is Verdict.REFUSED
    assert check(cookie=cookie, path="/_teal/console/0123/apps") is Verdict.REFUSED
    assert check(x_teal_token="s3cret-token", path="/_teal/console/") is Verdict.ALLOWED
    assert AUTH.cookie_header().startswith(f"teal_console_{PORT}=s3cret-token;")
    assert "HttpOnly" in AUTH.cookie_header() and "SameSite=Strict" in AUTH.cookie_header()


def test_the_token_does_not_help_from_another_host_or_a_rebound_name() -> None:
    token = {"x_teal_token": "s3cret-token"}
    assert check(client="10.0.0.7", **token) is Verdict.REFUSED
    assert check(host=f"evil.example:{PORT}", **token) is Verdict.REFUSED
    assert check(host=f"localhost:{PORT}", **token) is Verdict.ALLOWED


@pytest.mark.parametrize(
    ("headers", "csrf", "allowed"),
    [
        ({"origin": ORIGIN}, AUTH.csrf_token, True),
        ({"origin": f"http://localhost:{PORT}"}, AUTH.csrf_token, True),
        ({"referer": f"{ORIGIN}/_teal/console/actions/switch?app=a"}, AUTH.csrf_token, True),
        ({"origin": ORIGIN}, "", False),  # no CSRF token
        ({"origin": ORIGIN}, "0" * 64, False),  # a forged one
        ({"origin": "http://127.0.0.1:8000"}, AUTH.csrf_token, False),  # another port: same site
        ({"origin": "null"}, AUTH.csrf_token, False),
        ({}, AUTH.csrf_token, False),  # neither Origin nor Referer
    ],
)
def test_a_change_needs_the_csrf_token_and_the_consoles_origin(
    headers: dict[str, str], csrf: str, allowed: bool
) -> None:
    verdict = AUTH.check_change(headers, {"csrf": csrf}).verdict
    assert (verdict is Verdict.ALLOWED) is allowed


# ---------------------------------------------------------------- through the gateway


class Refusing:
    async def invoke(self, spec: Any, event: Any, request_id: str) -> Any:
        raise AssertionError("no function runs for the console")


def console_gateway(tmp_path: Path) -> tuple[Gateway, ConsoleMount]:
    state = FakeServingState()
    state.put_domain(DomainRoute("blog.example.com", PORT + 1, {}))
    paths = LocalPaths(tmp_path / "home")
    token = new_token()
    write_token(paths, token)
    mount = ConsoleMount(paths, PORT, state, token)
    return Gateway(state, Refusing(), main_port=PORT, console=mount.handle, token=token), mount


def get(
    gateway: Gateway,
    path: str,
    *,
    port: int = PORT,
    method: str = "GET",
    query: str = "",
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
) -> GatewayResponse:
    sent = (("Host", f"127.0.0.1:{port}"), *headers)
    request = GatewayRequest(method, path, query, sent, body, port)
    return run(gateway.handle(request))


def header(response: GatewayResponse, name: str) -> str | None:
    return next((v for k, v in response.headers if k.lower() == name.lower()), None)


def test_the_gateway_serves_the_console_on_its_main_port_to_the_token_holder(
    tmp_path: Path,
) -> None:
    gateway, mount = console_gateway(tmp_path)
    refused = get(gateway, "/_teal/console/")
    assert refused.status == 403 and b"teal console" in refused.body

    entered = get(gateway, "/_teal/console/apps/blog", query=f"token={mount.auth.token}&x=1")
    assert entered.status == 303
    base = mount.auth.base  # /_teal/console/<scope>
    assert header(entered, "Location") == f"{base}/apps/blog?x=1"
    cookie = header(entered, "Set-Cookie")
    assert cookie == mount.auth.cookie_header()

    with_cookie = (("Cookie", cookie.split(";")[0]),)
    assert get(gateway, "/_teal/console/", headers=with_cookie).status == 403  # out of scope
    page = get(gateway, f"{base}/", headers=with_cookie)
    assert page.status == 200, page.body
    assert b"No app is deployed" in page.body
    assert "script-src 'self'" in (header(page, "Content-Security-Policy") or "")
    script = get(gateway, f"{base}/static/console.js", headers=with_cookie)
    assert script.status == 200 and b"data-live" in script.body
    assert header(script, "Content-Type") == "text/javascript; charset=utf-8"
    assert get(gateway, "/_teal/console/static/console.js").status == 403


def test_the_console_is_not_served_through_a_domains_port(tmp_path: Path) -> None:
    gateway, mount = console_gateway(tmp_path)
    token = (("X-Teal-Token", mount.auth.token),)
    on_domain = get(gateway, "/_teal/console/", port=PORT + 1, headers=token)
    assert on_domain.status == 403 and on_domain.response_type is not None  # the domain's
    assert b"console" not in on_domain.body


def test_a_post_without_the_csrf_token_starts_nothing(tmp_path: Path) -> None:
    gateway, mount = console_gateway(tmp_path)
    headers = (("X-Teal-Token", mount.auth.token), ("Origin", ORIGIN))
    body = b"app=blog&domain=blog.example.com&to=blog-dev-2"
    refused = get(
        gateway, "/_teal/console/actions/switch", method="POST", body=body, headers=headers
    )
    assert refused.status == 403 and b"stale or forged" in refused.body
    # with the CSRF token the action is planned: this app is unknown, so nothing runs either
    signed = body + f"&csrf={mount.auth.csrf_token}".encode()
    planned = get(
        gateway, "/_teal/console/actions/switch", method="POST", body=signed, headers=headers
    )
    assert planned.status == 409 and b"no app blog" in planned.body


# ---------------------------------------------------------------- the pages' data

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def stack(
    name: str, api_id: str, *, extra: str | None = None, logical: str = "RestApi"
) -> StackFacts:
    tags = {"teal:app": "blog", "teal:env": "dev", "teal:environment": name}
    if extra:
        tags["teal:extra"] = extra
    return StackFacts(
        name=name,
        status="UPDATE_COMPLETE",
        status_reason=None,
        tags=tags,
        outputs={"RestApiId": api_id, "StageName": "dev"},
        api_logical_id=logical,
        updated_at=NOW,
        routes=(
            RouteIntegration("/health", "GET", function_arn(f"{name}-health-g2")),
            RouteIntegration("/posts", "OPTIONS", None),
            RouteIntegration("/posts", "GET", function_arn(f"{name}-posts"), api_key_required=True),
        ),
        functions=(f"{name}-health-g2", f"{name}-posts", f"{name}-nightly"),
    )


def switched(frm: str, to: str, state: str = "done") -> HistoryEntry:
    return HistoryEntry(
        NOW,
        "ann",
        "switch",
        to,
        frm,
        to,
        {"domain": "blog.example.com"},
        state=state,  # type: ignore[arg-type]
    )


def blog(history: tuple[HistoryEntry, ...] = (), *, previewing: str = "") -> AppView:
    """blog-dev and blog-dev-2 (live on the domain); ``previewing``: the API a preview
    rule of the domain sends to."""
    stacks = [
        stack("blog-dev", "blue", logical="RestApi2"),
        stack("blog-dev-2", "green", extra="2"),
    ]
    rules = (RoutingRule(1, previewing, "dev", (("teal-preview", "blog-dev"),)),)
    route = DomainRoute(
        "blog.example.com", 4511, {"": ("green", "dev")}, rules if previewing else ()
    )
    domains = [DomainFacts(route, "blog")]
    traffic = {
        ("green", "dev"): TrafficPair(Traffic(60, 10, 1, 3.0, 40.0), Traffic(300, 50, 2, 3.0, 80.0))
    }
    [app] = app_views(stacks, domains, traffic, {"blog": history}, PORT)
    return app


def test_an_app_shows_its_environments_which_one_is_live_and_its_domain() -> None:
    app = blog((switched("blog-dev", "blog-dev-2"), switched("blog-dev-2", "blog-dev", "failed")))
    base, green = app.environments
    assert (base.name, base.live, base.generation, base.extra) == ("blog-dev", False, 2, None)
    assert (green.name, green.live_on, green.generation, green.extra) == (
        "blog-dev-2",
        ("blog.example.com",),
        0,
        "2",
    )
    assert green.endpoint == f"http://127.0.0.1:{PORT}/restapis/green/dev/_user_request_/"
    assert green.functions == ("health", "nightly", "posts")  # the app's names, any generation
    assert [(r.path, r.method, r.function, r.access) for r in green.routes] == [
        ("/health", "GET", "health", "open"),
        ("/posts", "OPTIONS", "", "open"),
        ("/posts", "GET", "posts", "API key"),
    ]
    assert green.traffic is not None and green.traffic.minute.requests == 10
    assert base.traffic is None
    [domain] = app.domains
    # the failed switch back left the domain where it was: rollback goes to blog-dev
    assert (domain.live, domain.previous, domain.url) == (
        "blog-dev-2",
        "blog-dev",
        "http://127.0.0.1:4511/",
    )


def test_apps_sharing_a_domain_each_show_it_with_every_base_path() -> None:
    """blog made the domain and maps /blog; shop maps /shop on it."""
    shop = stack("shop-dev", "orange")
    shop = replace(shop, tags={**shop.tags, "teal:app": "shop"})
    route = DomainRoute(
        "api.example.test", 4511, {"blog": ("blue", "dev"), "shop": ("orange", "dev")}
    )
    views = app_views([stack("blog-dev", "blue"), shop], [DomainFacts(route, "blog")], {}, {}, PORT)
    blog_view, shop_view = views
    assert [(v.name, v.domains[0].live) for v in views] == [
        ("blog", "blog-dev"),
        ("shop", "shop-dev"),
    ]
    assert [(m.base_path, m.app, m.environment) for m in shop_view.domains[0].mappings] == [
        ("/blog", "blog", "blog-dev"),
        ("/shop", "shop", "shop-dev"),
    ]
    assert blog_view.domains[0].mappings == shop_view.domains[0].mappings
    page = _templates(SimpleNamespace(base="/c", csrf_token="t"), lambda: None)  # type: ignore[arg-type]
    html = page.get_template("app_live.html").render(app=shop_view)
    assert "/blog → blog-dev (app blog)" in html and "/shop → shop-dev</li>" in html


def test_the_route_table_sets_the_environments_side_by_side() -> None:
    app = blog()
    assert app.route_table() == [
        ("/health", "GET", {"blog-dev": "health", "blog-dev-2": "health"}),
        ("/posts", "GET", {"blog-dev": "posts", "blog-dev-2": "posts"}),
        ("/posts", "OPTIONS", {"blog-dev": "(MOCK)", "blog-dev-2": "(MOCK)"}),
    ]


def test_a_started_entry_whose_lock_is_gone_was_interrupted() -> None:
    running, dead = switched("a", "b", "started"), switched("b", "a", "started")
    seen = as_seen([running, dead, switched("a", "b")], {running.id})
    assert [e.state for e in seen] == ["started", "interrupted", "done"]


def line(ms: int, request: str | None, message: str, stream: str = "s1") -> LogLine:
    return LogLine(ms, "boom", "blog-dev-boom", request, message, stream, f"{stream}:{ms}")


def test_logs_are_grouped_by_request_with_the_failure_summarised() -> None:
    lines = [
        line(1, None, "loading the app"),
        line(2, "r1", "START RequestId: r1 Version: $LATEST"),
        line(3, "r1", "hello"),
        line(4, "r1", "END RequestId: r1"),
        line(5, "r2", "START RequestId: r2 Version: $LATEST"),
        line(6, "r2", 'Traceback (most recent call last):\n  File "app.py"\nValueError: no'),
        line(7, "r2", "END RequestId: r2"),
    ]
    found = requests_of(lines)
    assert [(r.request_id, r.failed, r.summary) for r in found] == [
        ("r2", True, "ValueError: no"),
        ("r1", False, "hello"),
        (None, False, "loading the app"),
    ]
    assert found[0].anchor == "request-r2" and len(found[0].lines) == 3


# ---------------------------------------------------------------- actions


def project(tmp_path: Path) -> Path:
    root = tmp_path / "blog"
    root.mkdir()
    (root / "teal.toml").write_text('[app]\nname = "blog"\n')
    return root


def test_a_deploy_records_its_project_folder(tmp_path: Path) -> None:
    paths = LocalPaths(tmp_path / "home")
    assert project_of(paths, "blog-dev-2") is None
    remember_project(paths, "blog-dev-2", "dev", tmp_path / "blog")
    record = project_of(paths, "blog-dev-2")
    assert record is not None and (record.env, record.root) == (
        "dev",
        (tmp_path / "blog").resolve(),
    )


def test_the_last_plan_of_an_environment_is_kept_whole_and_replaced_by_the_next(
    tmp_path: Path,
) -> None:
    paths = LocalPaths(tmp_path / "home")
    assert last_plan(paths, "blog-dev") is None
    first = PlanSummary("2026-12-01T03:00:00+00:00", "teal plan", "update", False, (), ())
    renamed = PlanSummary(
        "2026-12-01T03:05:00+00:00",
        "teal plan",
        "replace",
        True,
        ("A sibling rule of the resource tree would break",),
        ("a new API gets a new endpoint",),
        ("apply the old and the new API side by side", "re-point the domain"),
    )
    remember_plan(paths, "blog-dev", first)
    remember_plan(paths, "blog-dev", renamed)
    assert last_plan(paths, "blog-dev") == renamed
    assert last_plan(paths, "blog-dev-2") is None
    (paths.home / "projects" / "blog-dev.plan.json").write_text("{not json")
    assert last_plan(paths, "blog-dev") is None  # a broken record reads as none


def test_a_switch_runs_teal_switch_in_the_target_environments_project(tmp_path: Path) -> None:
    root = project(tmp_path)
    planned = plan_switch(
        blog(), {"domain": "blog.example.com", "to": "blog-dev"}, lambda name: root
    )
    assert planned.args == ("switch", "--env", "dev", "--to", "blog-dev")
    assert planned.project == root
    assert "blog.example.com at blog-dev (it serves blog-dev-2 now)" in planned.sentence
    assert dict(planned.fields) == {"domain": "blog.example.com", "to": "blog-dev"}


@pytest.mark.parametrize(
    ("fields", "root_of", "says"),
    [
        ({"domain": "blog.example.com", "to": "blog-dev"}, lambda n: None, "deploy it again"),
        ({"domain": "blog.example.com", "to": "blog-dev"}, lambda n: Path("/nowhere"), "no teal"),
        ({"domain": "other.example.com", "to": "blog-dev"}, None, "not a domain of blog"),
        ({"domain": "blog.example.com", "to": "blog-dev-9"}, None, "not an environment"),
    ],
)
def test_a_switch_the_console_cannot_run_says_why(
    tmp_path: Path,
    fields: dict[str, str],
    root_of: Callable[[str], Path | None] | None,
    says: str,
) -> None:
    root = project(tmp_path)
    with pytest.raises(Refused, match=says):
        plan_switch(blog(), fields, root_of or (lambda name: root))


def test_a_preview_runs_teal_preview_and_ending_it_names_the_domain(tmp_path: Path) -> None:
    root = project(tmp_path)
    fields = {"domain": "blog.example.com", "to": "blog-dev"}
    planned = plan_preview(blog(), fields, lambda name: root)
    assert planned.args == (
        "preview", "--env", "dev", "--to", "blog-dev", "--domain", "blog.example.com"
    )  # fmt: skip
    assert "stays on blog-dev-2" in planned.sentence
    with pytest.raises(Refused, match="nothing to preview"):
        plan_preview(blog(), {**fields, "to": "blog-dev-2"}, lambda name: root)
    with pytest.raises(Refused, match="no preview to end"):
        plan_preview_off(blog(), fields, lambda name: root)
    previewing = blog(previewing="blue")
    assert previewing.domains[0].preview == "blog-dev"
    ended = plan_preview_off(previewing, {"domain": "blog.example.com"}, lambda name: root)
    assert ended.args == ("preview", "--off", "--env", "dev", "--domain", "blog.example.com")


def test_a_rollback_needs_an_earlier_switch(tmp_path: Path) -> None:
    root = project(tmp_path)
    with pytest.raises(Refused, match="no earlier switch"):
        plan_rollback(blog(), {"domain": "blog.example.com"}, lambda name: root)
    app = blog((switched("blog-dev", "blog-dev-2"),))
    planned = plan_rollback(app, {"domain": "blog.example.com"}, lambda name: root)
    assert planned.args == ("rollback", "--env", "dev")
    assert "back at blog-dev (it serves blog-dev-2 now)" in planned.sentence
    assert set(ACTIONS) >= {"switch", "rollback"}


def test_no_rollback_is_offered_after_a_watch_switched_back(tmp_path: Path) -> None:
    """The switch back was the rollback: another would serve what failed again."""
    back = replace(switched("blog-dev", "blog-dev-2"), action="switched-back")
    app = blog((switched("blog-dev-2", "blog-dev"), back))
    [domain] = app.domains
    assert domain.previous is None
    with pytest.raises(Refused, match="switched it back already"):
        plan_rollback(app, {"domain": "blog.example.com"}, lambda name: project(tmp_path))


def test_the_command_gets_this_local_cloud_and_no_variable_choosing_an_environment() -> None:
    environ = {"PATH": "/bin", "TEAL_EXTRA": "3", "TEAL_ENV": "prod", "TEAL_CLOUD": "aws"}
    child = child_environment(environ, LocalPaths(Path("/h")), 4600)
    assert child == {
        "PATH": "/bin",
        "TEAL_HOME": "/h",
        "TEAL_LOCAL_PORT": "4600",
        "NO_COLOR": "1",
    }


FAKE_TEAL = """\
#!{python}
import json, sys
args = sys.argv[3:]  # after "-m teal"
print("» check GET /health: ok", file=sys.stderr, flush=True)
if "--to" in args and args[args.index("--to") + 1] == "broken":
    print(json.dumps({{"error": {{"what": "1 of 1 check(s) failed"}}}}))
    sys.exit(1)
print(json.dumps({{"domain": "blog.example.com", "from": "a", "to": "b", "args": args}}))
"""


@pytest.mark.parametrize(("to", "state"), [("b", "done"), ("broken", "failed")])
def test_an_action_runs_as_a_child_and_reports_its_progress_and_answer(
    tmp_path: Path, to: str, state: str
) -> None:
    fake = tmp_path / "fake-python"
    fake.write_text(textwrap.dedent(FAKE_TEAL.format(python=sys.executable)))
    fake.chmod(0o755)
    planned = Planned("switch", "Point it", ("switch", "--env", "dev", "--to", to), tmp_path, {})

    async def go() -> Any:
        jobs = Jobs(LocalPaths(tmp_path / "home"), PORT, python=str(fake))
        job = jobs.start(planned, "blog")
        assert jobs.get(job.id) is job and job.state == "running"
        for _ in range(500):
            if job.finished:
                break
            await asyncio.sleep(0.01)
        return job

    job = run(go())
    assert job.state == state
    assert job.lines == ["» check GET /health: ok"]
    if state == "done":
        assert job.result["args"] == [
            *("switch", "--env", "dev", "--to", "b"),
            *("--project", str(tmp_path), "--cloud", "local", "--json"),
        ]
        assert job.error is None
    else:
        assert job.error == "1 of 1 check(s) failed"


def test_an_environment_shows_each_functions_alias_and_a_canary_in_progress() -> None:
    facts = replace(
        stack("blog-dev", "blue"),
        aliases={
            "blog-dev-posts": AliasState("3", "4", 20.0),
            "blog-dev-health-g2": AliasState("2"),
        },
    )
    [app] = app_views([facts], [], {}, {"blog": ()}, PORT)
    [environment] = app.environments
    assert environment.versions["posts"] == AliasState("3", "4", 20.0)
    assert list(environment.canaries) == ["posts"]
    page = _templates(AUTH, lambda: None).get_template("environment_live.html")
    html = page.render(environment=environment)
    assert "Canary in progress" in html
    assert "posts sends 20.0% to version 4 (the rest to 3)" in html
    assert "version 2" in html  # health's alias, without a canary
