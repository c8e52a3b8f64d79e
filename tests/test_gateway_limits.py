"""AWS's payload limits over real HTTP, through a gateway process and real workers.

API Gateway refuses a body over 10 MB; Lambda refuses an event over 6 MB
(413 through API Gateway) and a result over 6 MB (502). See docs/limits.md.
"""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path

from teal.cloud.local.functions.workers import MAX_EVENT_BYTES, MAX_RESULT_BYTES
from teal.cloud.local.gateway.handler import MAX_BODY_BYTES
from test_gateway_support import Cloud, cloud, free_port

__all__ = ["cloud"]  # the fixture

TOO_LONG = b'{"message": "Request Too Long"}'
INTERNAL = b'{"message": "Internal server error"}'
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
