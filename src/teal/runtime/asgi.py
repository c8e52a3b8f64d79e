"""Serves an ASGI app (FastAPI, Starlette, Django's ASGI handler...) in a function.

One :class:`AsgiAdapter` per execution environment, made at the first
request: it keeps one event loop for the environment's life, runs the app's
lifespan startup once on it (so what startup opens, a connection pool say,
serves every request of that environment, as under a server), then runs each
request on the same loop, as an ASGI server would: the whole body in one
``http.request`` message, the response gathered until its last body part.

A function never sends the lifespan ``shutdown``: Lambda freezes an
environment between requests and ends it without notice, so there is no
moment to send it in (:meth:`AsgiAdapter.close` does, for whoever has one).

Standard library only: this module ships inside Lambda packages.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from teal.runtime.exchange import (
    FrameworkRequest,
    internal_error,
    proxy_response,
    read_event,
    wire_path,
)

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]

ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}


class LifespanFailed(RuntimeError):
    """The app said its startup failed: the environment cannot serve."""


class AsgiAdapter:
    """A proxy event in, the ASGI app's answer as a proxy response out."""

    def __init__(self, app: AsgiApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}  # what lifespan startup stores for every request
        self.loop = asyncio.new_event_loop()
        self._lifespan: asyncio.Task[None] | None = None
        self._lifespan_messages: asyncio.Queue[Message] = asyncio.Queue()
        self.loop.run_until_complete(self._start_lifespan())

    def __call__(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        request = read_event(event)
        exchange = _Exchange(request, self._scope(request, event, context))
        return self.loop.run_until_complete(exchange.run(self.app))

    def _scope(
        self, request: FrameworkRequest, event: Mapping[str, Any], context: Any
    ) -> dict[str, Any]:
        full_path = request.root_path + request.path
        return {
            "type": "http",
            "asgi": ASGI_VERSION,
            "http_version": request.http_version,
            "method": request.method,
            "scheme": request.scheme,
            # the path holds the root path, as servers give it since ASGI 2.x made it so;
            # decoded once, where raw_path is the path as the client sent it
            "path": full_path,
            "raw_path": wire_path(request.raw_root_path + request.raw_path),
            "root_path": request.root_path,
            "query_string": request.query_string.encode("ascii"),
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1", "replace"))
                for name, value in request.headers
            ],
            "client": request.client,
            "server": request.server,
            "state": dict(self.state),  # each request its own copy, as servers do
            "aws.event": event,
            "aws.context": context,
        }

    async def _start_lifespan(self) -> None:
        """Send ``lifespan.startup`` and wait for the app's answer.

        An app that raises instead of answering (a bare ASGI callable that
        knows only ``http``) does not use the lifespan: it serves without one,
        as servers do when their lifespan setting is "auto".
        """
        answered: asyncio.Future[None] = self.loop.create_future()
        messages = self._lifespan_messages
        messages.put_nowait({"type": "lifespan.startup"})

        async def send(message: Message) -> None:
            if answered.done():
                return
            if message["type"] == "lifespan.startup.complete":
                answered.set_result(None)
            elif message["type"] == "lifespan.startup.failed":
                answered.set_exception(LifespanFailed(message.get("message") or "no reason given"))

        async def run() -> None:
            scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": self.state}
            try:
                await self.app(scope, messages.get, send)
            except Exception:
                pass  # no lifespan support: see the docstring
            finally:
                if not answered.done():
                    answered.set_result(None)

        # the task waits on `messages` for the shutdown that never comes; it must stay
        # referenced, or the loop could drop it (and the app's lifespan context with it)
        self._lifespan = self.loop.create_task(run())
        await answered

    def close(self, timeout_s: float = 5.0) -> None:
        """Send the lifespan ``shutdown``, let the app finish it, and close the loop."""
        if self._lifespan is not None and not self._lifespan.done():
            self._lifespan_messages.put_nowait({"type": "lifespan.shutdown"})
            self.loop.run_until_complete(asyncio.wait({self._lifespan}, timeout=timeout_s))
        if self._lifespan is not None and not self._lifespan.done():
            self._lifespan.cancel()
            ending = asyncio.gather(self._lifespan, return_exceptions=True)
            self.loop.run_until_complete(ending)
        self.loop.close()


class _Exchange:
    """One request through the app: its messages both ways, and the response they make."""

    def __init__(self, request: FrameworkRequest, scope: dict[str, Any]) -> None:
        self.request = request
        self.scope = scope
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.body_sent = False
        self.complete = asyncio.Event()

    async def run(self, app: AsgiApp) -> dict[str, Any]:
        try:
            await app(self.scope, self.receive, self.send)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            if self.status is None:
                return internal_error(self.request.method)
            if not self.complete.is_set():
                raise  # half a response: the function fails, and API Gateway answers 502
        if self.status is None:
            print("the ASGI app returned without a response", file=sys.stderr)
            return internal_error(self.request.method)
        return proxy_response(
            self.status, self.headers, bytes(self.body), method=self.request.method
        )

    async def receive(self) -> Message:
        if not self.body_sent:
            self.body_sent = True
            return {"type": "http.request", "body": self.request.body, "more_body": False}
        # the client stays until the response is complete (streaming responses listen)
        await self.complete.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        match message["type"]:
            case "http.response.start":
                self.status = int(message["status"])
                self.headers = [
                    (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
                    for name, value in message.get("headers", [])
                ]
            case "http.response.body":
                self.body += message.get("body", b"")
                if not message.get("more_body", False):
                    self.complete.set()
            case _:
                pass  # trailers and extensions were not offered
