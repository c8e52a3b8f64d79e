"""AWS's payload limits over real HTTP, through a gateway process and real workers.

API Gateway refuses a body over 10 MB; Lambda refuses an event over 6 MB
(413 through API Gateway) and a result over 6 MB (502). See docs/limits.md.
The gateway keeps no body Lambda would refuse, and no more bodies at once
than its room for them: past it, it throttles as API Gateway does (429).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from teal.cloud.local.functions.workers import MAX_EVENT_BYTES, MAX_RESULT_BYTES
from teal.cloud.local.gateway.handler import MAX_BODY_BYTES
from teal.cloud.local.gateway.lifecycle import health
from teal.cloud.local.gateway.main import BODY_MEMORY_VARIABLE
from teal.cloud.local.gateway.own_endpoints import token_headers
from test_gateway_support import Cloud, cloud, free_port

__all__ = ["cloud"]  # the fixture

TOO_LONG = b'{"message": "Request Too Long"}'
INTERNAL = b'{"message": "Internal server error"}'
THROTTLED = b'{"message":"Too Many Requests"}'
MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'
MB = 1024 * 1024


def api(path: str) -> str:
    return f"/restapis/blue/dev/_user_request_{path}"


def send(
    port: int, method: str, path: str, body: bytes = b""
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": "text/plain"}
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def send_chunked(port: int, path: str, total: int, chunk: int = MB) -> tuple[int, bytes]:
    """POST ``total`` bytes without a Content-Length; the answer's status and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: text/plain\r\n\r\n".encode()
        )
        piece = b"a" * chunk
        for _ in range(total // chunk):
            sock.sendall(b"%x\r\n%s\r\n" % (chunk, piece))
        sock.sendall(b"0\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def start_upload(port: int, path: str, size: int) -> socket.socket:
    """A connection that has sent the head of a POST of ``size`` bytes, and no body yet."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {size}\r\n\r\n".encode()
    )
    return sock


def bodies(cloud: Cloud) -> dict[str, Any]:
    """The gateway's figures of the bodies it keeps, from its health answer."""
    answer = health(cloud.paths, cloud.port, timeout_s=10)
    assert answer is not None
    figures: dict[str, Any] = answer["bodies"]
    return figures


def peak_rss_kb(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_body_over_api_gateways_limit_is_refused_without_being_held(cloud: Cloud) -> None:
    pid = cloud.start()
    before = peak_rss_kb(pid)
    status, headers, body = send(cloud.port, "POST", api("/upload"), b"a" * (MAX_BODY_BYTES + 1))
    assert (status, body) == (413, TOO_LONG)
    assert headers["x-amzn-ErrorType"] == "BadRequestException"
    assert headers["x-amzn-RequestId"]
    # without a Content-Length the gateway reads up to the limit and stops there
    assert send_chunked(cloud.port, api("/upload"), 50 * MB) == (413, TOO_LONG)
    grown_mb = (peak_rss_kb(pid) - before) / 1024
    assert grown_mb < 25, f"the gateway's peak memory grew by {grown_mb:.0f} MB"
    assert send(cloud.port, "GET", api("/hello"))[0] == 200  # and it still serves


def test_lambdas_event_limit_answers_413_on_every_path(cloud: Cloud) -> None:
    domain_port = free_port()
    cloud.map_domain(domain_port, "blue")
    cloud.start()
    under = MAX_EVENT_BYTES - 64 * 1024  # the rest of the event is far smaller than 64 kB
    status, _, body = send(cloud.port, "POST", api("/upload"), b"a" * under)
    assert (status, json.loads(body)) == (200, {"received": under})
    for port, path in ((cloud.port, api("/upload")), (domain_port, "/upload")):
        status, headers, body = send(port, "POST", path, b"a" * MAX_EVENT_BYTES)
        assert (status, body) == (413, TOO_LONG), port
        assert headers["x-amzn-ErrorType"] == "BadRequestException"
    # base64 counts: a binary body of 3/4 of the limit no longer fits in the event
    binary = b"\xff" * (MAX_EVENT_BYTES * 3 // 4)
    connection = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=60)
    connection.request("POST", api("/upload"), body=binary, headers={"Content-Type": "image/png"})
    response = connection.getresponse()
    assert (response.status, response.read()) == (413, TOO_LONG)
    connection.close()


def test_lambdas_result_limit_answers_502_and_the_next_request_is_served(
    cloud: Cloud,
) -> None:
    cloud.start()
    status, _, body = send(cloud.port, "GET", api(f"/sized?n={MAX_RESULT_BYTES}"))
    assert (status, len(body)) == (200, MAX_RESULT_BYTES - len('{"statusCode":200,"body":""}'))
    status, headers, body = send(cloud.port, "GET", api(f"/sized?n={MAX_RESULT_BYTES + 1}"))
    assert (status, body) == (502, INTERNAL)
    assert headers["x-amzn-ErrorType"] == "InternalServerErrorException"
    log = "".join(p.read_text() for p in (cloud.paths.logs / "blue-sized").iterdir())
    assert "Function.ResponseSizeTooLarge" in log
    assert send(cloud.port, "GET", api("/sized?n=100"))[0] == 200


def test_a_body_over_lambdas_limit_is_read_without_being_kept(cloud: Cloud) -> None:
    pid = cloud.start()
    before = peak_rss_kb(pid)
    size = MAX_EVENT_BYTES + 1  # within API Gateway's limit, over Lambda's
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda _: send(cloud.port, "POST", api("/upload"), b"a" * size), range(4))
        )
    assert [(status, body) for status, _, body in answers] == [(413, TOO_LONG)] * 4
    assert answers[0][1]["x-amzn-ErrorType"] == "BadRequestException"
    # such a request is routed as any other: API Gateway's answer where no route is
    status, _, body = send(cloud.port, "POST", api("/nowhere"), b"a" * size)
    assert (status, body) == (403, MISSING_TOKEN)
    # Lambda's Invoke refuses such a payload too
    event = json.dumps({"pad": "a" * size}).encode()
    invoke = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=60)
    invoke.request("POST", "/_teal/invoke/blue-upload", event, token_headers(cloud.paths))
    answer = json.loads(invoke.getresponse().read())
    invoke.close()
    assert answer["error"]["type"] == "RequestEntityTooLargeException"
    assert bodies(cloud)["peak_bytes"] == 0  # not a byte of them was kept
    grown_mb = (peak_rss_kb(pid) - before) / 1024
    assert grown_mb < 25, f"the gateway's peak memory grew by {grown_mb:.0f} MB"
    # without a Content-Length, a body is kept until it passes the limit, then dropped
    assert send_chunked(cloud.port, api("/upload"), 8 * MB) == (413, TOO_LONG)
    assert bodies(cloud)["held_bytes"] == 0


