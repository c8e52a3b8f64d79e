"""The one-hop ceiling: HTTP in, one Python worker process and back, nothing else.

    python benchmarks/one_hop.py PORT WORKERS PYTHON

A server for ``benchmarks/gateway.py`` (run by it as one of its subjects): what
the local gateway's design costs before any of API Gateway's or Lambda's work.
It serves HTTP/1.1 with the gateway's own server (:mod:`teal.cloud.local.gateway.http_server`,
uvloop), and for each request sends an event of the size and shape the
gateway builds for wrk's request (a copy with a fresh request id, encoded as
the gateway encodes it) in the gateway's frame to one of WORKERS warm worker
processes on PYTHON (the runtime's interpreter, ``-I -S``, stdlib only), one
request per worker at a time, as the gateway's pools do. The worker decodes
the event and answers a hello proxy result as JSON; the server decodes that
and answers. No routing, no serving state, no event building, no Lambda
runtime (context, logs, trace, memory) and no handler: what the gateway
measures beyond this is that work.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
from collections import deque
from typing import Any

import uvloop

from teal.cloud.local.functions.workers import decode_frame, encode_event
from teal.cloud.local.gateway.handler import GatewayRequest, GatewayResponse
from teal.cloud.local.gateway.http_server import HttpListener
from teal.rules.proxy_events import IncomingRequest, RequestSource, build_proxy_event

_HEADER = struct.Struct(">I")

WORKER = """
import json, os, struct
header = struct.Struct(">I")
frames_in = os.fdopen(os.dup(0), "rb", buffering=64 * 1024)
frames_out = os.fdopen(os.dup(1), "wb", buffering=0)
result = {"statusCode": 200, "headers": {"Content-Type": "application/json"},
          "body": '{"hello":"world"}', "isBase64Encoded": False}
encoder = json.JSONEncoder(separators=(",", ":"))
while True:
    size = frames_in.read(header.size)
    if not size:
        break
    request = json.loads(frames_in.read(header.unpack(size)[0]).decode())
    answer = encoder.encode({"type": "result", "ok": True, "result": result}).encode()
    frames_out.write(header.pack(len(answer)) + answer)
"""

# The event the gateway builds for wrk's ``GET /hello`` (as benchmarks/worker.py builds it).
EVENT: dict[str, Any] = build_proxy_event(
    IncomingRequest("GET", "", [("Host", "127.0.0.1:40000")], b"", port=40000),
    RequestSource("abcdef1234", "dev", "/hello", "/hello", "/hello", "bench.example.com"),
    request_id="",
    now=time.time(),
    trace_id="Root=1-6b0ea8f4-042812e5607e866aa8b2ef8c",
)


class _Worker(asyncio.SubprocessProtocol):
    """One worker's pipes: a frame out, the answer's frame back."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None
        self.stdin: asyncio.WriteTransport | None = None

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd != 1:  # only stdout carries frames
            return
        self._buffer += data
        if len(self._buffer) < _HEADER.size:
            return
        end = _HEADER.size + _HEADER.unpack_from(self._buffer)[0]
        if len(self._buffer) >= end and self.waiter is not None:
            frame = bytes(self._buffer[_HEADER.size : end])
            del self._buffer[:end]
            self.waiter.set_result(frame)

    async def call(self, frame: bytes) -> bytes:
        assert self.stdin is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.stdin.write(frame)
        return await self.waiter


class OneHop:
    """The handler :class:`HttpListener` calls: one worker round trip per request."""

    max_body_bytes = 10 * 1024 * 1024

    def __init__(self, workers: list[_Worker]) -> None:
        self.idle = deque(workers)
        self.slots = asyncio.Semaphore(len(workers))
        self.served = 0

    async def handle(self, request: GatewayRequest) -> GatewayResponse:
        self.served += 1
        event = {**EVENT, "path": request.path}
        event["requestContext"] = {**EVENT["requestContext"], "requestId": str(self.served)}
        payload = b'{"request_id":"r","deadline_ms":0,"event":' + encode_event(event) + b"}"
        async with self.slots:
            worker = self.idle.pop()
            try:
                answer = decode_frame(await worker.call(_HEADER.pack(len(payload)) + payload))
            finally:
                self.idle.append(worker)
        result = answer["result"]
        return GatewayResponse(
            result["statusCode"], tuple(result["headers"].items()), result["body"].encode()
        )


async def serve(port: int, count: int, python: str) -> None:
    loop = asyncio.get_running_loop()
    workers = []
    for _ in range(count):
        transport, worker = await loop.subprocess_exec(_Worker, python, "-I", "-S", "-c", WORKER)
        worker.stdin = transport.get_pipe_transport(0)  # type: ignore[assignment]
        workers.append(worker)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.setblocking(False)
    listener = HttpListener(OneHop(workers), sock)
    await listener.start()
    await asyncio.Event().wait()  # until terminated


def main() -> None:
    port, count, python = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    uvloop.run(serve(port, count, python))


if __name__ == "__main__":
    main()
