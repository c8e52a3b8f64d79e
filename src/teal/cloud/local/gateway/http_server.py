"""The gateway's HTTP/1.1 server: an asyncio protocol per connection on httptools' parser.

The gateway never streams: :meth:`Gateway.handle` takes a whole request (its
body at most ``max_body_bytes``, API Gateway's 10 MB) and gives a whole
response. So a connection parses with httptools, builds a
:class:`GatewayRequest` (header names as the client wrote them, in order,
latin-1 as HTTP has them), runs the handler, and writes the answer (status
line, headers, body) in one ``transport.write``. What HTTP/1.1 asks of a
server is kept:

- keep-alive (HTTP/1.0 only when the client asks for it); a connection idle
  for ``keep_alive_s`` is closed, and so is one whose request head is not whole
  ``keep_alive_s`` after it fell idle (bytes of a head do not count as activity:
  a client trickling one is cut off), or whose client reads nothing of what is
  written to it for as long (aborted, even once closed: it holds neither memory
  nor a closing listener);
- a request head within API Gateway's limits: a request target over
  ``URL_LENGTH_LIMIT`` characters is answered 414, header values over
  ``HEADER_VALUES_LIMIT`` bytes 431 (a head over ``HEAD_LIMIT`` bytes, names
  included, too), then the connection closes; an HTTP/1.1 request has exactly
  one Host (else 400), and trailer fields never join the headers;
- pipelined requests are answered in order, one at a time; reading pauses
  while a parsed request waits for the one before it, and while the client
  does not read what was written (the transport's write buffer is full);
- ``Expect: 100-continue`` gets its interim answer once the request is next
  and its body is wanted (not when its declared body is over the limit);
- bodies come by Content-Length or chunked; one over the limit is not kept:
  the request is answered at once, with ``body_too_large`` (the gateway's
  413), and the rest of its body is read and dropped, so the connection
  serves on (or, asked to close, closes once the body ended); one over
  ``max_kept_body_bytes`` (no integration could take it) is read to its end
  and dropped as it comes, the request handled with ``body_dropped``;
- the bodies kept, across every listener of the gateway, stay within one
  :class:`BodyMemory`: a body that finds no room there (its Content-Length
  when declared, else each piece as it comes) is dropped too and its request
  answered at once, ``throttled``; a body's room is given back once its
  request is answered, or its connection gone;
- framing is the server's, as on API Gateway: the handler's Content-Length,
  Transfer-Encoding and Connection are dropped, Content-Length and Date are
  set here; a HEAD answer has the Content-Length of its body, not the body;
  a 204 or 304 has neither (their framing has no content), and an interim
  status (1xx) is no final answer: 500;
- a request httptools cannot parse is answered 400, after the answers owed
  before it, and the connection closes; a request the client stopped sending
  half-way (it closed its side) is dropped, the whole ones before it answered;
- a client gone before its answer leaves the handler to finish; nothing is
  written.

A listener closes without failing a request it took: it stops accepting,
closes its idle connections, and lets each busy one answer what it has
received (``Connection: close`` on the last answer) before closing it.
"""

from __future__ import annotations

import asyncio
import functools
import http
import logging
import socket
import time
from collections import deque
from email.utils import formatdate
from typing import Protocol, cast

import httptools

from teal.cloud.local.gateway.handler import INTERNAL_ERROR, GatewayRequest, GatewayResponse
from teal.runtime.routes import URL_LENGTH_LIMIT

log = logging.getLogger("teal.local.gateway")

KEEP_ALIVE_S = 30.0  # an idle keep-alive connection is closed after this
# the request bodies the gateway keeps at once: while its function runs, a body is held
# with the event's string, its JSON and the frame to the worker (about four times its size)
BODY_MEMORY_BYTES = 24 * 1024 * 1024
# API Gateway's limits on a REST API's request head (docs/limits.md), neither raisable
HEADER_VALUES_LIMIT = 10240  # bytes of all header values together
# what the server holds of a head still unparsed (a header's name and value are kept
# by the parser until the line ends): room for both limits, names and separators
HEAD_LIMIT = 64 * 1024
# a body up to this size goes out in the same write as the head; a larger one is
# written after it rather than copied into one buffer
ONE_WRITE_MAX = 64 * 1024
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
_FRAMING_LENGTHS = frozenset(len(name) for name in FRAMING_HEADERS)  # most names need no lower()
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_TEXT = (("Content-Type", "text/plain; charset=utf-8"),)
BAD_REQUEST = GatewayResponse(400, _TEXT, b"Invalid HTTP request received.")
URI_TOO_LONG = GatewayResponse(414, _TEXT, b"Request URI too long")
HEADERS_TOO_LARGE = GatewayResponse(431, _TEXT, b"Request header fields too large")
_NO_CONTENT = frozenset({204, 304})  # answers whose framing has no content (RFC 9110)


