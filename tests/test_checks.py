"""Smoke checks against a tiny HTTP server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from teal.ops.checks import APP_ANSWERS_TO_GIVE_UP, wait_until_healthy
from teal.project.config import Check
from teal.runtime.entry import ENVIRONMENT_HEADER


class _Answers(BaseHTTPRequestHandler):
    """500 from "the app" (stamped with the environment header) or from "the gateway"."""

    stamped = True
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        self.send_response(500)
        if self.stamped:
            self.send_header(ENVIRONMENT_HEADER, "blog-dev")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"no")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Answers]]]:
    handler = type("Answers", (_Answers,), {"requests": 0})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", handler
    httpd.shutdown()


def test_the_apps_own_failing_answer_ends_the_wait_early(
    server: tuple[str, type[_Answers]],
) -> None:
    url, handler = server
    slept: list[float] = []
    result = wait_until_healthy(url, Check("/health"), deadline_s=60, sleep=slept.append)
    assert not result.ok and result.status == 500
    assert handler.requests == APP_ANSWERS_TO_GIVE_UP


def test_an_unstamped_failure_is_waited_out_until_the_deadline(
    server: tuple[str, type[_Answers]],
) -> None:
    url, handler = server
    handler.stamped = False
    ticks = iter(range(100))
    result = wait_until_healthy(
        url, Check("/health"), deadline_s=10, sleep=lambda _s: None, clock=lambda: next(ticks)
    )
    assert not result.ok
    assert handler.requests == 10  # the API may still be on its way: ask until the deadline


def test_derived_checks_leave_out_routes_a_check_cannot_call() -> None:
    """A check sends no token and no key: a route behind an authorizer or an API key
    would answer 401/403 and fail every replacement behind a domain."""
    from teal import App, allow
    from teal.ops.checks import checks_for

    app = App()
    app.authorizer("jwt")(lambda event, context: allow("x"))
    app.route("/open", function="a")(lambda request: {})
    app.route("/orders", function="b", authorizer="jwt")(lambda request: {})
    app.route("/admin", function="c", authorizer="aws_iam")(lambda request: {})
    app.route("/stock", function="d", api_key_required=True)(lambda request: {})
    checks, derived = checks_for([], app.routes())
    assert derived and [c.path for c in checks] == ["/open"]
