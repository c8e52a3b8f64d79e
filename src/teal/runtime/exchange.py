"""Between an API Gateway proxy event and a web framework: one request, one response.

The ASGI and WSGI adapters (:mod:`teal.runtime.asgi`, :mod:`teal.runtime.wsgi`)
share this reading of the event (payload format 1.0) and this writing of the
proxy response.

**Where the app is mounted.** A framework builds absolute URLs (``url_for``,
``request.url_for``, Django's ``reverse``) from the host, the scheme and its
root path (WSGI's ``SCRIPT_NAME``, ASGI's ``root_path``). The request reaches
the function by one of three roads, and the event says which:

- the API's own endpoint on AWS, ``https://{api}.execute-api.{region}.amazonaws.com/{stage}/...``:
  ``requestContext.path`` is the event's ``path`` after ``/{stage}``, so the
  app is mounted at ``/{stage}``;
- the same endpoint in teal's local cloud,
  ``http://127.0.0.1:4510/restapis/{api}/{stage}/_user_request_/...``: the
  event looks the same (as on AWS), and the function, which knows it runs
  locally, mounts the app at that longer prefix;
- a custom domain, ``https://{domain}/{base path}/...``: the ``path`` and the
  context's path are the same, and hold the base path; what the API's
  resource matched (``resource`` filled with ``pathParameters``) is the end
  of it, so the base path is what comes before.

**Encoding.** API Gateway passes ``path`` and ``pathParameters`` as the client
sent them, percent-encoded (``/users/a%2Bb``): a server decodes the path once
before an app sees it, so the adapters do (ASGI's ``path``, WSGI's
``PATH_INFO``), and keep the encoded form where the specs want it (ASGI's
``raw_path``).

Standard library only: this module ships inside Lambda packages.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes, urlencode

# Set on every function by the local cloud's workers (teal.cloud.local.functions.workers):
# the function runs locally, where an API's endpoint has the longer prefix.
LOCAL_CLOUD_VARIABLE = "TEAL_LOCAL_FUNCTION_ARN"
# The local gateway's endpoint form (teal.cloud.local.gateway.handler: API_PREFIX, USER_REQUEST).
LOCAL_ENDPOINT_PREFIX = "/restapis/{api_id}/{stage}/_user_request_"


@dataclass(frozen=True)
class FrameworkRequest:
    """An HTTP request as a server would hand it to an app, read from a proxy event."""

    method: str
    scheme: str
    host: str  # the Host the client used, with its port when it gave one
    server: tuple[str, int]
    client: tuple[str, int] | None
    root_path: str  # where the app is mounted: "" or "/dev", "/v1", ... (decoded)
    path: str  # the path inside the app, decoded, starting with "/"
    query_string: str  # percent-encoded, without "?"
    headers: tuple[tuple[str, str], ...]  # each value on its own, names as sent
    body: bytes
    http_version: str  # "1.1"
    raw_root_path: str = ""  # root_path as the client sent it, percent-encoded
    raw_path: str = "/"  # path as the client sent it, percent-encoded

    def header(self, name: str) -> str | None:
        """The first value of a header, whatever the case of its name."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


def read_event(event: Mapping[str, Any]) -> FrameworkRequest:
    """The request a proxy event (payload format 1.0) describes."""
    context: Mapping[str, Any] = event.get("requestContext") or {}
    headers = _header_pairs(event)
    scheme, host, server = _origin(headers, context)
    raw_root, raw_path = mount_point(event, local=LOCAL_CLOUD_VARIABLE in os.environ)
    identity: Mapping[str, Any] = context.get("identity") or {}
    source_ip = identity.get("sourceIp")
    protocol = str(context.get("protocol") or "HTTP/1.1")
    return FrameworkRequest(
        method=str(event.get("httpMethod") or "GET").upper(),
        scheme=scheme,
        host=host,
        server=server,
        client=(str(source_ip), 0) if source_ip else None,
        root_path=unquote(raw_root),
        path=unquote(raw_path),
        query_string=_query_string(event),
        headers=headers,
        body=_body(event),
        http_version=protocol.rpartition("/")[2] or "1.1",
        raw_root_path=raw_root,
        raw_path=raw_path,
    )


def wire_path(raw: str) -> bytes:
    """A percent-encoded path as bytes on the wire: its escapes kept, anything that is
    not ASCII (a client's raw UTF-8, say) escaped."""
    return quote(raw, safe="/:@!$&'()*+,;=-._~%").encode("ascii")


def latin1_path(raw: str) -> str:
    """A percent-encoded path decoded once into a WSGI "native string" (PEP 3333): each
    byte one latin-1 character, whatever the bytes are."""
    return unquote_to_bytes(raw).decode("latin-1")


