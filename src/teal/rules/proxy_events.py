"""API Gateway proxy events (payload format 1.0) and proxy responses.

The local gateway builds the event a REST API's Lambda proxy integration
would send, field by field, and reads the function's proxy response back
with API Gateway's checks. Pure functions: no I/O, the time is passed in.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

PROXY_RESPONSE_KEYS = frozenset(
    {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
)
# HTTP's rules for a header (RFC 9110 5.1, 5.5): the name a token, the value without
# line breaks or other control characters; what breaks them cannot be sent at all.
_HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# The account a sample event names (teal invoke's, a test's): no real one is known.
SAMPLE_ACCOUNT_ID = "000000000000"


@dataclass(frozen=True)
class RequestSource:
    """Where a request came in and how it was routed: what the event's context describes."""

    api_id: str
    stage: str
    resource_path: str  # the matched resource's path template, e.g. /posts/{id}
    path: str  # the event's `path`, percent-encoded as the client sent it
    context_path: str  # requestContext.path: with the stage prefix, or the domain's full path
    domain_name: str
    path_parameters: Mapping[str, str] = field(default_factory=dict)  # still percent-encoded
    stage_variables: Mapping[str, str] = field(default_factory=dict)
    binary_media_types: tuple[str, ...] = ()  # the stage's deployment's list
    account_id: str = SAMPLE_ACCOUNT_ID  # the API's account
    deployment_id: str = ""  # the deployment the stage serves
    # the first label of the domain AWS would answer on: the API id on its own endpoint
    # (``{api}.execute-api...``); without one, the first label of ``domain_name``
    domain_prefix: str = ""


@dataclass(frozen=True)
class IncomingRequest:
    """The HTTP facts an event is built from."""

    method: str
    query_string: str
    headers: Sequence[tuple[str, str]]  # names as the client wrote them
    body: bytes
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    scheme: str = "http"  # of the connection the client made
    port: int = 443  # the port the client connected to


def build_proxy_event(
    request: IncomingRequest,
    source: RequestSource,
    *,
    request_id: str,
    now: float,
    trace_id: str | None = None,
) -> dict[str, Any]:
    """The format 1.0 proxy event API Gateway would send for this request.

    Header names keep the client's case, as REST APIs pass them; the headers API
    Gateway keeps for itself (:data:`DROPPED_REQUEST_HEADERS`) are left out, and its
    own ``X-Forwarded-*`` and ``X-Amzn-Trace-Id`` added.
    """
    headers, multi_headers, lowered = _header_maps(_with_gateway_headers(request, trace_id))
    query, multi_query = _query_maps(request.query_string) if request.query_string else ({}, {})
    content_type = lowered.get("content-type") or ""
    body, is_base64 = encode_request_body(request.body, content_type, source.binary_media_types)
    user_agent = lowered.get("user-agent")
    return {
        "resource": source.resource_path,
        "path": source.path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(source.path_parameters) or None,
        "stageVariables": dict(source.stage_variables) or None,
        "requestContext": _request_context(request, source, request_id, now, user_agent),
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _request_context(
    request: IncomingRequest,
    source: RequestSource,
    request_id: str,
    now: float,
    user_agent: str | None,
) -> dict[str, Any]:
    domain_prefix = source.domain_prefix or source.domain_name.split(".", 1)[0].split(":", 1)[0]
    return {
        "resourceId": resource_id(source.api_id, source.resource_path),
        "resourcePath": source.resource_path,
        "httpMethod": request.method,
        "extendedRequestId": extended_request_id(request_id),
        "requestTime": _request_time(int(now)),
        "path": source.context_path,
        "accountId": source.account_id,
        "protocol": request.protocol,
        "stage": source.stage,
        "domainPrefix": domain_prefix,
        "requestTimeEpoch": int(now * 1000),
        "requestId": request_id,
        "identity": _identity(request.source_ip, user_agent),
        "domainName": source.domain_name,
        "deploymentId": source.deployment_id,
        "apiId": source.api_id,
    }


def add_access(
    event: dict[str, Any], authorizer: Mapping[str, Any] | None, identity: Mapping[str, Any]
) -> None:
    """What the authorizer and the API key check found, into the event's ``requestContext``:
    the authorizer's ``principalId`` and context (or a Cognito token's claims) as
    ``authorizer``, the API key (``apiKey``, ``apiKeyId``: present only where a key was
    checked) and an IAM caller's access key in ``identity``."""
    context = event["requestContext"]
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    context["identity"].update(identity)


def _identity(source_ip: str, user_agent: str | None) -> dict[str, Any]:
    # an open method's identity, as AWS's events show it: no apiKey, apiKeyId or clientCert
    # (the API key check adds the first two; a client certificate needs mutual TLS)
    unset = (
        "cognitoIdentityPoolId",
        "accountId",
        "cognitoIdentityId",
        "caller",
        "principalOrgId",
        "accessKey",
        "cognitoAuthenticationType",
        "cognitoAuthenticationProvider",
        "userArn",
        "user",
    )
    identity: dict[str, Any] = dict.fromkeys(unset)
    identity["sourceIp"] = source_ip
    identity["userAgent"] = user_agent
    return identity


@functools.lru_cache(maxsize=4096)  # every event needs it; a hash per request is waste
def resource_id(api_id: str, resource_path: str) -> str:
    """A stable 6-8 character id per resource, like API Gateway's resource ids."""
    return hashlib.sha256(f"{api_id}{resource_path}".encode()).hexdigest()[:6]


@functools.lru_cache(maxsize=4)  # requests of the same second share it
def _request_time(epoch_s: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_s))