class _Refused(Exception):
    """Raised in a parser callback: the request is answered ``answer``, then the
    connection closes."""

    def __init__(self, answer: GatewayResponse) -> None:
        super().__init__(answer.status)
        self.answer = answer


class Handler(Protocol):
    """What the server serves: :class:`teal.cloud.local.gateway.handler.Gateway`, or a test's.

    A body over ``max_body_bytes`` is refused (``body_too_large``); one over
    ``max_kept_body_bytes`` is read and dropped (``body_dropped``).
    """

    @property
    def max_body_bytes(self) -> int: ...

    @property
    def max_kept_body_bytes(self) -> int: ...

    async def handle(self, request: GatewayRequest) -> GatewayResponse: ...


class BodyMemory:
    """The bytes of request bodies kept at once, and the most that may be."""

    def __init__(self, limit: int = BODY_MEMORY_BYTES) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0
        self.throttled = 0  # requests answered ``throttled`` for want of room

    def take(self, size: int) -> bool:
        """Room for ``size`` more bytes, if there is."""
        if self.held + size > self.limit:
            self.throttled += 1
            return False
        self.held += size
        self.peak = max(self.peak, self.held)
        return True

    def give_back(self, size: int) -> None:
        self.held -= size

    def to_json(self) -> dict[str, int]:
        return {
            "held_bytes": self.held,
            "peak_bytes": self.peak,
            "limit_bytes": self.limit,
            "throttled": self.throttled,
        }


