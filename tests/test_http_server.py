"""The gateway's HTTP/1.1 server over real sockets on loopback, around a scripted handler.

What a client sees on the wire (framing, keep-alive, pipelining, limits, errors,
closing) is the server's; what the handler sees is the request as the client
wrote it. The gateway itself is left out: its HTTP tests run a gateway process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs

import pytest

from teal.cloud.local.gateway.handler import GatewayRequest, GatewayResponse
from teal.cloud.local.gateway.http_server import (
    HEADER_VALUES_LIMIT,
    KEEP_ALIVE_S,
    HttpListener,
)
from teal.cloud.local.gateway.main import event_loop_factory
from teal.cloud.local.gateway.supervision import bind
from teal.runtime.routes import URL_LENGTH_LIMIT
from test_gateway_support import free_port

T = TypeVar("T")
LIMIT = 1000  # the scripted handler's body limit (the gateway's is 10 MB)
MB = 1024 * 1024


class Scripted:
    """Answers by path; records what it was given and when each request started and ended."""

    max_body_bytes = LIMIT
    max_kept_body_bytes = LIMIT

    def __init__(self) -> None:
        self.requests: list[GatewayRequest] = []
        self.events: list[str] = []

    async def handle(self, request: GatewayRequest) -> GatewayResponse:
        self.requests.append(request)
        name = f"{request.path}?{request.query_string}"
        self.events.append(f"start {name}")
        try:
            return await self._answer(request, parse_qs(request.query_string))
        finally:
            self.events.append(f"end {name}")

    async def _answer(
        self, request: GatewayRequest, query: dict[str, list[str]]
    ) -> GatewayResponse:
        if request.body_too_large:
            return GatewayResponse(413, (("Content-Type", "text/plain"),), b"too long")
        if request.throttled:
            return GatewayResponse(429, (("Content-Type", "text/plain"),), b"no room")
        if request.path == "/slow":
            await asyncio.sleep(float(query["s"][0]))
            return GatewayResponse(200, (), b"slow done")
        if request.path == "/big":
            return GatewayResponse(200, (), b"b" * int(query["n"][0]))
        if request.path == "/framing":
            headers = (
                ("Content-Length", "999"),
                ("Transfer-Encoding", "chunked"),
                ("Connection", "close"),
                ("X-Kept", "1"),
            )
            return GatewayResponse(200, headers, b"abc")
        if request.path == "/header":  # one header, as the query gives it
            return GatewayResponse(200, ((query["name"][0], query["value"][0]),), b"ok")
        if request.path == "/fail":
            raise RuntimeError("the state could not be read")
        if request.path == "/status":  # the status the query gives, with a body
            return GatewayResponse(int(query["code"][0]), (), b"abc")
        seen = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "headers": request.headers,
            "body": request.body.decode("latin-1"),
            "body_dropped": request.body_dropped,
            "protocol": request.protocol,
            "client_ip": request.client_ip,
            "local_port": request.local_port,
        }
        return GatewayResponse(200, (("X-MiXeD-Answer", "Kept"),), json.dumps(seen).encode())


class Server:
    """An HttpListener on a free port, in an event loop of its own thread (uvloop if any)."""

    def __init__(self, keep_alive_s: float) -> None:
        self.handler = Scripted()
        self.loop = (event_loop_factory() or asyncio.new_event_loop)()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.listener = HttpListener(self.handler, bind(free_port()), keep_alive_s=keep_alive_s)
        self.call(self.listener.start())
        self.port = self.listener.port
        self._closing: concurrent.futures.Future[None] | None = None

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(10)

    def close_listener(self) -> concurrent.futures.Future[None]:
        self._closing = asyncio.run_coroutine_threadsafe(self.listener.close(), self.loop)
        return self._closing

    def stop(self) -> None:
        (self._closing or self.close_listener()).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(keep_alive_s: float = KEEP_ALIVE_S) -> Server:
        servers.append(Server(keep_alive_s))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(serve: Callable[..., Server]) -> Server:
    return serve()


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]  # as on the wire
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"{name} more than once: {self.headers}"
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A raw connection: requests written as bytes, answers read one by one."""

    def __init__(self, port: int, *, receive_buffer: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # before connecting: the window is set then
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.reader = self.sock.makefile("rb")

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reader.close()
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def get(self, target: str, *headers: str) -> Answer:
        self.send(request("GET", target, *headers))
        return self.answer()

    def answer(self, *, head: bool = False) -> Answer:
        status_line = self.reader.readline()
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        headers = []
        while (line := self.reader.readline()) != b"\r\n":
            name, _, value = line.decode("latin-1").rstrip("\r\n").partition(": ")
            headers.append((name, value))
        answer = Answer(int(status_line.split()[1]), headers, b"")
        length = answer.header("Content-Length")
        if not head and length is not None:
            answer.body = self.reader.read(int(length))
        return answer

    def closed(self) -> bool:
        """Whether the server closed the connection (and sent nothing more)."""
        try:
            return self.reader.read(1) == b""
        except ConnectionResetError:
            return True


def request(method: str, target: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: test", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def eventually(check: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# ---------------------------------------------------------------- connections


def test_a_connection_serves_several_requests(server: Server) -> None:
    with Client(server.port) as client:
        for n in range(3):
            answer = client.get(f"/echo?n={n}")
            assert answer.status == 200
            assert answer.header("Connection") is None
            assert answer.json()["query"] == f"n={n}"
    seen = server.handler.requests[0]
    assert (seen.method, seen.path, seen.protocol) == ("GET", "/echo", "HTTP/1.1")
    assert (seen.client_ip, seen.local_port) == ("127.0.0.1", server.port)


def test_pipelined_requests_are_handled_one_at_a_time_and_answered_in_order(
    server: Server,
) -> None:
    with Client(server.port) as client:
        client.send(request("GET", "/slow?s=0.3") + request("GET", "/echo?n=2") * 2)
        assert client.answer().body == b"slow done"
        assert [client.answer().json()["query"] for _ in range(2)] == ["n=2", "n=2"]
    assert server.handler.events[:3] == ["start /slow?s=0.3", "end /slow?s=0.3", "start /echo?n=2"]


def test_a_client_that_asks_to_close_is_answered_then_closed(server: Server) -> None:
    with Client(server.port) as client:
        answer = client.get("/echo", "Connection: close")
        assert (answer.status, answer.header("Connection")) == (200, "close")
        assert client.closed()


def test_http_1_0_closes_unless_the_client_asks_to_keep_the_connection(server: Server) -> None:
    with Client(server.port) as client:
        client.send(b"GET /echo HTTP/1.0\r\n\r\n")
        answer = client.answer()
        assert answer.json()["protocol"] == "HTTP/1.0"
        assert answer.header("Connection") == "close"
        assert client.closed()
    with Client(server.port) as client:
        for _ in range(2):
            client.send(b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            answer = client.answer()
            assert (answer.status, answer.header("Connection")) == (200, "keep-alive")


def test_a_client_done_sending_still_gets_its_answer(server: Server) -> None:
    with Client(server.port) as client:
        # slow: the end of what it sends arrives before the answer is written
        client.send(request("GET", "/slow?s=0.2"))
        client.sock.shutdown(socket.SHUT_WR)
        answer = client.answer()
        assert (answer.status, answer.header("Connection")) == (200, "close")
        assert client.closed()


def test_an_upgrade_is_answered_as_plain_http_then_the_connection_closes(
    server: Server,
) -> None:
    with Client(server.port) as client:
        client.send(request("GET", "/echo", "Connection: Upgrade", "Upgrade: websocket") + b"\x81")
        answer = client.answer()
        assert (answer.status, answer.header("Connection")) == (200, "close")
        assert client.closed()


def test_an_absolute_target_gives_its_path_and_query(server: Server) -> None:
    with Client(server.port) as client:
        seen = client.get("http://api.example.com/echo?q=1").json()
    assert (seen["path"], seen["query"]) == ("/echo", "q=1")


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(
    serve: Callable[..., Server],
) -> None:
    server = serve(keep_alive_s=0.3)
    with Client(server.port) as client:
        assert client.get("/echo").status == 200
        started = time.monotonic()
        assert client.closed()
        assert 0.2 < time.monotonic() - started < 3


def test_a_busy_connection_outlives_the_keep_alive_timeout(serve: Callable[..., Server]) -> None:
    server = serve(keep_alive_s=0.2)
    with Client(server.port) as client:
        assert client.get("/slow?s=0.6").body == b"slow done"


# ---------------------------------------------------------------- bodies


def test_expect_100_continue_gets_the_interim_answer_before_the_body(server: Server) -> None:
    with Client(server.port) as client:
        client.send(request("POST", "/echo", "Expect: 100-continue", "Content-Length: 5"))
        assert client.answer().status == 100
        client.send(b"hello")
        assert client.answer().json()["body"] == "hello"


def test_expect_100_continue_over_the_limit_is_refused_without_it(server: Server) -> None:
    with Client(server.port) as client:
        client.send(
            request("POST", "/echo", "Expect: 100-continue", f"Content-Length: {LIMIT + 1}")
        )
        answer = client.answer()
        # the client sends no body: the connection cannot be read on
        assert (answer.status, answer.header("Connection")) == (413, "close")
        assert client.closed()


def test_a_chunked_body_reaches_the_handler_whole(server: Server) -> None:
    with Client(server.port) as client:
        client.send(request("POST", "/echo", "Transfer-Encoding: chunked") + chunked(b"ab", b"cd"))
        assert client.answer().json()["body"] == "abcd"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_of_the_limit_is_kept_and_one_byte_more_is_not(server: Server, framing: str) -> None:
    def post(size: int) -> bytes:
        body = b"a" * size
        if framing == "chunked":
            return request("POST", "/echo", "Transfer-Encoding: chunked") + chunked(
                body[:600], body[600:]
            )
        return request("POST", "/echo", body=body)

    with Client(server.port) as client:
        client.send(post(LIMIT))
        assert len(client.answer().json()["body"]) == LIMIT
        client.send(post(LIMIT + 1))
        assert client.answer().status == 413
        # the rest of the refused body was read and dropped: the connection serves on
        assert client.get("/echo?after").json()["query"] == "after"
    refused = server.handler.requests[1]
    assert (refused.body_too_large, refused.body) == (True, b"")


def test_a_declared_body_over_the_limit_is_answered_before_it_is_sent(server: Server) -> None:
    with Client(server.port) as client:
        client.send(request("POST", "/echo", f"Content-Length: {10 * LIMIT}"))
        assert client.answer().status == 413  # not a byte of the body sent yet
        client.send(b"a" * 10 * LIMIT)
        assert client.get("/echo?after").status == 200


def test_a_client_that_asks_to_close_sends_the_rest_of_a_body_answered_early(
    server: Server,
) -> None:
    with Client(server.port) as client:
        client.send(request("POST", "/echo", "Connection: close", f"Content-Length: {10 * LIMIT}"))
        answer = client.answer()
        assert (answer.status, answer.header("Connection")) == (413, "close")
        # the body is read to its end before the close: no send meets a reset connection
        for _ in range(10):
            client.send(b"a" * LIMIT)
            time.sleep(0.02)
        assert client.closed()


def test_a_body_over_the_kept_limit_is_read_and_dropped(server: Server) -> None:
    server.handler.max_kept_body_bytes = 100
    with Client(server.port) as client:
        client.send(request("POST", "/echo", body=b"a" * 101))
        assert client.answer().json()["body"] == ""
        client.send(
            request("POST", "/echo", "Transfer-Encoding: chunked") + chunked(b"a" * 60, b"a" * 60)
        )
        assert client.answer().json()["body"] == ""  # kept until it passed the limit
        client.send(request("POST", "/echo", body=b"a" * 100))
        assert client.answer().json()["body"] == "a" * 100
    assert [r.body_dropped for r in server.handler.requests] == [True, True, False]
    bodies = server.listener.bodies
    assert (bodies.held, bodies.peak) == (0, 100)  # the declared one over it took no room


def test_a_body_without_room_is_throttled_at_once_and_read_to_its_end(server: Server) -> None:
    bodies = server.listener.bodies
    bodies.limit = 600
    with Client(server.port) as first, Client(server.port) as second:
        first.send(request("POST", "/echo", "Content-Length: 500") + b"a" * 100)
        eventually(lambda: bodies.held == 500)  # all of it, declared
        second.send(request("POST", "/echo", "Content-Length: 200"))
        assert second.answer().status == 429  # before a byte of its body came
        second.send(b"b" * 200)  # read and dropped: the connection serves on
        assert second.get("/echo?after").json()["query"] == "after"
        # a chunked body takes room piece by piece: the second piece finds none
        second.send(request("POST", "/echo", "Transfer-Encoding: chunked"))
        second.send(chunked(b"c" * 50, b"c" * 100))
        assert second.answer().status == 429
        assert bodies.held == 500  # the throttled one gave back what it had
        first.send(b"a" * 400)
        assert len(first.answer().json()["body"]) == 500
    assert (bodies.held, bodies.peak, bodies.throttled) == (0, 550, 2)


@pytest.mark.parametrize("pipelined", [False, True])
def test_a_client_gone_mid_body_gives_its_room_back(server: Server, pipelined: bool) -> None:
    bodies = server.listener.bodies
    with Client(server.port) as client:
        before = request("GET", "/slow?s=0.3") if pipelined else b""
        client.send(before + request("POST", "/echo", "Content-Length: 500") + b"a" * 10)
        eventually(lambda: bodies.held == 500)
    eventually(lambda: bodies.held == 0)


# ---------------------------------------------------------------- answers


def test_head_answers_carry_the_length_of_the_body_without_it(server: Server) -> None:
    with Client(server.port) as client:
        client.send(request("HEAD", "/big?n=100"))
        answer = client.answer(head=True)
        assert (answer.status, answer.header("Content-Length")) == (200, "100")
        # no body bytes came: the next answer starts right there
        assert client.get("/echo?after").json()["query"] == "after"


def test_the_handlers_framing_headers_are_replaced_by_the_servers(server: Server) -> None:
    with Client(server.port) as client:
        answer = client.get("/framing")
        assert answer.body == b"abc"
        names = [name for name, _ in answer.headers]
        assert sorted(names) == ["Content-Length", "Date", "X-Kept"]
        assert answer.header("Content-Length") == "3"
        assert client.get("/echo").status == 200  # no Connection: close from the handler


def test_header_names_keep_their_case_both_ways(server: Server) -> None:
    with Client(server.port) as client:
        answer = client.get("/echo", "X-MiXeD-Case: 1", "accept: text/plain")
    assert ("X-MiXeD-Answer", "Kept") in answer.headers
    assert answer.json()["headers"] == [
        ["Host", "test"],
        ["X-MiXeD-Case", "1"],
        ["accept", "text/plain"],
    ]


def test_header_values_are_latin_1_with_utf_8_beyond_it(server: Server) -> None:
    with Client(server.port) as client:
        client.send(b"GET /echo HTTP/1.1\r\nHost: test\r\nX-Name: caf\xe9\r\n\r\n")
        assert ["X-Name", "café"] in client.answer().json()["headers"]
        client.send(request("GET", "/header?name=X-Price&value=5%E2%82%AC+caf%C3%A9"))
        client.reader.readline()
        client.reader.readline()  # Date
        assert client.reader.readline() == "X-Price: 5€ café\r\n".encode()


def test_an_answer_with_a_line_break_in_a_header_is_not_split(server: Server) -> None:
    with Client(server.port) as client:
        answer = client.get("/header?name=X-A&value=1%0D%0AX-Injected:+1")
        assert answer.status == 500
        assert answer.header("X-Injected") is None
        assert client.get("/echo").status == 200


def test_a_failing_handler_is_answered_500_and_the_connection_serves_on(server: Server) -> None:
    with Client(server.port) as client:
        answer = client.get("/fail")
        assert answer.status == 500
        assert answer.header("x-amzn-ErrorType") == "InternalServerErrorException"
        assert client.get("/echo").status == 200


def test_a_request_that_cannot_be_parsed_is_answered_400_after_those_before_it(
    server: Server,
) -> None:
    with Client(server.port) as client:
        client.send(request("GET", "/slow?s=0.2") + b"GET /x HTTP/1.1\r\nBad Header\r\n\r\n")
        assert client.answer().body == b"slow done"
        answer = client.answer()
        assert (answer.status, answer.header("Connection")) == (400, "close")
        assert client.closed()
    assert len(server.handler.requests) == 1


def test_a_client_that_does_not_read_stops_being_read(server: Server) -> None:
    count, size = 20, 2 * MB
    with Client(server.port, receive_buffer=64 * 1024) as client:
        client.send(request("GET", f"/big?n={size}") * count)
        time.sleep(0.5)
        # the kernel's buffers hold a few answers; then the server waits for the client
        assert len(server.handler.requests) < count // 2
        for _ in range(count):
            assert len(client.answer().body) == size
    assert len(server.handler.requests) == count


def test_a_client_gone_mid_request_leaves_the_handler_to_finish(server: Server) -> None:
    with Client(server.port) as client:
        client.send(request("GET", "/slow?s=0.2"))
        eventually(lambda: len(server.handler.requests) == 1)
    eventually(lambda: "end /slow?s=0.2" in server.handler.events)
    with Client(server.port) as client:
        assert client.get("/echo").status == 200


# ---------------------------------------------------------------- closing a listener


def test_a_closed_listener_answers_the_requests_it_took_then_closes(server: Server) -> None:
    with Client(server.port) as busy, Client(server.port) as idle:
        assert idle.get("/echo").status == 200
        busy.send(request("GET", "/slow?s=0.5"))
        eventually(lambda: len(server.handler.requests) == 2)
        closing = server.close_listener()
        assert idle.closed()  # an idle connection is closed at once
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5)
        assert not closing.done()  # the slow request is still being served
        answer = busy.answer()
        assert (answer.status, answer.body) == (200, b"slow done")
        assert answer.header("Connection") == "close"
        assert busy.closed()
        closing.result(5)


def test_a_closed_listener_answers_pipelined_requests_it_read(server: Server) -> None:
    with Client(server.port) as client:
        client.send(request("GET", "/slow?s=0.3") + request("GET", "/echo?n=2"))
        eventually(lambda: len(server.handler.requests) == 1)
        closing = server.close_listener()
        assert client.answer().header("Connection") is None
        last = client.answer()
        assert (last.json()["query"], last.header("Connection")) == ("n=2", "close")
        assert client.closed()
        closing.result(5)


# ---------------------------------------------------------------- what a client cannot do


def test_trailer_fields_do_not_join_the_request_headers(server: Server) -> None:
    with Client(server.port) as client:
        client.send(
            request("POST", "/echo", "Transfer-Encoding: chunked")
            + b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\nHost: elsewhere\r\n\r\n"
        )
        seen = client.answer().json()
    assert seen["body"] == "abc"
    assert seen["headers"] == [["Host", "test"], ["Transfer-Encoding", "chunked"]]


@pytest.mark.parametrize(
    "head",
    [b"GET /echo HTTP/1.1\r\n", b"GET /echo HTTP/1.1\r\nHost: a\r\nhost: b\r\n"],
    ids=["no host", "two hosts"],
)
def test_an_http_1_1_request_needs_exactly_one_host(server: Server, head: bytes) -> None:
    with Client(server.port) as client:
        client.send(head + b"\r\n")
        answer = client.answer()
        assert (answer.status, answer.header("Connection")) == (400, "close")
        assert client.closed()
    with Client(server.port) as client:  # HTTP/1.0 has no Host to require
        client.send(b"GET /echo HTTP/1.0\r\n\r\n")
        assert client.answer().status == 200
    assert len(server.handler.requests) == 1


def test_a_request_target_over_the_url_limit_is_refused(server: Server) -> None:
    with Client(server.port) as client:
        longest = "/echo?q=" + "a" * (URL_LENGTH_LIMIT - len("/echo?q="))
        assert client.get(longest).status == 200
        answer = client.get(longest + "a")
        assert (answer.status, answer.header("Connection")) == (414, "close")
        assert client.closed()
    assert len(server.handler.requests) == 1


def test_header_values_over_their_limit_are_refused(server: Server) -> None:
    filler = HEADER_VALUES_LIMIT - len("test")  # the Host header's value counts too
    with Client(server.port) as client:
        assert client.get("/echo", f"X-A: {'a' * (filler - 100)}", f"X-B: {'b' * 100}").status
        answer = client.get("/echo", f"X-A: {'a' * (filler - 100)}", f"X-B: {'b' * 101}")
        assert (answer.status, answer.header("Connection")) == (431, "close")
        assert client.closed()
    assert len(server.handler.requests) == 1


def test_a_header_that_never_ends_is_refused_before_it_fills_memory(server: Server) -> None:
    with Client(server.port) as client:
        client.send(b"GET /echo HTTP/1.1\r\nHost: test\r\nX-Endless: ")
        sent = 0
        while sent < 64 * MB and not select.select([client.sock], [], [], 0.001)[0]:
            client.send(b"a" * 16384)
            sent += 16384
        answer = client.answer()
        assert (answer.status, answer.header("Connection")) == (431, "close")
    assert sent < 2 * MB
    assert server.handler.requests == []


def test_a_head_sent_a_byte_at_a_time_is_cut_off_by_the_keep_alive_timeout(
    serve: Callable[..., Server],
) -> None:
    server = serve(keep_alive_s=0.5)
    with Client(server.port) as client:
        client.send(b"GET /echo HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        started = time.monotonic()
        assert trickle_until_closed(client, seconds=5)
        assert time.monotonic() - started < 2
    assert server.handler.requests == []


def trickle_until_closed(client: Client, seconds: float) -> bool:
    """Send a byte every 50 ms; whether the server closed within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            client.send(b"a")
        except OSError:  # a reset, or a broken pipe: the server closed
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    "partial",
    [b"GET /echo HTTP/1.1\r\nHost: te", request("POST", "/echo", "Content-Length: 10") + b"abc"],
    ids=["head", "body"],
)
def test_a_client_done_sending_mid_request_is_closed_at_once(
    server: Server, partial: bytes
) -> None:
    with Client(server.port) as client:
        client.send(request("GET", "/echo?first") + partial)
        client.sock.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        assert client.answer().json()["query"] == "first"
        assert client.closed()
        assert time.monotonic() - started < 2  # not the keep-alive timeout's 30 s
    assert len(server.handler.requests) == 1


def test_a_client_that_reads_nothing_does_not_hold_its_connection(
    serve: Callable[..., Server],
) -> None:
    server = serve(keep_alive_s=0.5)
    with Client(server.port, receive_buffer=16 * 1024) as client:
        client.send(request("GET", f"/big?n={8 * MB}"))
        eventually(lambda: len(server.listener.connections) == 1)
        eventually(lambda: not server.listener.connections, seconds=4)


def test_a_closed_listener_does_not_wait_for_a_client_that_reads_nothing(
    serve: Callable[..., Server],
) -> None:
    server = serve(keep_alive_s=0.5)
    with Client(server.port, receive_buffer=16 * 1024) as client:
        client.send(request("GET", f"/big?n={8 * MB}") + request("GET", "/echo"))
        eventually(lambda: len(server.handler.requests) == 1)
        server.close_listener().result(5)


@pytest.mark.parametrize("status", [204, 304])
def test_answers_that_have_no_content_are_sent_without_it(server: Server, status: int) -> None:
    with Client(server.port) as client:
        client.send(request("GET", f"/status?code={status}") + request("GET", "/echo?after"))
        answer = client.answer(head=True)  # no content follows the head of such an answer
        assert answer.status == status
        if status == 204:
            assert answer.header("Content-Length") is None
        assert client.answer().json()["query"] == "after"


def test_an_interim_status_is_never_a_final_answer(server: Server) -> None:
    with Client(server.port) as client:
        assert client.get("/status?code=101").status == 500
        assert client.get("/echo").status == 200