def extended_request_id(request_id: str) -> str:
    """16 characters of base64 ending in ``=``, like API Gateway's, from the request id: the
    event's ``extendedRequestId`` and the answer's ``x-amz-apigw-id``."""
    return base64.b64encode(request_id.encode()[-11:].rjust(11, b"0")).decode("ascii")


_FORWARDED_HEADERS = frozenset({"x-forwarded-proto", "x-forwarded-port"})
_GATEWAY_HEADERS = _FORWARDED_HEADERS | {"x-amzn-trace-id"}
# Request headers API Gateway never hands to an integration, a proxy one included
# (docs/api-gateway.md, "Request headers"): the connection's own, and the body's length.
DROPPED_REQUEST_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "content-md5",
        "expect",
        "max-forwards",
        "proxy-authenticate",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "www-authenticate",
    }
)


def _with_gateway_headers(request: IncomingRequest, trace_id: str | None) -> list[tuple[str, str]]:
    """The client's headers with those API Gateway sets: the client's address appended to
    ``X-Forwarded-For``, the connection's protocol and port, and the trace id."""
    ours = _GATEWAY_HEADERS if trace_id is not None else _FORWARDED_HEADERS
    pairs: list[tuple[str, str]] = []
    forwarded: list[int] = []
    for name, value in request.headers:
        lowered = name.lower()
        if lowered in ours or lowered in DROPPED_REQUEST_HEADERS:
            continue
        if lowered == "x-forwarded-for":
            forwarded.append(len(pairs))
        pairs.append((name, value))
    if forwarded:
        name, value = pairs[forwarded[-1]]
        pairs[forwarded[-1]] = (name, f"{value}, {request.source_ip}")
    else:
        pairs.append(("X-Forwarded-For", request.source_ip))
    pairs += [("X-Forwarded-Port", str(request.port)), ("X-Forwarded-Proto", request.scheme)]
    if trace_id is not None:
        pairs.append(("X-Amzn-Trace-Id", trace_id))
    return pairs


