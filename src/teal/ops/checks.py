"""Smoke checks: HTTP requests against an environment's endpoint or a domain URL.

Used by ``teal check``, before every switch, and by deploy before it re-points
a domain to a replaced API.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from teal.project.config import Check
from teal.runtime.entry import ENVIRONMENT_HEADER
from teal.runtime.routes import RouteTable

DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class CheckResult:
    check: Check
    url: str
    ok: bool
    status: int | None
    detail: str  # why it failed, or a short description of what passed
    served_by: str | None = None  # the environment that answered (X-Teal-Environment)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.check.path,
            "method": self.check.method,
            "url": self.url,
            "expected_status": self.check.status,
            "status": self.status,
            "ok": self.ok,
            "detail": self.detail,
        }


def checks_for(configured: Sequence[Check], table: RouteTable | None) -> tuple[list[Check], bool]:
    """The configured checks, or (when none) a GET of every route without variables that
    anyone may call (a check sends no token and no API key).

    The flag says whether the checks were derived rather than configured.
    """
    if configured:
        return list(configured), False
    if table is None:
        return [], True
    paths = sorted(
        {
            r.path
            for r in table.routes
            if ("GET" in r.methods or "ANY" in r.methods)
            and not any(p.is_variable for p in r.parts)
            and r.authorizer is None
            and not r.api_key_required
        }
    )
    return [Check(path=p, status=200) for p in paths], True


def health_check(configured: Sequence[Check], table: RouteTable | None) -> Check:
    """The one request that says an environment is up: the first check, else GET / (200)."""
    checks, _ = checks_for(configured, table)
    return checks[0] if checks else Check(path="/", status=200)


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


def run_check(
    base_url: str,
    check: Check,
    timeout: float = DEFAULT_TIMEOUT_S,
    headers: Mapping[str, str] | None = None,
) -> CheckResult:
    """One check; ``headers`` go with the request (a preview's header, say)."""
    url = join_url(base_url, check.path)
    request = urllib.request.Request(url, method=check.method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body, answered = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, body, answered = error.code, error.read(), error.headers
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return CheckResult(check, url, False, None, f"no response: {reason}")
    return _judge(check, url, status, body.decode("utf-8", "replace"), dict(answered.items()))


def _judge(check: Check, url: str, status: int, body: str, headers: dict[str, str]) -> CheckResult:
    lowered = {k.lower(): v for k, v in headers.items()}
    served_by = lowered.get(ENVIRONMENT_HEADER.lower())
    failure = _failure(check, status, body, lowered)
    detail = failure or f"status {status}"
    return CheckResult(check, url, failure is None, status, detail, served_by)


def _failure(check: Check, status: int, body: str, headers: dict[str, str]) -> str | None:
    if status != check.status:
        return f"status {status}, expected {check.status}"
    if check.contains is not None and check.contains not in body:
        return f"body lacks {check.contains!r}"
    if check.header is not None:
        name, _, value = check.header.partition(":")
        found = headers.get(name.strip().lower())
        if found is None or (value.strip() and found.strip() != value.strip()):
            return f"header {check.header!r} missing"
    return None


def run_checks(
    base_url: str, checks: Sequence[Check], headers: Mapping[str, str] | None = None
) -> list[CheckResult]:
    return [run_check(base_url, check, headers=headers) for check in checks]


APP_ANSWERS_TO_GIVE_UP = 3


def wait_until_healthy(
    base_url: str,
    check: Check,
    *,
    deadline_s: float = 60.0,
    interval_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> CheckResult:
    """Poll one check until it passes or the deadline passes (new APIs take a moment).

    A failing answer from the app itself (it carries the environment header, so
    the API, its routes and the function are all in place) will not change by
    waiting: a few of them in a row end the wait early.
    """
    end = clock() + deadline_s
    app_failures = 0
    while True:
        result = run_check(base_url, check)
        app_failures = app_failures + 1 if result.served_by is not None else 0
        if result.ok or clock() >= end or app_failures >= APP_ANSWERS_TO_GIVE_UP:
            return result
        sleep(interval_s)
