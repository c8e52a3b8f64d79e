"""The gateway's own endpoints (``/_teal/`` on its main port) answer teal alone.

Over real HTTP, against a gateway process: every path under ``/_teal/`` —
health, invoke, the console, and any path not written yet — refuses a call
without the gateway's token, with a wrong one, at a name other than loopback
(a DNS-rebound name), from another origin, and a browser's simple request
(a ``text/plain`` POST, which needs no preflight) from a page of another
site; a preflight gets no CORS permission. With the token, from loopback,
teal's own calls work: ``teal invoke`` and the health call every command
makes.
"""

from __future__ import annotations

import http.client
import json

import pytest

from proxy_event_samples import proxy_event
from teal.cloud.local.gateway.own_endpoints import TOKEN_HEADER, read_token
from test_gateway_support import Cloud, cloud

__all__ = ["cloud"]  # the fixture

FOREIGN_ORIGIN = "http://evil.example"
# (method, path, body): every kind of own endpoint, and one that does not exist yet
SURFACE = (
    ("GET", "/_teal/health", b""),
    ("POST", "/_teal/invoke/blue-count", json.dumps(proxy_event("/count", "/count")).encode()),
    ("GET", "/_teal/console/", b""),
    ("POST", "/_teal/console/actions/switch", b"app=blog&to=blog-dev-2"),
    ("GET", "/_teal/anything-added-later", b""),
    ("POST", "/_teal/invoke-v2/blue-count", b"{}"),
)


@pytest.fixture
def running(cloud: Cloud) -> Cloud:
    cloud.start()
    return cloud  # the cloud fixture stops the gateway


def call(
    cloud: Cloud, method: str, path: str, body: bytes = b"", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=30)
    try:
        sent = {"Host": f"127.0.0.1:{cloud.port}", **headers}
        connection.request(method, path, body, {k.replace("_", "-"): v for k, v in sent.items()})
        response = connection.getresponse()
        answer = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, answer
    finally:
        connection.close()


def token_of(cloud: Cloud) -> str:
    token = read_token(cloud.paths)
    assert token is not None
    return token


@pytest.mark.parametrize(("method", "path", "body"), SURFACE)
def test_without_the_gateways_token_nothing_under_teal_answers(
    running: Cloud, method: str, path: str, body: bytes
) -> None:
    token = token_of(running)
    refused = [
        call(running, method, path, body),
        call(running, method, path, body, **{TOKEN_HEADER: "not-the-token"}),
        call(running, method, path, body, **{TOKEN_HEADER: token[:-1]}),
        # a DNS-rebound name: the page's own, resolving to 127.0.0.1
        call(running, method, path, body, Host=f"evil.example:{running.port}"),
        call(
            running,
            method,
            path,
            body,
            Host=f"evil.example:{running.port}",
            **{TOKEN_HEADER: token},
        ),
    ]
    assert [status for status, _, _ in refused] == [403] * len(refused)
    for _, _, answer in refused:
        assert b"home" not in answer and str(running.paths.home).encode() not in answer


@pytest.mark.parametrize(("method", "path", "body"), SURFACE)
def test_a_page_of_another_site_gets_nothing_even_by_a_simple_request(
    running: Cloud, method: str, path: str, body: bytes
) -> None:
    simple = call(
        running,
        method,
        path,
        body,
        Content_Type="text/plain",
        Origin=FOREIGN_ORIGIN,
        Sec_Fetch_Site="cross-site",
    )
    preflight = call(
        running,
        "OPTIONS",
        path,
        Origin=FOREIGN_ORIGIN,
        Access_Control_Request_Method="POST",
        Access_Control_Request_Headers=TOKEN_HEADER,
    )
    for status, headers, _ in (simple, preflight):
        assert status == 403
        assert not any(name.startswith("access-control-allow") for name in headers)
    # the token does not help a call that names another origin
    with_token = call(
        running, method, path, body, Origin=FOREIGN_ORIGIN, **{TOKEN_HEADER: token_of(running)}
    )
    assert with_token[0] == 403


def test_refused_calls_run_no_function_and_teals_own_call_does(running: Cloud) -> None:
    _, path, body = SURFACE[1]
    for headers in (
        {},
        {TOKEN_HEADER: "wrong"},
        {"Content_Type": "text/plain", "Origin": FOREIGN_ORIGIN},
    ):
        assert call(running, "POST", path, body, **headers)[0] == 403
    status, _, answer = call(running, "POST", path, body, **{TOKEN_HEADER: token_of(running)})
    assert status == 200
    result = json.loads(answer)["result"]
    assert json.loads(result["body"])["n"] == 1  # the first run: no refused call ran it


def test_teals_own_calls_pass_at_either_loopback_name(running: Cloud) -> None:
    token = {TOKEN_HEADER: token_of(running)}
    for host in (f"127.0.0.1:{running.port}", f"localhost:{running.port}"):
        status, _, answer = call(running, "GET", "/_teal/health", Host=host, **token)
        assert status == 200 and json.loads(answer)["home"] == str(running.paths.home)
    same_origin = call(
        running, "GET", "/_teal/health", Origin=f"http://127.0.0.1:{running.port}", **token
    )
    assert same_origin[0] == 200
    missing = call(running, "GET", "/_teal/nothing-here", **token)
    assert missing[0] == 404  # past the guard, an unknown path is only unknown


def test_a_refusal_says_a_teal_gateway_answers_and_nothing_more(running: Cloud) -> None:
    """So that a command of another TEAL_HOME can say whose the port is, without the home."""
    status, _, answer = call(running, "GET", "/_teal/health")
    assert status == 403
    assert set(json.loads(answer)) == {"message", "service"}