def _header_maps(
    pairs: Sequence[tuple[str, str]],
) -> tuple[dict[str, str], dict[str, list[str]], dict[str, str]]:
    """headers (last value wins) and multiValueHeaders, names as the client sent them; and
    by lowercased name, the value ``headers`` keeps for the first name of that spelling
    (what a case-insensitive lookup in ``headers`` finds)."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    lowered: dict[str, str] = {}
    for name, value in single.items():
        lowered.setdefault(name.lower(), value)
    return single, multi, lowered


def _query_maps(query_string: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def media_type(header_value: str | None) -> str:
    """The media type of a Content-Type value, lowercased, without its parameters."""
    return (header_value or "").split(";", 1)[0].strip().lower()


def first_accepted(accept: str | None) -> str:
    """The first media type of an Accept value: the one API Gateway looks at."""
    return media_type((accept or "").split(",", 1)[0])


def is_binary(media: str, binary_media_types: Sequence[str]) -> bool:
    """Whether a media type matches the API's binaryMediaTypes, as API Gateway matches:
    an exact type, ``type/*`` for any subtype of that type, ``*/*`` for every type; a
    listed ``*/subtype`` matches nothing. No media type matches nothing."""
    return _is_binary(media, tuple(binary_media_types))


@functools.lru_cache(maxsize=1024)  # every request asks, about a few types and lists
def _is_binary(media: str, binary_media_types: tuple[str, ...]) -> bool:
    kind, slash, subtype = media.partition("/")
    if not slash:
        return False
    for listed in binary_media_types:
        listed_kind, _, listed_subtype = listed.lower().partition("/")
        if listed_kind == "*":
            if listed_subtype == "*":
                return True
            continue  # AWS honours no wildcard type before a named subtype
        if listed_kind == kind and listed_subtype in ("*", subtype):
            return True
    return False


def encode_request_body(
    body: bytes, content_type: str, binary_media_types: Sequence[str]
) -> tuple[str | None, bool]:
    """(event body, isBase64Encoded) as API Gateway hands a body over: base64 when its
    Content-Type is one of the API's binary media types, else as UTF-8 text (bytes
    that are not UTF-8 become U+FFFD: binary sent as text does not survive)."""
    if not body:
        return None, False
    if is_binary(media_type(content_type), binary_media_types):
        return base64.b64encode(body).decode("ascii"), True
    return body.decode("utf-8", errors="replace"), False


def event_path(path: str) -> str:
    """The event's ``path`` for a request path (inside the stage, or a domain's whole
    path): as sent, percent-encoding kept, but slashes before the first segment
    collapsed to one (``//x`` is ``/x``; ``requestContext.path`` keeps them)."""
    return "/" + path.lstrip("/") if path.startswith("//") else path


def path_parameters(resource_path: str, path: str) -> dict[str, str]:
    """The values of a resource's variables in a request path it matched, as API Gateway
    hands them over: percent-encoded as sent. A variable takes one segment; a greedy
    one (``{proxy+}``) the rest, inner empty segments (``a//b``) kept and a trailing
    slash left out. Empty segments before it are skipped, as routing skips them."""
    parts = [part for part in resource_path.split("/") if part]
    values: dict[str, str] = {}
    rest = path
    for part in parts:
        rest = rest.lstrip("/")
        if part.startswith("{") and part.endswith("+}"):
            values[part[1:-2]] = rest.rstrip("/")
            break
        segment, _, rest = rest.partition("/")
        rest = "/" + rest
        if part.startswith("{") and part.endswith("}"):
            values[part[1:-1]] = segment
    return values


@dataclass(frozen=True)
class ProxyResponse:
    """A function's proxy response, checked and decoded."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class MalformedProxyResponse(ValueError):
    """The function returned something API Gateway would answer 502 for."""


class UndecodableProxyBody(ValueError):
    """A body marked ``isBase64Encoded`` that is not base64, when API Gateway decodes it:
    API Gateway answers 500 (not 502) for it."""


def parse_proxy_response(result: Any, *, binary_accepted: bool = True) -> ProxyResponse:
    """Check a proxy response as API Gateway does; raise :class:`MalformedProxyResponse`.

    Every key may be left out: no ``statusCode`` is 200. A body marked
    ``isBase64Encoded`` is decoded to bytes only when ``binary_accepted`` (the
    request's first Accept type is one of the API's binary media types, see
    :func:`is_binary`), and raises :class:`UndecodableProxyBody` when it is not
    base64; otherwise the client gets the base64 text as it is, as from API Gateway.
    """
    if not isinstance(result, dict):
        raise MalformedProxyResponse(f"the response is a {type(result).__name__}, not an object")
    unknown = set(result) - PROXY_RESPONSE_KEYS
    if unknown:
        raise MalformedProxyResponse(f"unknown keys in the response: {sorted(unknown)}")
    decode = bool(result.get("isBase64Encoded")) and binary_accepted
    return ProxyResponse(
        _status_of(result.get("statusCode")),
        _merged_headers(result.get("headers"), result.get("multiValueHeaders")),
        _body_of(result.get("body"), decode),
    )


def _status_of(value: Any) -> int:
    if value is None:
        return 200  # AWS answers 200 for a response without a status
    if isinstance(value, bool):
        raise MalformedProxyResponse("statusCode must be a number")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        status = int(value)
        if 100 <= status <= 599:
            return status
    raise MalformedProxyResponse(f"statusCode {value!r} is not an HTTP status")


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise MalformedProxyResponse(f"{where} must be a string, got {type(value).__name__}")


def _merged_headers(headers: Any, multi: Any) -> tuple[tuple[str, str], ...]:
    """multiValueHeaders' values, then each ``headers`` value: one whose name is in
    multiValueHeaders too (in any case) is added to that name's values, in its
    spelling, unless that very value is there already."""
    if headers is not None and not isinstance(headers, dict):
        raise MalformedProxyResponse("headers must be an object")
    if multi is not None and not isinstance(multi, dict):
        raise MalformedProxyResponse("multiValueHeaders must be an object")
    merged: list[tuple[str, str]] = []
    spelling: dict[str, str] = {}  # lowercased name -> multiValueHeaders' spelling
    for name, values in (multi or {}).items():
        if not isinstance(values, list):
            raise MalformedProxyResponse(f"multiValueHeaders[{name!r}] must be a list")
        where = f"multiValueHeaders[{name!r}]"
        merged.extend(_header(name, _scalar(v, where), where) for v in values)
        spelling.setdefault(name.lower(), name)
    for name, value in (headers or {}).items():
        where = f"headers[{name!r}]"
        spelled = spelling.get(name.lower()) or name
        header = _header(spelled, _scalar(value, where), where)
        if header not in merged:
            merged.append(header)
    return tuple(merged)


def _header(name: str, value: str, where: str) -> tuple[str, str]:
    """A header HTTP can carry, its value without surrounding blanks; or malformed."""
    if not _HEADER_NAME.fullmatch(name):
        raise MalformedProxyResponse(f"{where}: the name is not an HTTP header name")
    value = value.strip(" \t")
    if _HEADER_VALUE_FORBIDDEN.search(value):
        raise MalformedProxyResponse(f"{where}: the value holds a line break or control character")
    return name, value


def _body_of(body: Any, decode: bool) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedProxyResponse("body must be a string")
    if decode:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UndecodableProxyBody(f"body is not valid base64: {exc}") from exc
    return body.encode("utf-8")