def test_bodies_past_the_gateways_room_are_throttled_as_api_gateway_throttles(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = 3 * MB
    monkeypatch.setenv(BODY_MEMORY_VARIABLE, str(room))
    cloud.start()
    with start_upload(cloud.port, api("/upload"), 2 * MB) as first:
        first.sendall(b"a" * MB)  # half of its body: room for all of it is kept
        deadline = time.monotonic() + 10
        while bodies(cloud)["held_bytes"] != 2 * MB:
            assert time.monotonic() < deadline, "the first upload took no room"
            time.sleep(0.05)
        status, headers, body = send(cloud.port, "POST", api("/upload"), b"b" * 2 * MB)
        assert (status, body) == (429, THROTTLED)
        assert headers["x-amzn-ErrorType"] == "TooManyRequestsException"
        assert headers["x-amzn-RequestId"]
        # a body that fits beside the first is served
        status, _, body = send(cloud.port, "POST", api("/upload"), b"c" * (MB // 2))
        assert (status, json.loads(body)) == (200, {"received": MB // 2})
        first.sendall(b"a" * MB)
        response = http.client.HTTPResponse(first)
        response.begin()
        assert (response.status, json.loads(response.read())) == (200, {"received": 2 * MB})
    # its room is given back once it is answered
    status, _, body = send(cloud.port, "POST", api("/upload"), b"d" * 2 * MB)
    assert (status, json.loads(body)) == (200, {"received": 2 * MB})
    figures = bodies(cloud)
    assert (figures["held_bytes"], figures["limit_bytes"], figures["throttled"]) == (0, room, 1)
    assert figures["peak_bytes"] <= room