def _header_pairs(event: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    multi: Mapping[str, Sequence[str]] | None = event.get("multiValueHeaders")
    if multi:
        return tuple((name, str(value)) for name, values in multi.items() for value in values)
    single: Mapping[str, str] = event.get("headers") or {}
    return tuple((name, str(value)) for name, value in single.items())


def _first(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _origin(
    headers: tuple[tuple[str, str], ...], context: Mapping[str, Any]
) -> tuple[str, str, tuple[str, int]]:
    """(scheme, Host, (server name, port)) as the client addressed the API."""
    local = LOCAL_CLOUD_VARIABLE in os.environ
    scheme = (_first(headers, "x-forwarded-proto") or ("http" if local else "https")).lower()
    host = _first(headers, "host") or str(context.get("domainName") or "localhost")
    name, _, port_text = host.rpartition(":") if _has_port(host) else (host, "", "")
    forwarded_port = _first(headers, "x-forwarded-port")
    port_text = port_text or forwarded_port or ("443" if scheme == "https" else "80")
    return scheme, host, (name, int(port_text) if port_text.isdigit() else 0)


def _has_port(host: str) -> bool:
    tail = host.rpartition(":")[2]
    return ":" in host and tail.isdigit() and not host.endswith("]")


def mount_point(event: Mapping[str, Any], *, local: bool) -> tuple[str, str]:
    """(root path, path inside the app) of the request, both still percent-encoded as the
    event holds them (see the module's notes)."""
    path = str(event.get("path") or "/")
    context: Mapping[str, Any] = event.get("requestContext") or {}
    stage = str(context.get("stage") or "")
    context_path = str(context.get("path") or path)
    if stage and _after_stage(context_path, stage) == path:  # the API's own endpoint
        if local and context.get("apiId"):
            return LOCAL_ENDPOINT_PREFIX.format(api_id=context["apiId"], stage=stage), path
        return f"/{stage}", path
    base = _base_path(path, event)
    return base, path[len(base) :] or "/"


def _after_stage(context_path: str, stage: str) -> str | None:
    """What follows ``/{stage}`` in the context's path, as the event's ``path`` has it:
    API Gateway collapses the slashes that start it there (``/dev//x`` has path ``/x``)."""
    prefix = f"/{stage}"
    if not context_path.startswith(prefix + "/"):
        return None
    rest = context_path[len(prefix) :]
    return "/" + rest.lstrip("/") if rest.startswith("//") else rest


def _base_path(path: str, event: Mapping[str, Any]) -> str:
    """What comes before the part of ``path`` the API's resource matched."""
    segments = list(re.finditer(r"[^/]+", path))
    inner = _resource_segments(str(event.get("resource") or "/"), event.get("pathParameters"))
    extra = len(segments) - inner
    return path[: segments[extra - 1].end()] if extra > 0 else ""


def _resource_segments(resource: str, parameters: Mapping[str, str] | None) -> int:
    """How many segments of the request path the resource (``/items/{id}``) matched."""
    count = 0
    for part in (p for p in resource.split("/") if p):
        if part.startswith("{") and part.endswith("+}"):
            value = (parameters or {}).get(part[1:-2], "")
            count += max(1, len([s for s in value.split("/") if s]))
        else:
            count += 1
    return count


def _query_string(event: Mapping[str, Any]) -> str:
    multi: Mapping[str, Sequence[str]] | None = event.get("multiValueQueryStringParameters")
    if multi:
        pairs = [(name, value) for name, values in multi.items() for value in values]
    else:
        pairs = list((event.get("queryStringParameters") or {}).items())
    return urlencode(pairs)


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        return base64.b64decode(str(body))
    return str(body).encode("utf-8")


def proxy_response(
    status: int, headers: Sequence[tuple[str, str]], body: bytes, *, method: str
) -> dict[str, Any]:
    """The proxy response for what the app answered.

    Every header goes in ``multiValueHeaders``, so that several ``Set-Cookie``
    survive. The body travels as text when it can be read back byte for byte
    (UTF-8, no content encoding); otherwise base64-encoded, which API Gateway
    decodes when the request's ``Accept`` matches the API's binary media types.
    A response to HEAD has no body, as a server sends none.
    """
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        multi.setdefault(name, []).append(value)
    if method == "HEAD":
        body = b""
    text = _as_text(body, headers)
    return {
        "statusCode": status,
        "multiValueHeaders": multi,
        "body": text if text is not None else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": text is None,
    }


def _as_text(body: bytes, headers: Sequence[tuple[str, str]]) -> str | None:
    if not body:
        return ""
    encoding = (_first(headers, "content-encoding") or "identity").strip().lower()
    if encoding != "identity":
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def internal_error(method: str) -> dict[str, Any]:
    """What a server answers when the app failed before it answered."""
    headers = [("content-type", "text/plain; charset=utf-8")]
    return proxy_response(500, headers, b"Internal Server Error", method=method)