def internal_error() -> GatewayResponse:
    """API Gateway's 500, for a request that failed inside the gateway itself."""
    status, error_type, body = INTERNAL_ERROR
    headers = (("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type))
    return GatewayResponse(status, headers, body.encode())


# ---------------------------------------------------------------- writing an answer


def _status_line(status: int) -> str:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n"


_STATUS_LINES = {status: _status_line(status) for status in range(100, 600)}


class _DateLine:
    """The Date header line, formatted once a second (every answer carries one)."""

    def __init__(self) -> None:
        self._second = -1
        self._line = ""

    def __call__(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._line = f"Date: {formatdate(second, usegmt=True)}\r\n"
        return self._line


_date_line = _DateLine()


def header_bytes(line: str) -> bytes:
    """Latin-1, as request headers are read; UTF-8 for characters beyond it."""
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8")


class UnwritableHead(ValueError):
    """A header the answer cannot carry: a CR or LF would end it early (a split answer)."""


def render_head(response: GatewayResponse, connection: str) -> bytes:
    """The status line and headers, framing set here; ``connection`` is the
    Connection header's value, or "" for none."""
    if response.status < 200:  # a client would wait for the final answer after it
        raise UnwritableHead(f"{response.status} is an interim status, not an answer")
    lines = [_STATUS_LINES.get(response.status) or _status_line(response.status), _date_line()]
    for name, value in response.headers:
        if len(name) not in _FRAMING_LENGTHS or name.lower() not in FRAMING_HEADERS:
            lines.append(f"{name}: {value}\r\n")
    if response.status not in _NO_CONTENT:
        lines.append(f"Content-Length: {len(response.body)}\r\n")
    if connection:
        lines.append(f"Connection: {connection}\r\n")
    lines.append("\r\n")
    text = "".join(lines)
    # each line ends with the one CR LF put there: any other would split the answer
    if text.count("\n") != len(lines) or text.count("\r") != len(lines):
        raise UnwritableHead(f"a header of the {response.status} answer holds CR or LF")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return b"".join(header_bytes(line) for line in lines)


# ---------------------------------------------------------------- a connection


class _Incoming:
    """A request as it is parsed, until it is answered."""

    __slots__ = (
        "body_size",
        "body_withheld",
        "chunks",
        "declared",
        "dropped",
        "expects_continue",
        "head_bytes",
        "head_done",
        "headers",
        "hosts",
        "keep_alive",
        "method",
        "path",
        "query",
        "ready",
        "room",
        "throttled",
        "too_large",
        "url",
        "values_size",
        "version",
    )

    def __init__(self) -> None:
        self.url = b""
        self.path = b""
        self.query = b""
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.body_size = 0
        self.declared = 0  # the Content-Length, 0 without one (chunked: counted as read)
        self.expects_continue = False
        self.body_withheld = False  # answered before its 100 Continue: the client sends none
        self.method = ""
        self.version = "1.1"
        self.keep_alive = True
        self.too_large = False
        self.dropped = False  # over the kept limit: read to its end, none of it kept
        self.throttled = False  # no room in the body memory: answered at once
        self.room = 0  # bytes taken in the body memory for it
        self.ready = False  # whole, or answered without its body: it can be handled
        self.head_done = False  # the header section is whole (what follows is body, trailers)
        self.head_bytes = 0  # bytes received while the head was incomplete, roughly
        self.values_size = 0  # bytes of header values so far
        self.hosts = 0  # Host header lines


class _Connection(asyncio.Protocol):
    """One client connection: parse, hand each request to the handler, answer in order."""

    def __init__(self, listener: HttpListener) -> None:
        self._listener = listener
        self._handler = listener.handler
        self._limit = listener.handler.max_body_bytes
        self._kept_limit = listener.handler.max_kept_body_bytes
        self._bodies = listener.bodies
        self._loop = listener.loop
        self._parser = httptools.HttpRequestParser(self)
        # bytes after a request that asked to close are ignored, not an error
        self._parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._transport: asyncio.Transport | None = None
        self._client_ip = "127.0.0.1"
        self._parsing: _Incoming | None = None
        self._waiting: deque[_Incoming] = deque()  # parsed, not yet answered, in order
        self._in_flight = False  # the handler runs for the first of _waiting
        self._write_paused = False
        self._read_paused = False
        self._no_more = False  # take no further request (asked to close, malformed, upgrade)
        self._refusal: GatewayResponse | None = None  # owed once the answers before it are
        self._shutting_down = False  # the listener closes: answer what was received, then close
        self._closed = False  # closed by this side
        self._lost = False
        self._last_active = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            self._client_ip = str(peer[0])
        self._listener.connections.add(self)
        self._last_active = self._loop.time()
        self._idle_timer = self._loop.call_later(self._listener.keep_alive_s, self._idle_check)
        if self._listener.closing:
            self.shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        # what was received and will never be handled gives its room back; the request
        # in the handler does once it is answered
        unhandled = list(self._waiting)[1:] if self._in_flight else list(self._waiting)
        for incoming in (*unhandled, self._parsing):
            if incoming is not None:
                self._give_back(incoming)
        if not self._in_flight:
            self._listener.forget(self)

    def data_received(self, data: bytes) -> None:
        # nothing is read past the last request, but all of its body (one answered early);
        # no activity until a head is whole: a client trickling one never ending
        # keeps its connection no longer than an idle one
        if self._closed or (self._no_more and self._parsing is None):
            return
        head = self._parsing if self._parsing is not None and not self._parsing.head_done else None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # what follows is another protocol, which a REST API does not speak: the
            # request is answered as plain HTTP, then the connection closes
            self._take_no_more()
            return
        except httptools.HttpParserCallbackError as error:
            refused = error.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused.answer)
                return
            if not isinstance(refused, httptools.HttpParserInvalidURLError):
                log.exception("reading a request failed inside the gateway")
            self._refuse(BAD_REQUEST)
            return
        except httptools.HttpParserError:
            self._refuse(BAD_REQUEST)
            return
        if head is not None and self._parsing is head and not head.head_done:
            # the parser keeps a header line until it ends: the head is bounded here
            # (a chunk that began it or ended it is not counted: at most two more)
            head.head_bytes += len(data)
            if head.head_bytes > HEAD_LIMIT:
                self._refuse(HEADERS_TOO_LARGE)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._sync_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._last_active = self._loop.time()  # the client reads
        self._advance()

    def eof_received(self) -> bool:
        # the client is done sending (a half-close): what it sent whole is still
        # answered, then the connection closes; a request it did not finish never will be
        self._no_more = True
        self._drop_unfinished()
        self._advance()
        return True

    # ------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        self._parsing = _Incoming()

    def on_url(self, url: bytes) -> None:
        incoming = self._parsing
        assert incoming is not None
        incoming.url += url
        if len(incoming.url) > URL_LENGTH_LIMIT:
            raise _Refused(URI_TOO_LONG)

    def on_header(self, name: bytes, value: bytes) -> None:
        incoming = self._parsing
        assert incoming is not None
        if incoming.head_done:  # a trailer field: never merged into the headers (RFC 9110)
            return
        incoming.values_size += len(value)
        if incoming.values_size > HEADER_VALUES_LIMIT:
            raise _Refused(HEADERS_TOO_LARGE)
        incoming.headers.append((name.decode("latin-1"), value.decode("latin-1")))
        size = len(name)
        if size == 14 and name.lower() == b"content-length":
            incoming.declared = int(value) if value.isdigit() else 0
        elif size == 6 and name.lower() == b"expect" and value.lower() == b"100-continue":
            incoming.expects_continue = True
        elif size == 4 and name.lower() == b"host":
            incoming.hosts += 1

    def on_headers_complete(self) -> None:
        incoming = self._parsing
        assert incoming is not None
        incoming.head_done = True
        self._last_active = self._loop.time()
        parser = self._parser
        incoming.method = parser.get_method().decode("ascii")
        incoming.version = parser.get_http_version()
        incoming.keep_alive = parser.should_keep_alive()
        # one Host, as HTTP/1.1 requires (RFC 9112, 3.2): which one a domain is chosen
        # by must not be a guess
        if incoming.hosts > 1 or (incoming.hosts == 0 and incoming.version == "1.1"):
            raise _Refused(BAD_REQUEST)
        incoming.path, incoming.query = _split_target(incoming.url)
        declared = incoming.declared
        if declared > self._limit:
            self._answer_before_body(incoming, too_large=True)
        elif declared > self._kept_limit:
            incoming.dropped = True  # read to its end, never kept: it takes no room
        elif declared and not self._take_room(incoming, declared):
            self._answer_before_body(incoming, too_large=False)
        self._waiting.append(incoming)
        self._advance()

    def on_body(self, body: bytes) -> None:
        incoming = self._parsing
        assert incoming is not None
        self._last_active = self._loop.time()  # the body comes on
        if incoming.too_large or incoming.throttled:
            return
        size = incoming.body_size = incoming.body_size + len(body)
        if size > self._limit:
            self._answer_without_body(incoming, too_large=True)
            self._advance()
        elif incoming.dropped:
            return
        elif size > self._kept_limit:  # a chunked body passing the kept limit
            self._give_back(incoming)
            incoming.dropped = True
            incoming.chunks = []
        elif size > incoming.room and not self._take_room(incoming, size - incoming.room):
            self._answer_without_body(incoming, too_large=False)
            self._advance()
        else:
            incoming.chunks.append(body)

    def on_message_complete(self) -> None:
        incoming = self._parsing
        assert incoming is not None
        self._parsing = None
        incoming.ready = True
        if not incoming.keep_alive:
            self._no_more = True
        self._advance()

    def _answer_before_body(self, incoming: _Incoming, *, too_large: bool) -> None:
        # answered before a byte of the body is read; a client that waits for
        # 100 Continue sends no body, so the connection cannot serve on
        if incoming.expects_continue:
            incoming.keep_alive = False
            incoming.body_withheld = True
        self._answer_without_body(incoming, too_large=too_large)

    def _answer_without_body(self, incoming: _Incoming, *, too_large: bool) -> None:
        """Over the body limit (``too_large``), or no room for the body (throttled):
        the request is handled at once, the rest of its body read and dropped."""
        incoming.too_large = too_large
        incoming.throttled = not too_large
        self._give_back(incoming)
        incoming.chunks = []
        incoming.ready = True
        incoming.expects_continue = False

    def _take_room(self, incoming: _Incoming, size: int) -> bool:
        if not self._bodies.take(size):
            return False
        incoming.room += size
        return True

    def _give_back(self, incoming: _Incoming) -> None:
        if incoming.room:
            self._bodies.give_back(incoming.room)
            incoming.room = 0

    # ------------------------------------------------------------ answering, in order

    def _advance(self) -> None:
        """Start the next request if it can be; otherwise close once nothing is owed."""
        if self._in_flight or self._write_paused or self._closed or self._lost:
            return
        if self._waiting:
            head = self._waiting[0]
            if head.ready:
                self._start(head)
            elif head.expects_continue:
                head.expects_continue = False
                self._transport_().write(CONTINUE)
        elif self._refusal is not None:
            self._write(self._refusal, "close", send_body=True)
            self._refusal = None
            self._close()
            return
        elif (self._shutting_down or self._no_more) and self._parsing is None:
            self._close()
            return
        self._sync_reading()

    def _start(self, incoming: _Incoming) -> None:
        self._in_flight = True
        task = self._loop.create_task(self._handler.handle(self._request(incoming)))
        task.add_done_callback(self._answered)

    def _request(self, incoming: _Incoming) -> GatewayRequest:
        chunks = incoming.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        incoming.chunks = []
        return GatewayRequest(
            method=incoming.method,
            path=incoming.path.decode("latin-1"),
            query_string=incoming.query.decode("latin-1"),
            headers=tuple(incoming.headers),
            body=body,
            local_port=self._listener.port,
            client_ip=self._client_ip,
            protocol=f"HTTP/{incoming.version}",
            body_too_large=incoming.too_large,
            body_dropped=incoming.dropped,
            throttled=incoming.throttled,
        )

    def _answered(self, task: asyncio.Task[GatewayResponse]) -> None:
        self._in_flight = False
        incoming = self._waiting.popleft()
        self._give_back(incoming)
        if self._lost or self._closed:  # the client left: the handler finished all the same
            if self._lost:
                self._listener.forget(self)
            return
        response = _outcome(task)
        keep_alive = self._keeps_alive(incoming)
        self._write(
            response,
            _connection_header(keep_alive, incoming.version),
            send_body=incoming.method != "HEAD",
        )
        self._last_active = self._loop.time()
        if keep_alive:
            self._advance()
        elif self._parsing is incoming and not incoming.body_withheld:
            # answered before its body ended: the rest is read (and dropped) before the
            # close, which would otherwise reset the connection under the answer
            self._no_more = True
            self._sync_reading()
        else:
            self._close()

    def _keeps_alive(self, incoming: _Incoming) -> bool:
        """Whether the connection stays open after answering ``incoming``."""
        if not incoming.keep_alive:
            return False
        owed = len(self._waiting) > 0 or self._parsing is not None or self._refusal is not None
        return owed or not (self._shutting_down or self._no_more)

    def _write(self, response: GatewayResponse, connection: str, *, send_body: bool) -> None:
        try:
            head = render_head(response, connection)
        except (UnwritableHead, UnicodeEncodeError):
            log.exception("an answer could not be written as HTTP")
            response = internal_error()
            head = render_head(response, connection)
        body = response.body if send_body and response.status not in _NO_CONTENT else b""
        transport = self._transport_()
        if len(body) <= ONE_WRITE_MAX:
            transport.write(head + body if body else head)
        else:  # megabytes: not copied behind the head
            transport.write(head)
            transport.write(body)

    # ------------------------------------------------------------ reading, closing

    def _sync_reading(self) -> None:
        """Read while a request may come or a body is on its way, and the client reads."""
        stop = (
            self._write_paused
            or len(self._waiting) > 1
            or ((self._shutting_down or self._no_more) and self._parsing is None)
        )
        if stop != self._read_paused and not self._closed and not self._lost:
            self._read_paused = stop
            if stop:
                self._transport_().pause_reading()
            else:
                self._transport_().resume_reading()

    def _take_no_more(self) -> None:
        self._no_more = True
        incoming, self._parsing = self._parsing, None
        if incoming is not None:  # its headers were whole: it is answered without a body
            incoming.ready = True
        self._advance()

    def _refuse(self, answer: GatewayResponse) -> None:
        """A request that cannot be served (unparsable: 400): ``answer`` after the
        answers owed, then close."""
        self._no_more = True
        self._refusal = answer
        self._drop_unfinished()  # the broken one never became whole
        self._advance()

    def _drop_unfinished(self) -> None:
        """Forget the request being read: it will never be whole, nor answered."""
        incoming, self._parsing = self._parsing, None
        if incoming is not None and not incoming.ready:
            self._give_back(incoming)
            self._waiting = deque(i for i in self._waiting if i is not incoming)

    def shutdown(self) -> None:
        """The listener closes: close now if idle, else once what was received is answered."""
        self._shutting_down = True
        if not self._in_flight and not self._waiting and self._parsing is None:
            self._close()
        else:
            self._sync_reading()

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self._lost:
            return
        keep_alive_s = self._listener.keep_alive_s
        quiet = self._loop.time() - self._last_active
        if quiet >= keep_alive_s:
            if self._closed or self._write_paused:
                # the client takes nothing of what is written to it: it holds neither
                # the memory of its answers nor a listener that closes
                self._closed = True
                self._transport_().abort()
                return
            if not self._in_flight:
                self._close()
        wait = keep_alive_s - quiet if quiet < keep_alive_s else keep_alive_s
        self._idle_timer = self._loop.call_later(wait, self._idle_check)

    def _close(self) -> None:
        """Close once what is written is sent: within ``keep_alive_s``, else aborted."""
        if not self._closed:
            self._closed = True
            self._last_active = self._loop.time()
            self._transport_().close()

    def _transport_(self) -> asyncio.Transport:
        assert self._transport is not None
        return self._transport


def _connection_header(keep_alive: bool, version: str) -> str:
    """The Connection header's value: said when the connection closes, and to an
    HTTP/1.0 client that asked to keep it (1.0 closes by default)."""
    if not keep_alive:
        return "close"
    return "keep-alive" if version == "1.0" else ""


def _split_target(url: bytes) -> tuple[bytes, bytes]:
    """The raw path and query of a request target (httptools.HttpParserInvalidURLError
    if it is none)."""
    if url.startswith(b"/") and b"#" not in url:
        path, _, query = url.partition(b"?")
        return path, query
    parsed = httptools.parse_url(url)  # the absolute form (http://host/path), or a fragment
    return parsed.path or b"/", parsed.query or b""


def _outcome(task: asyncio.Task[GatewayResponse]) -> GatewayResponse:
    """The handler's answer; API Gateway's 500 if it failed (the state could not be read...)."""
    if task.cancelled():
        return internal_error()
    error = task.exception()
    if error is not None:
        log.error("request failed inside the gateway", exc_info=error)
        return internal_error()
    return task.result()


# ---------------------------------------------------------------- a listener


class HttpListener:
    """One listening socket whose connections are served by ``handler``."""

    def __init__(
        self,
        handler: Handler,
        sock: socket.socket,
        *,
        keep_alive_s: float = KEEP_ALIVE_S,
        bodies: BodyMemory | None = None,
    ) -> None:
        self.handler = handler
        self.bodies = bodies if bodies is not None else BodyMemory()  # the gateway's share one
        self.port: int = sock.getsockname()[1]
        self.keep_alive_s = keep_alive_s
        self.connections: set[_Connection] = set()
        self.closing = False
        self._sock = sock
        self._server: asyncio.AbstractServer | None = None
        self._all_gone: asyncio.Future[None] | None = None

    @functools.cached_property
    def loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def start(self) -> None:
        """Accept connections (the socket is bound and listening already)."""
        self._server = await self.loop.create_server(
            functools.partial(_Connection, self), sock=self._sock, backlog=1024
        )

    def stop_accepting(self) -> None:
        """Free the port (it may be listened on again at once), close idle connections,
        and have busy ones close once they answered what they took."""
        if self.closing:
            return
        self.closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.shutdown()

    async def close(self) -> None:
        """Stop accepting; return once every connection has answered what it took."""
        self.stop_accepting()
        if self.connections:
            self._all_gone = self.loop.create_future()
            await self._all_gone
        if self._server is not None:
            await self._server.wait_closed()

    def forget(self, connection: _Connection) -> None:
        """A connection is closed and its handler done."""
        self.connections.discard(connection)
        if not self.connections and self._all_gone is not None and not self._all_gone.done():
            self._all_gone.set_result(None)
