"""Request and Response, as handlers see them.

This module runs inside Lambda: it uses the standard library only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
BINARY_TYPE = "application/octet-stream"


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only header map (last value wins for repeats)."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in (items or {}).items():
            self._items[name.lower()] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True)
class Request:
    """One HTTP request, built from an API Gateway proxy event.

    ``path`` and ``path_params`` are decoded once (``/users/a%2Bb`` is ``/users/a+b``),
    as web frameworks hand them over; the event keeps them as the client sent them.
    """

    method: str
    path: str
    path_params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    query_all: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    event: Mapping[str, Any] = field(default_factory=dict, repr=False)
    context: Any = field(default=None, repr=False)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body) if self.body else None

    @classmethod
    def from_event(cls, event: Mapping[str, Any], context: Any = None) -> Request:
        raw_body = event.get("body")
        if raw_body is None:
            body = b""
        elif event.get("isBase64Encoded"):
            body = base64.b64decode(raw_body)
        else:
            body = str(raw_body).encode("utf-8")
        multi_query: Mapping[str, list[str]] = event.get("multiValueQueryStringParameters") or {}
        single_query: Mapping[str, str] = event.get("queryStringParameters") or {}
        return cls(
            method=str(event.get("httpMethod", "GET")),
            path=unquote(str(event.get("path", "/"))),
            path_params={
                name: unquote(str(value))
                for name, value in (event.get("pathParameters") or {}).items()
            },
            query=dict(single_query),
            query_all={k: list(v) for k, v in multi_query.items()},
            headers=Headers(event.get("headers") or {}),
            body=body,
            event=event,
            context=context,
        )


class HandlerResultError(TypeError):
    """A handler returned something teal cannot turn into an HTTP response."""


RETURN_HINT = (
    "return a dict or list (JSON), a str (text), bytes, or Response(body, status=..., headers=...)"
)


@dataclass
class Response:
    """What a handler returns when it needs a status code or headers.

    ``Response(None, status=204)`` answers with an empty body.
    """

    body: Any = None
    status: int = 200
    headers: dict[str, str] | None = None

    def to_proxy(self, handler: str = "the handler") -> dict[str, Any]:
        """The API Gateway proxy response for this response; :class:`HandlerResultError`
        when the body is of no kind a response can carry."""
        return _proxy(self.body, self.status, self.headers, handler)


def _proxy(body: Any, status: int, given: Mapping[str, str] | None, handler: str) -> dict[str, Any]:
    headers = dict(given) if given else {}
    payload, content_type, is_binary = _encode_body(body, handler)
    if content_type and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = content_type
    return {
        "statusCode": status,
        "headers": headers,
        "body": payload,
        "isBase64Encoded": is_binary,
    }


# Built once: json.dumps with an option (the separators) builds an encoder per call.
_BODY_JSON = json.JSONEncoder(separators=(",", ":"))


def _encode_body(body: Any, handler: str) -> tuple[str, str | None, bool]:
    """Body as it travels in a proxy response: (text, default content type, base64?)."""
    if body is None:
        return "", None, False
    if isinstance(body, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(body)).decode("ascii"), BINARY_TYPE, True
    if isinstance(body, str):
        return body, TEXT_TYPE, False
    try:  # never str() of what JSON cannot encode: the client would get a Python repr
        return _BODY_JSON.encode(body), JSON_TYPE, False
    except (TypeError, ValueError) as exc:
        raise HandlerResultError(
            f"{handler} returned a body JSON cannot encode ({exc}); {RETURN_HINT}"
        ) from exc


def to_proxy_response(result: Any, handler: str = "the handler") -> dict[str, Any]:
    """Turn whatever a (non-raw) handler returned into a proxy response.

    ``None`` (a forgotten ``return``, most often) and tuples (``return body, 201``
    in other frameworks) are refused with :class:`HandlerResultError` naming
    ``handler``, as is a body JSON cannot encode.
    """
    if isinstance(result, Response):
        return result.to_proxy(handler)
    if result is None:
        raise HandlerResultError(
            f"{handler} returned None; {RETURN_HINT} (Response(None, status=204) for no body)"
        )
    if isinstance(result, tuple):
        raise HandlerResultError(
            f"{handler} returned a tuple; teal does not read (body, status) tuples: "
            "return Response(body, status=201) instead"
        )
    return _proxy(result, 200, None, handler)  # as Response(result) would, without one
