"""Serves a WSGI app (Flask, Django's WSGI handler...) in a function.

Each request becomes a WSGI environ as a server would build it (PEP 3333):
the root path in ``SCRIPT_NAME``, the rest in ``PATH_INFO``, the headers as
``HTTP_*`` variables, the whole body in ``wsgi.input``. The response is
gathered to its end (the iterable drained, then closed) into one proxy
response.

Standard library only: this module ships inside Lambda packages.
"""

from __future__ import annotations

import io
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from teal.runtime.exchange import (
    FrameworkRequest,
    internal_error,
    latin1_path,
    proxy_response,
    read_event,
)

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# Headers that a WSGI environ carries without the HTTP_ prefix (PEP 3333).
_UNPREFIXED = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


class WsgiAdapter:
    """A proxy event in, the WSGI app's answer as a proxy response out."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        request = read_event(event)
        response = _Response()
        try:
            result = self.app(environ(request, event, context), response.start)
            try:
                for chunk in result:
                    response.write(chunk)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return internal_error(request.method)
        if response.status is None:
            print("the WSGI app returned without calling start_response", file=sys.stderr)
            return internal_error(request.method)
        return proxy_response(
            response.status, response.headers, bytes(response.body), method=request.method
        )


def environ(request: FrameworkRequest, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The WSGI environ of a request (PEP 3333)."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        # decoded once, byte for byte, as a server decodes the request line
        "SCRIPT_NAME": latin1_path(request.raw_root_path),
        "PATH_INFO": latin1_path(request.raw_path),
        "QUERY_STRING": request.query_string,
        "SERVER_NAME": request.server[0],
        "SERVER_PORT": str(request.server[1]),
        "SERVER_PROTOCOL": f"HTTP/{request.http_version}",
        "CONTENT_LENGTH": str(len(request.body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.scheme,
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,  # one request at a time, in many environments
        "wsgi.run_once": False,
        "aws.event": event,
        "aws.context": context,
    }
    if request.client is not None:
        env["REMOTE_ADDR"] = request.client[0]
    env.update(_header_variables(request.headers))
    return env


def _header_variables(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``HTTP_*`` (and ``CONTENT_*``) variables; repeated headers joined as HTTP allows."""
    variables: dict[str, str] = {}
    for name, value in headers:
        lowered = name.lower()
        key = _UNPREFIXED.get(lowered) or "HTTP_" + lowered.upper().replace("-", "_")
        if key == "CONTENT_LENGTH":
            continue  # the body's own length, set above, is the truth
        joiner = "; " if lowered == "cookie" else ", "
        native = _native(value)
        variables[key] = f"{variables[key]}{joiner}{native}" if key in variables else native
    return variables


def _native(text: str) -> str:
    """A "native string" of PEP 3333: the UTF-8 bytes, each as one latin-1 character."""
    return text.encode("utf-8").decode("latin-1")


class _Response:
    """What the app gives ``start_response`` and its body."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()

    def start(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], object]:
        # Nothing is sent before the app is done, so an error page may always replace
        # what was started (PEP 3333 allows it until the headers are sent).
        del exc_info
        self.status = int(status.split(" ", 1)[0])
        self.headers = [(name, value) for name, value in headers]
        return self.write

    def write(self, data: bytes) -> None:
        self.body += data
