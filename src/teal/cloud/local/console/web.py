"""The console's requests: the token check, a table of pages, and HTML out.

Every request passes :class:`ConsoleAuth` first. A page is read and rendered
in a thread (the store, the log files and Jinja2 stay off the gateway's event
loop); a ``.../live`` page is the part of its page that the console's script
fetches again every few seconds. A POST is an action: its CSRF token and
origin are checked, then it is planned (:data:`ACTIONS`) and started, and the
browser is sent to the job's page.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

import jinja2

from teal.cloud.local.console.actions import ACTIONS, Jobs, Planned, Refused
from teal.cloud.local.console.auth import (
    CSRF_FIELD,
    TOKEN_PARAMETER,
    ConsoleAuth,
    Verdict,
)
from teal.cloud.local.console.data import AppView, ConsoleReader
from teal.cloud.local.gateway.handler import CONSOLE_PATH, GatewayRequest, GatewayResponse
from teal.cloud.local.gateway.supervision import Supervision
from teal.cloud.local.model import ServingState
from teal.cloud.local.paths import LocalPaths

LIVE_EVERY_MS = 1500
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS = (
    # our own script and style only: no inline code, nothing fetched from elsewhere
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    # same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with a
    # form, and the origin check could no longer tell the console's own forms apart
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)


@dataclass(frozen=True)
class Page:
    """A template and what it shows (rendered in a thread)."""

    template: str
    context: Mapping[str, Any]
    status: int = 200


class NotFound(Exception):
    pass


Params = dict[str, str]
Handler = Callable[["Console", Params, Mapping[str, str]], Page]


# the pages: (method, path under the console, handler); names in {braces} are path parts
def _routes() -> list[tuple[str, re.Pattern[str], Handler]]:
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/", lambda c, p, q: c.index_page()),
        ("GET", "/apps/{app}", lambda c, p, q: c.app_page(p["app"], "app.html")),
        ("GET", "/apps/{app}/live", lambda c, p, q: c.app_page(p["app"], "app_live.html")),
        ("GET", "/apps/{app}/routes", lambda c, p, q: c.routes_page(p["app"])),
        ("GET", "/apps/{app}/history", lambda c, p, q: c.app_page(p["app"], "history.html")),
        (
            "GET",
            "/apps/{app}/environments/{environment}",
            lambda c, p, q: c.environment_page(p, "environment.html"),
        ),
        (
            "GET",
            "/apps/{app}/environments/{environment}/live",
            lambda c, p, q: c.environment_page(p, "environment_live.html"),
        ),
        (
            "GET",
            "/apps/{app}/environments/{environment}/logs/{function}",
            lambda c, p, q: c.logs_page(p),
        ),
        ("GET", "/actions/{action}", lambda c, p, q: c.confirm_page(p["action"], q)),
        ("GET", "/jobs/{job}", lambda c, p, q: c.job_page(p["job"], "job.html")),
        ("GET", "/jobs/{job}/live", lambda c, p, q: c.job_page(p["job"], "job_live.html")),
    ]
    return [(method, _pattern(path), handler) for method, path, handler in table]


def _pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path.rstrip("/"))
    return re.compile(f"^{regex}/?$")


class Console:
    """The console of one gateway."""

    def __init__(
        self,
        paths: LocalPaths,
        port: int,
        state: ServingState,
        auth: ConsoleAuth,
        jobs: Jobs | None = None,
    ) -> None:
        self.auth = auth
        self.reader = ConsoleReader(paths, port, state)
        self.jobs = jobs or Jobs(paths, port)
        self.routes = _routes()
        self.templates = _templates(auth, self.reader.restarts)

    # ------------------------------------------------------------ requests

    async def handle(self, request: GatewayRequest) -> GatewayResponse:
        headers = {name.lower(): value for name, value in request.headers}
        checked = self.auth.check(
            request.method, headers, request.query_string, request.client_ip, request.path
        )
        if checked.verdict is Verdict.REFUSED:
            return self._refused(checked.reason)
        if checked.verdict is Verdict.SET_COOKIE:
            return _keep_token_in_cookie(request, self.auth)
        inner = self._inner(request.path)
        if inner.startswith("/static/") and request.method == "GET":
            return _static(inner.removeprefix("/static/"))
        if request.method == "POST":
            return await self._post(inner, headers, request.body)
        query = dict(parse_qsl(request.query_string))
        matched = self._match(request.method, inner)
        if matched is None:
            return await self._render(partial(_not_found_page, inner))
        handler, params = matched
        return await self._render(partial(handler, self, params, query))

    def _inner(self, path: str) -> str:
        """The page's path below the scope (a script with the token header may leave the
        scope out)."""
        base = self.auth.base
        if path == base or path.startswith(base + "/"):
            return path[len(base) :] or "/"
        return path[len(CONSOLE_PATH) :] or "/"

    def _match(self, method: str, inner: str) -> tuple[Handler, Params] | None:
        for allowed, pattern, handler in self.routes:
            found = pattern.match(inner)
            if found and allowed == method:
                return handler, {k: unquote(v) for k, v in found.groupdict().items()}
        return None

    async def _render(self, page: Callable[[], Page]) -> GatewayResponse:
        return await asyncio.to_thread(self._render_now, page)

    def _render_now(self, page: Callable[[], Page]) -> GatewayResponse:
        try:
            chosen = page()
        except NotFound as missing:
            chosen = _not_found_page(str(missing))
        body = self.templates.get_template(chosen.template).render(**chosen.context)
        return _html(chosen.status, body)

    async def _post(self, inner: str, headers: Mapping[str, str], body: bytes) -> GatewayResponse:
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        checked = self.auth.check_change(headers, form)
        if checked.verdict is not Verdict.ALLOWED:
            return self._refused(checked.reason)
        found = re.match(r"^/actions/(?P<action>[a-z-]+)/?$", inner)
        if found is None or found.group("action") not in ACTIONS:
            return _html(404, "no such action")
        try:
            planned = await asyncio.to_thread(self.plan, found.group("action"), form)
        except (Refused, NotFound) as refused:
            return await self._render(partial(_refused_action_page, str(refused)))
        job = self.jobs.start(planned, form["app"])
        return _redirect(f"{self.auth.base}/jobs/{job.id}")

    def _refused(self, reason: str) -> GatewayResponse:
        body = self.templates.get_template("refused.html").render(reason=reason)
        return _html(403, body)

    # ------------------------------------------------------------ pages

    def plan(self, action: str, fields: Mapping[str, str]) -> Planned:
        app = self._app(fields.get("app", ""))
        return ACTIONS[action].plan(app, fields, self.reader.project_root)

    def _app(self, name: str) -> AppView:
        app = self.reader.app(name)
        if app is None:
            raise NotFound(f"no app {name} in this local cloud")
        return app

    def index_page(self) -> Page:
        return Page("index.html", {"apps": self.reader.apps(), "jobs": self.jobs.recent()[:10]})

    def app_page(self, name: str, template: str) -> Page:
        return Page(template, {"app": self._app(name)})

    def routes_page(self, name: str) -> Page:
        app = self._app(name)
        return Page("routes.html", {"app": app, "plans": self.reader.last_plans(app)})

    def environment_page(self, params: Params, template: str) -> Page:
        app = self._app(params["app"])
        environment = app.environment(params["environment"])
        if environment is None:
            raise NotFound(f"no environment {params['environment']} in {app.name}")
        root = self.reader.project_root(environment.name)
        return Page(template, {"app": app, "environment": environment, "project": root})

    def logs_page(self, params: Params) -> Page:
        app = self._app(params["app"])
        environment = app.environment(params["environment"])
        if environment is None:
            raise NotFound(f"no environment {params['environment']} in {app.name}")
        logs = self.reader.function_logs(environment.name, params["function"])
        return Page("logs.html", {"app": app, "environment": environment, "logs": logs})

    def confirm_page(self, action: str, query: Mapping[str, str]) -> Page:
        if action not in ACTIONS:
            raise NotFound(f"no action {action}")
        try:
            planned = self.plan(action, query)
        except Refused as refused:
            return _refused_action_page(str(refused))
        return Page(
            "confirm.html",
            {"planned": planned, "app": query.get("app", ""), "action": ACTIONS[action]},
        )

    def job_page(self, job_id: str, template: str) -> Page:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no action {job_id} (the gateway keeps the latest ones)")
        return Page(template, {"job": job})


def _not_found_page(what: str) -> Page:
    return Page("missing.html", {"what": what}, 404)


def _refused_action_page(reason: str) -> Page:
    return Page("action_refused.html", {"reason": reason}, 409)


# ---------------------------------------------------------------- responses


def _html(status: int, body: str) -> GatewayResponse:
    headers = (("Content-Type", "text/html; charset=utf-8"), *SECURITY_HEADERS)
    return GatewayResponse(status, headers, body.encode())


def _redirect(location: str, *extra: tuple[str, str]) -> GatewayResponse:
    headers = (("Location", location), *extra, *SECURITY_HEADERS)
    return GatewayResponse(303, headers, b"")


def _keep_token_in_cookie(request: GatewayRequest, auth: ConsoleAuth) -> GatewayResponse:
    """The token from the URL into the cookie; the same page again, without it."""
    rest = [(k, v) for k, v in parse_qsl(request.query_string) if k != TOKEN_PARAMETER]
    inner = request.path.removeprefix(auth.base).removeprefix(CONSOLE_PATH).lstrip("/")
    location = f"{auth.base}/{quote(inner)}" + (f"?{urlencode(rest)}" if rest else "")
    return _redirect(location, ("Set-Cookie", auth.cookie_header()))


def _static(name: str) -> GatewayResponse:
    kind = next((t for suffix, t in STATIC_TYPES.items() if name.endswith(suffix)), None)
    folder = resources.files("teal.cloud.local.console") / "static"
    if kind is None or "/" in name or not (folder / name).is_file():
        return _html(404, "no such file")
    headers = (("Content-Type", kind), *SECURITY_HEADERS)
    return GatewayResponse(200, headers, (folder / name).read_bytes())


# ---------------------------------------------------------------- templates


def _templates(auth: ConsoleAuth, restarts: Callable[[], Supervision | None]) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("teal.cloud.local.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(
        base=auth.base,
        csrf_field=CSRF_FIELD,
        csrf_token=auth.csrf_token,
        live_every_ms=LIVE_EVERY_MS,
        actions=ACTIONS,
        gateway_restarts=restarts,  # every page says it when the gateway was restarted
    )
    environment.filters.update(
        q=lambda text: quote(str(text), safe=""),
        ms=_ms,
        when=_when,
        time_ms=_time_ms,
        query=urlencode,
    )
    return environment


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _when(value: datetime | float | None) -> str:
    if value is None:
        return "-"
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _time_ms(value: int) -> str:
    return datetime.fromtimestamp(value / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]


__all__ = ["Console", "Page"]
