"""API Gateway proxy events (payload format 1.0), shaped as AWS sends them."""

from __future__ import annotations

import base64
from typing import Any


def proxy_event(
    resource: str,
    path: str,
    method: str = "GET",
    *,
    path_params: dict[str, str] | None = None,
    query: list[tuple[str, str]] | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | str | None = None,
    binary: bool = False,
    stage: str = "dev",
) -> dict[str, Any]:
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers or [("Host", "abc123.execute-api.us-east-1.amazonaws.com")]:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in query or []:
        multi_query.setdefault(name, []).append(value)
    if binary and body is not None:
        raw = body if isinstance(body, bytes) else body.encode()
        wire_body: str | None = base64.b64encode(raw).decode()
    else:
        wire_body = body.decode() if isinstance(body, bytes) else body
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "a1b2c3",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": "Ab1CdEFgIAMFbXw=",
            "requestTime": "26/Nov/2026:09:00:00 +0000",
            "path": f"/{stage}{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "abc123",
            "requestTimeEpoch": 1795683600000,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.0"},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "apiId": "abc123",
        },
        "body": wire_body,
        "isBase64Encoded": binary,
    }
