"""The conformance cases (see :mod:`corpus` for what a case holds)."""

from __future__ import annotations

import base64
import re
from typing import Any

from corpus import (
    API_KEY,
    API_KEY_ID,
    AUTHORIZER_ANSWERS,
    AUTHORIZER_API_DOC,
    AUTHORIZER_INPUT_DOC,
    AUTHORIZER_OUTPUT_DOC,
    BINARY_DOC,
    CONTEXT_DOC,
    CURL_OF_A_REST_API,
    DOMAIN_BASE,
    DOMAIN_NAME,
    EVENT_OVER_6MB,
    GATEWAY_RESPONSES_DOC,
    GO_SAMPLE,
    GREEDY,
    GUARDED,
    GUARDED_EU,
    IAM_CONTEXT_DOC,
    KNOWN_ISSUES_DOC,
    LAMBDA_ERRORS_DOC,
    LIMITS_DOC,
    MAIN,
    MEASURED,
    MULTI_VALUE_DOC,
    ORIGIN,
    PREFLIGHT_HEADERS,
    PROXY_DOC,
    PROXY_RESOURCE_DOC,
    ROOTED,
    ROUTING_GREEDY_ROOT,
    ROUTING_SIBLINGS,
    SAM_SAMPLE,
    SIBLINGS,
    UNMATCHED_IS_403,
    USAGE_PLANS_DOC,
    Case,
    Sent,
    proxy_event_recording,
    response_format_recording,
)

UA = ("User-Agent", "corpus-client/1.0")
# the identity of a method without authorizer or API key, as every recording shows it
OPEN_IDENTITY = {
    "accessKey": None,
    "accountId": None,
    "caller": None,
    "cognitoAuthenticationProvider": None,
    "cognitoAuthenticationType": None,
    "cognitoIdentityId": None,
    "cognitoIdentityPoolId": None,
    "principalOrgId": None,
    "user": None,
    "userAgent": "corpus-client/1.0",
    "userArn": None,
}


def _greedy_get(path: str, proxy: str, *, query: str = "", **event: Any) -> dict[str, Any]:
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "pathParameters": {"proxy": proxy},
        "requestContext.resourcePath": "/{proxy+}",
        "requestContext.path": f"/test{path}",
        "requestContext.stage": "test",
        "requestContext.httpMethod": "GET",
        "requestContext.protocol": "HTTP/1.1",
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        **event,
    }


CASES: list[Case] = []


def case(**fields: Any) -> None:
    CASES.append(Case(**fields))


# ---------------------------------------------------------------- event shape (recorded)

case(
    name="recorded-greedy-get",
    source=proxy_event_recording("invocation-payload-without-trailing-slash"),
    api=GREEDY,
    sent=Sent("/test-path", headers=(UA, ("tEsT-HEADeR", "aValUE"))),
    event=_greedy_get(
        "/test-path",
        "test-path",
        **{
            "headers.tEsT-HEADeR": "aValUE",
            "multiValueHeaders.tEsT-HEADeR": ["aValUE"],
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "requestContext.identity": {**OPEN_IDENTITY, "sourceIp": "127.0.0.1"},
            "requestContext.apiId": GREEDY.api_id,
            "requestContext.domainPrefix": GREEDY.api_id,
        },
    ),
    absent=("requestContext.identity.apiKey", "requestContext.identity.apiKeyId"),
)
case(
    name="recorded-greedy-trailing-slash",
    source=proxy_event_recording("invocation-payload-with-trailing-slash"),
    api=GREEDY,
    sent=Sent("/test-path/", headers=(UA,)),
    event=_greedy_get("/test-path/", "test-path"),
)
case(
    name="recorded-greedy-query",
    source=proxy_event_recording("invocation-payload-without-trailing-slash-and-query-params"),
    api=GREEDY,
    sent=Sent("/test-path", query="urlparam=test", headers=(UA,)),
    event=_greedy_get(
        "/test-path",
        "test-path",
        queryStringParameters={"urlparam": "test"},
        multiValueQueryStringParameters={"urlparam": ["test"]},
    ),
)
case(
    name="recorded-greedy-trailing-slash-query",
    source=proxy_event_recording("invocation-payload-with-trailing-slash-and-query-params"),
    api=GREEDY,
    sent=Sent("/test-path/", query="urlparam=test", headers=(UA,)),
    event=_greedy_get(
        "/test-path/",
        "test-path",
        queryStringParameters={"urlparam": "test"},
    ),
)
case(
    name="recorded-path-keeps-percent-encoding",  # issue item: encoded paths
    kind="encoding",
    source=proxy_event_recording("invocation-payload-with-path-encoded-email"),
    api=GREEDY,
    sent=Sent("/test-path/api/user/test%2Balias@gmail.com/plus/test+alias@gmail.com"),
    event=_greedy_get(
        "/test-path/api/user/test%2Balias@gmail.com/plus/test+alias@gmail.com",
        "test-path/api/user/test%2Balias@gmail.com/plus/test+alias@gmail.com",
    ),
)
case(
    name="recorded-query-decoding",
    kind="encoding",
    source=proxy_event_recording("invocation-payload-with-params-encoding"),
    api=GREEDY,
    sent=Sent(
        "/test-path/api",
        query=(
            "dateTimeOffset=2023-06-12T18:05:10.123456+00:00&email=test%2Balias@gmail.com"
            "&plus=test+alias@gmail.com&url=https://www.google.com/&whitespace=foo%20bar"
            "&zhash=abort/"
        ),
    ),
    event=_greedy_get(
        "/test-path/api",
        "test-path/api",
        queryStringParameters={
            "dateTimeOffset": "2023-06-12T18:05:10.123456 00:00",
            "email": "test+alias@gmail.com",
            "plus": "test alias@gmail.com",
            "url": "https://www.google.com/",
            "whitespace": "foo bar",
            "zhash": "abort/",
        },
    ),
)
case(
    name="recorded-post-multi-value-query",
    source=proxy_event_recording("invocation-payload-with-params-encoding-multi"),
    api=GREEDY,
    sent=Sent(
        "/test-path",
        method="POST",
        query="category=electronics&category=books&price=10&price=20&price=30",
        headers=(
            ("Content-Type", "application/json;charset=utf-8"),
            ("Authorization", "Bearer token123;API key456"),
            UA,
        ),
        body=b'{"message": "hello world"}',
    ),
    event={
        "httpMethod": "POST",
        "path": "/test-path",
        "pathParameters": {"proxy": "test-path"},
        "queryStringParameters": {"category": "books", "price": "30"},
        "multiValueQueryStringParameters": {
            "category": ["electronics", "books"],
            "price": ["10", "20", "30"],
        },
        "headers.Content-Type": "application/json;charset=utf-8",
        "headers.Authorization": "Bearer token123;API key456",
        "body": '{"message": "hello world"}',
        "isBase64Encoded": False,
    },
    # the client sent Content-Length (and Connection): neither is in the recorded event
    absent=("headers.Content-Length", "multiValueHeaders.Content-Length", "headers.Connection"),
)

# ---------------------------------------------------------------- event shape (documented)

case(
    name="event-has-every-documented-key",
    source=PROXY_DOC,
    api=MAIN,
    sent=Sent("/items", headers=(UA,)),
    event={
        "resource": "/items",
        "path": "/items",
        "httpMethod": "GET",
        "pathParameters": None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext.resourcePath": "/items",
        "requestContext.stage": "dev",
        "requestContext.path": "/dev/items",
        "requestContext.apiId": MAIN.api_id,
    },
)
case(
    name="stage-variables-reach-the-event",
    source=PROXY_DOC,
    api=MAIN,
    sent=Sent("/items"),
    event={"stageVariables": {"flavour": "plain"}},
)
case(
    name="request-context-deployment-id",  # issue item: requestContext
    source=proxy_event_recording("invocation-payload-without-trailing-slash"),
    api=GREEDY,
    sent=Sent("/anything"),
    event={"requestContext.deploymentId": f"dep-{GREEDY.api_id}"},
)
case(
    name="domain-prefix-is-the-api-id-on-its-endpoint",
    source=CONTEXT_DOC,
    api=MAIN,
    sent=Sent("/items"),
    event={
        "requestContext.domainPrefix": MAIN.api_id,
        "requestContext.deploymentId": f"dep-{MAIN.api_id}",
    },
)
case(
    name="domain-prefix-is-a-custom-domains-first-label",
    source=CONTEXT_DOC,
    api=MAIN,
    sent=Sent(f"/{DOMAIN_BASE}/items", via_domain=True),
    event={
        "requestContext.domainName": DOMAIN_NAME,
        "requestContext.domainPrefix": DOMAIN_NAME.split(".")[0],
        "requestContext.path": f"/{DOMAIN_BASE}/items",
        "resource": "/items",
    },
)
case(
    name="open-method-identity-has-no-api-key",
    source=proxy_event_recording("invocation-payload-with-params-encoding"),
    api=MAIN,
    sent=Sent("/items", headers=(UA,)),
    event={"requestContext.identity.sourceIp": "127.0.0.1"},
    absent=(
        "requestContext.identity.apiKey",
        "requestContext.identity.apiKeyId",
        "requestContext.identity.clientCert",
        "requestContext.authorizer",
    ),
)
case(
    name="identity-user-agent",
    source=SAM_SAMPLE,
    api=MAIN,
    sent=Sent("/items", headers=(("User-Agent", "Custom User Agent String"),)),
    event={"requestContext.identity.userAgent": "Custom User Agent String"},
)
case(
    name="request-context-method-and-resource",
    source=SAM_SAMPLE,
    api=MAIN,
    sent=Sent("/items", method="POST", body=b'{"test":"body"}'),
    event={
        "requestContext.httpMethod": "POST",
        "requestContext.resourcePath": "/items",
        "body": '{"test":"body"}',
    },
)
for verb in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
    case(
        name=f"any-method-passes-the-verb-{verb.lower()}",
        kind="routing",
        source=PROXY_RESOURCE_DOC,
        api=MAIN,
        sent=Sent("/files/report.txt", method=verb),
        event={
            "httpMethod": verb,
            "requestContext.httpMethod": verb,
            "resource": "/files/{path+}",
            "pathParameters": {"path": "report.txt"},
        },
    )

# ---------------------------------------------------------------- routing

case(
    name="path-variable-takes-one-segment",
    kind="routing",
    source=PROXY_DOC,
    api=MAIN,
    sent=Sent("/items/42"),
    event={"resource": "/items/{id}", "pathParameters": {"id": "42"}, "path": "/items/42"},
)
case(
    name="static-resource-wins-over-a-variable",
    kind="routing",
    source=PROXY_RESOURCE_DOC,
    api=MAIN,
    sent=Sent("/items/new"),
    event={"resource": "/items/new", "pathParameters": None},
)
case(
    name="greedy-variable-takes-the-rest",
    kind="routing",
    source=PROXY_RESOURCE_DOC,
    api=MAIN,
    sent=Sent("/files/a/b/c.txt"),
    event={"resource": "/files/{path+}", "pathParameters": {"path": "a/b/c.txt"}},
)
case(
    name="root-resource",
    kind="routing",
    source=PROXY_DOC,
    api=MAIN,
    sent=Sent("/"),
    event={"resource": "/", "path": "/", "requestContext.path": "/dev/", "pathParameters": None},
)
case(
    name="greedy-at-the-root-takes-a-deep-path",
    kind="routing",
    source=proxy_event_recording("invocation-payload-with-params-encoding"),
    api=GREEDY,
    sent=Sent("/a/b/c/d"),
    event={"resource": "/{proxy+}", "pathParameters": {"proxy": "a/b/c/d"}},
)
for what, path in (
    ("unknown-path", "/nothing/here"),
    ("deeper-than-a-variable", "/items/1/2"),
    ("method-the-resource-lacks", "/items/new"),
):
    case(
        name=f"missing-token-for-{what}",
        kind="errors",
        source=GATEWAY_RESPONSES_DOC,
        api=MAIN,
        # PATCH: neither /items/new nor its variable sibling /items/{id} has it
        sent=Sent(path, method="PATCH" if what == "method-the-resource-lacks" else "GET"),
        status=403,
        answer_headers={"x-amzn-ErrorType": ["MissingAuthenticationTokenException"]},
        answer_body=b'{"message":"Missing Authentication Token"}',
    )

# ---------------------------------------------------------------- routing on the method

# API Gateway resolves the path and the method together: the most specific resource with
# the verb (or ANY) wins; a static resource without it yields to a sibling or ancestor
for api, verb, path, resource, params in (
    (SIBLINGS, "GET", "/users/me", "/users/{userId}", {"userId": "me"}),
    (SIBLINGS, "PATCH", "/users/me", "/users/me", None),
    (SIBLINGS, "GET", "/users/abc123", "/users/{userId}", {"userId": "abc123"}),
    (SIBLINGS, "POST", "/roles/provision", "/roles/provision", None),
    (SIBLINGS, "GET", "/roles/provision", "/roles/{roleId}", {"roleId": "provision"}),
    (SIBLINGS, "GET", "/things/real", "/things/real", None),
    (MAIN, "DELETE", "/items/new", "/items/{id}", {"id": "new"}),  # /items/new has GET only
    (SIBLINGS, "POST", "/things/real", "/things/{proxy+}", {"proxy": "real"}),
    (ROOTED, "GET", "/jobs/reboot", "/jobs/{operation_type}", {"operation_type": "reboot"}),
    (ROOTED, "GET", "/jobs", "/{proxy+}", {"proxy": "jobs"}),
    (ROOTED, "POST", "/jobs/reboot", "/{proxy+}", {"proxy": "jobs/reboot"}),
    (ROOTED, "GET", "/cors_only", "/{proxy+}", {"proxy": "cors_only"}),
    (ROOTED, "POST", "/users", "/{proxy+}", {"proxy": "users"}),  # beside GET /users
    (ROOTED, "GET", "/users", "/users", None),
    (ROOTED, "OPTIONS", "/test", "/{proxy+}", {"proxy": "test"}),  # beside POST /test
    (ROOTED, "DELETE", "/test/any", "/test/any", None),
):
    case(
        name=f"method-routing-{api.api_id[:-3]}-{verb.lower()}{path.replace('/', '-')}",
        kind="routing",
        source=ROUTING_GREEDY_ROOT if api is ROOTED else ROUTING_SIBLINGS,
        api=api,
        sent=Sent(path, method=verb, body=b"x" if verb in ("POST", "PATCH") else b""),
        event={
            "resource": resource,
            "requestContext.resourcePath": resource,
            "httpMethod": verb,
            "pathParameters": params,
        },
    )
case(
    name="method-routing-no-resource-has-the-verb",
    kind="routing",
    source=UNMATCHED_IS_403,
    api=SIBLINGS,
    sent=Sent("/users/me", method="POST", body=b"x"),
    status=403,
    answer_headers={"x-amzn-ErrorType": ["MissingAuthenticationTokenException"]},
    answer_body=b'{"message":"Missing Authentication Token"}',
)

# ---------------------------------------------------------------- encoding and slashes

for label, raw in (
    ("plus", "test%2Balias@x.com"),
    ("space", "a%20b"),
    ("utf8", "caf%C3%A9"),
    ("slash", "a%2Fb"),
    ("percent", "100%25"),
    ("literal-plus", "a+b"),
    ("lowercase-escape", "caf%c3%a9"),
):
    case(
        name=f"path-parameter-as-sent-{label}",  # issue item: encoded paths
        kind="encoding",
        source=proxy_event_recording("invocation-payload-with-path-encoded-email"),
        api=MAIN,
        sent=Sent(f"/api/user/{raw}"),
        event={
            "resource": "/api/user/{email}",
            "path": f"/api/user/{raw}",
            "requestContext.path": f"/dev/api/user/{raw}",
            "pathParameters": {"email": raw},
        },
    )
case(
    name="greedy-parameter-keeps-encoding",
    kind="encoding",
    source=proxy_event_recording("invocation-payload-with-path-encoded-email"),
    api=MAIN,
    sent=Sent("/files/dir%20one/caf%C3%A9.txt"),
    event={"pathParameters": {"path": "dir%20one/caf%C3%A9.txt"}},
)
case(
    name="encoded-path-through-a-custom-domain",
    kind="encoding",
    source=proxy_event_recording("invocation-payload-with-path-encoded-email"),
    api=MAIN,
    sent=Sent(f"/{DOMAIN_BASE}/api/user/test%2Balias@x.com", via_domain=True),
    event={
        "requestContext.path": f"/{DOMAIN_BASE}/api/user/test%2Balias@x.com",
        "pathParameters": {"email": "test%2Balias@x.com"},
    },
)
case(
    name="leading-double-slash-collapses-in-path-only",  # issue item: slashes
    kind="encoding",
    source=MEASURED,
    api=GREEDY,
    sent=Sent("//test-path"),
    event={
        "path": "/test-path",
        "requestContext.path": "/test//test-path",
        "pathParameters": {"proxy": "test-path"},
    },
)
case(
    name="inner-double-slash-kept-in-greedy-parameter",  # issue item: slashes
    kind="encoding",
    source=MEASURED,
    api=GREEDY,
    sent=Sent("/a//b"),
    event={"path": "/a//b", "pathParameters": {"proxy": "a//b"}},
)
for label, query, single, multi in (
    ("empty-value", "flag=", {"flag": ""}, {"flag": [""]}),
    ("repeated-last-wins", "k=1&k=2", {"k": "2"}, {"k": ["1", "2"]}),
    ("encoded-ampersand", "q=a%26b", {"q": "a&b"}, {"q": ["a&b"]}),
    ("utf8", "name=caf%C3%A9", {"name": "café"}, {"name": ["café"]}),
    ("plus-is-space", "q=a+b", {"q": "a b"}, {"q": ["a b"]}),
):
    case(
        name=f"query-{label}",
        kind="encoding",
        source=(
            MULTI_VALUE_DOC
            if label == "repeated-last-wins"
            else proxy_event_recording("invocation-payload-with-params-encoding")
        ),
        api=MAIN,
        sent=Sent("/items", query=query),
        event={"queryStringParameters": single, "multiValueQueryStringParameters": multi},
    )

# ---------------------------------------------------------------- request headers

for name, value in (
    ("Content-MD5", "Q2hlY2sgSW50ZWdyaXR5IQ=="),
    ("Max-Forwards", "10"),
    ("Proxy-Authenticate", "Basic"),
    ("Server", "corpus"),
    ("TE", "trailers"),
    ("Trailer", "Expires"),
    ("Upgrade", "websocket"),
    ("WWW-Authenticate", "Basic"),
    ("Expect", "100-continue"),
):
    case(
        name=f"request-header-dropped-{name.lower()}",  # issue item: hop-by-hop headers
        kind="headers",
        source=KNOWN_ISSUES_DOC,
        api=MAIN,
        sent=Sent("/upload", method="POST", headers=((name, value),), body=b"{}"),
        event={"body": "{}"},
        absent=(f"headers.{name}", f"multiValueHeaders.{name}"),
    )
case(
    name="request-header-dropped-connection",
    kind="headers",
    source=proxy_event_recording("invocation-payload-without-trailing-slash"),
    api=MAIN,
    sent=Sent("/items", headers=(("Connection", "keep-alive"),)),
    absent=("headers.Connection", "multiValueHeaders.Connection"),
)
case(
    name="request-header-dropped-transfer-encoding",
    kind="headers",
    source=KNOWN_ISSUES_DOC,
    api=MAIN,
    sent=Sent("/upload", method="POST", body=b"chunked body", chunked=True),
    event={"body": "chunked body"},
    absent=("headers.Transfer-Encoding", "multiValueHeaders.Transfer-Encoding"),
)
case(
    name="request-header-dropped-content-length",
    kind="headers",
    source=proxy_event_recording("invocation-payload-with-params-encoding-multi"),
    api=MAIN,
    sent=Sent("/upload", method="POST", body=b"0123456789"),
    event={"body": "0123456789"},
    absent=("headers.Content-Length", "multiValueHeaders.Content-Length"),
)
case(
    name="header-names-keep-their-case",
    kind="headers",
    source=proxy_event_recording("invocation-payload-without-trailing-slash"),
    api=MAIN,
    sent=Sent("/items", headers=(("x-lower", "1"), ("X-UPPER", "2"), ("x-MiXeD", "3"))),
    event={"headers.x-lower": "1", "headers.X-UPPER": "2", "headers.x-MiXeD": "3"},
)
case(
    name="repeated-header-last-value-and-all-values",
    kind="headers",
    source=MULTI_VALUE_DOC,
    api=MAIN,
    sent=Sent("/items", headers=(("X-Tag", "one"), ("X-Tag", "two"))),
    event={"headers.X-Tag": "two", "multiValueHeaders.X-Tag": ["one", "two"]},
)
case(
    name="cookie-header-passes-whole",
    kind="headers",
    source=PROXY_DOC,
    api=MAIN,
    sent=Sent("/items", headers=(("Cookie", "a=1; b=2"),)),
    event={"headers.Cookie": "a=1; b=2"},
)
case(
    name="authorization-header-passes-on-an-open-method",
    kind="headers",
    source=proxy_event_recording("invocation-payload-with-params-encoding-multi"),
    api=MAIN,
    sent=Sent("/items", headers=(("Authorization", "Bearer abc.def"),)),
    event={"headers.Authorization": "Bearer abc.def"},
)

# ---------------------------------------------------------------- binary request bodies

BLOB = bytes(range(256))
for label, content_type, binary in (
    ("exact-type", "application/octet-stream", True),
    ("wildcard-subtype", "image/png", True),
    ("wildcard-subtype-with-parameters", "image/jpeg; q=1", True),
    ("wildcard-type-ignored", "text/test", False),  # issue item: binary media types
    ("type-not-listed", "text/plain", False),
    ("json-not-listed", "application/json", False),
):
    body = BLOB if binary else b"plain text body"
    case(
        name=f"request-body-{label}",
        kind="binary",
        source=MEASURED if label == "wildcard-type-ignored" else BINARY_DOC,
        api=MAIN,
        sent=Sent("/upload", method="POST", headers=(("Content-Type", content_type),), body=body),
        event={
            "isBase64Encoded": binary,
            "body": base64.b64encode(body).decode() if binary else body.decode(),
        },
    )

# a multipart upload of random bytes under a listed multipart/form-data: the event carries
# the body in base64, and every adapter hands the app the same bytes
UPLOAD = (
    b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="r.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
    + bytes((i * 7919 + 13) % 256 for i in range(3000))
    + b"\r\n--b0undary--\r\n"
)
case(
    name="multipart-upload-of-random-bytes-arrives-intact",  # issue item: binary uploads
    kind="binary",
    source=BINARY_DOC,
    api=MAIN,
    sent=Sent(
        "/upload",
        method="POST",
        headers=(("Content-Type", "multipart/form-data; boundary=b0undary"),),
        body=UPLOAD,
    ),
    event={"isBase64Encoded": True, "body": base64.b64encode(UPLOAD).decode()},
)

# ---------------------------------------------------------------- response mapping


def answer(
    name: str,
    returns: Any,
    *,
    source: Any,
    status: int = 200,
    kind: str = "response",
    headers: tuple[tuple[str, str], ...] = (),
    **expected: Any,
) -> None:
    case(
        name=name,
        kind=kind,
        source=source,
        api=MAIN,
        sent=Sent("/answer", query=f"answer={name}", headers=headers),
        returns=returns,
        status=status,
        **expected,
    )


answer(
    "status-as-number",
    {"statusCode": 201, "body": "made"},
    source=PROXY_DOC,
    status=201,
    answer_body=b"made",
)
answer(
    "status-as-string",
    {"statusCode": "201"},
    source=response_format_recording("invoke-api-status-code-str"),
    status=201,
)
answer(
    "no-body",
    {"statusCode": 200},
    source=response_format_recording("invoke-api-no-body"),
    answer_body=b"",
)
answer(
    "no-status-code-is-200",
    {"headers": {"test-header": "value"}},  # issue item: no status
    source=response_format_recording("invoke-api-only-headers"),
    answer_headers={"test-header": ["value"]},
)
answer(
    "null-headers",
    {"statusCode": 200, "headers": None},
    source=response_format_recording("invoke-api-with-headers-null"),
)
answer(
    "headers-reach-the-client",
    {"statusCode": 200, "headers": {"test-header": "value"}},
    source=response_format_recording("invoke-api-with-headers"),
    answer_headers={"test-header": ["value"]},
)
answer(
    "multi-value-headers",
    {"statusCode": 200, "multiValueHeaders": {"test-multi": ["value1", "value2"]}},
    source=response_format_recording("invoke-api-multi-headers-valid"),
    answer_headers={"test-multi": ["value1", "value2"]},
)
answer(
    "headers-and-multi-value-headers-same-name",  # issue item: both maps
    {
        "statusCode": 200,
        "multiValueHeaders": {"test-multi": ["value-multi"]},
        "headers": {"test-multi": "value-solo"},
    },
    source=response_format_recording("invoke-api-multi-headers-overwrite"),
    answer_headers={"test-multi": ["value-multi", "value-solo"]},
)
answer(
    "headers-and-multi-value-headers-other-case",
    {
        "statusCode": 200,
        "multiValueHeaders": {"tesT-Multi": ["value-multi"]},
        "headers": {"test-multi": "value-solo"},
    },
    source=response_format_recording("invoke-api-multi-headers-overwrite-casing"),
    answer_headers={"tesT-Multi": ["value-multi", "value-solo"]},
)
answer(
    "same-pair-in-both-maps-once",
    {"statusCode": 200, "multiValueHeaders": {"X-Same": ["v"]}, "headers": {"X-Same": "v"}},
    source=MULTI_VALUE_DOC,
    answer_headers={"X-Same": ["v"]},
)
answer(
    "set-cookie-values-each-their-own",
    {"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}},
    source=MULTI_VALUE_DOC,
    answer_headers={"Set-Cookie": ["a=1", "b=2"]},
)
answer(
    "default-content-type-is-json",
    {"statusCode": 200, "body": "{}"},
    source=PROXY_DOC,
    answer_headers={"Content-Type": ["application/json"]},
)
answer(
    "body-string-as-is",
    {"statusCode": 200, "body": "héllo", "headers": {"Content-Type": "text/plain; charset=utf-8"}},
    source=PROXY_DOC,
    answer_body="héllo".encode(),
)
answer(
    "base64-flag-false-body-as-is",
    {"statusCode": 200, "body": "dGVzdC1kYXRh"},
    source=response_format_recording("invoke-api-b64-encoded-false"),
    answer_body=b"dGVzdC1kYXRh",
)
answer(
    "base64-without-binary-accept-stays-text",
    {"statusCode": 200, "body": "dGVzdC1kYXRh", "isBase64Encoded": True},
    source=response_format_recording("invoke-api-b64-encoded-true"),
    answer_body=b"dGVzdC1kYXRh",
    kind="binary",
)
answer(
    "base64-decoded-for-a-listed-accept",
    {"statusCode": 200, "body": "dGVzdC1kYXRh", "isBase64Encoded": True},
    source=BINARY_DOC,
    answer_body=b"test-data",
    headers=(("Accept", "image/png"),),
    kind="binary",
)
answer(
    "base64-decoded-for-an-exact-accept",
    {"statusCode": 200, "body": "dGVzdC1kYXRh", "isBase64Encoded": True},
    source=BINARY_DOC,
    answer_body=b"test-data",
    headers=(("Accept", "application/octet-stream"),),
    kind="binary",
)
answer(
    "base64-text-for-a-wildcard-type-accept",  # issue item: binary media types
    {"statusCode": 200, "body": "dGVzdC1kYXRh", "isBase64Encoded": True},
    source=MEASURED,
    answer_body=b"dGVzdC1kYXRh",
    headers=(("Accept", "random/test"),),
    kind="binary",
)
answer(
    "base64-first-accept-type-decides",
    {"statusCode": 200, "body": "dGVzdC1kYXRh", "isBase64Encoded": True},
    source=BINARY_DOC,
    answer_body=b"dGVzdC1kYXRh",
    headers=(("Accept", "text/html, image/png"),),
    kind="binary",
)
for label, returned, key in (
    ("unknown-key", {"statusCode": 200, "wrongValue": "value"}, "invoke-api-wrong-format"),
    ("status-not-a-number", {"statusCode": "test"}, "invoke-api-invalid-status-code"),
    ("a-string", "justAString", "invoke-api-just-string"),
    (
        "multi-value-not-a-list",
        {"statusCode": 200, "multiValueHeaders": {"test-multi-invalid": "value1"}},
        "invoke-api-multi-headers-invalid",
    ),
):
    answer(
        f"malformed-{label}-is-502",
        returned,
        source=response_format_recording(key),
        status=502,
        kind="errors",
        answer_headers={"x-amzn-ErrorType": ["InternalServerErrorException"]},
        answer_body=b'{"message": "Internal server error"}',
    )
answer(
    "function-error-is-502",
    {"__raise__": "boom"},
    source=LAMBDA_ERRORS_DOC,
    status=502,
    kind="errors",
    answer_body=b'{"message": "Internal server error"}',
)

# ---------------------------------------------------------------- more of AWS's samples

case(
    name="sample-greedy-post-with-json-body",
    source=GO_SAMPLE,
    api=GREEDY,
    sent=Sent(
        "/hello/world",
        method="POST",
        query="name=me",
        headers=(("Content-Type", "application/json"), ("headerName", "headerValue")),
        body=b'{\r\n\t"a": 1\r\n}',
    ),
    event={
        "resource": "/{proxy+}",
        "path": "/hello/world",
        "httpMethod": "POST",
        "pathParameters": {"proxy": "hello/world"},
        "queryStringParameters": {"name": "me"},
        "multiValueQueryStringParameters": {"name": ["me"]},
        "headers.Content-Type": "application/json",
        "headers.headerName": "headerValue",
        "multiValueHeaders.headerName": ["headerValue"],
        "body": '{\r\n\t"a": 1\r\n}',
        "isBase64Encoded": False,
        "requestContext.resourcePath": "/{proxy+}",
        "requestContext.httpMethod": "POST",
    },
)
case(
    name="sample-lowercase-header-name-kept",
    kind="headers",
    source=GO_SAMPLE,
    api=MAIN,
    sent=Sent("/items", headers=(("cache-control", "no-cache"),)),
    event={"headers.cache-control": "no-cache", "multiValueHeaders.cache-control": ["no-cache"]},
    absent=("headers.Cache-Control",),
)
case(
    name="sample-context-path-is-stage-and-path",
    source=SAM_SAMPLE,
    api=MAIN,
    sent=Sent("/items/42", headers=(UA,)),
    event={
        "requestContext.path": "/dev/items/42",
        "requestContext.resourcePath": "/items/{id}",
        "requestContext.stage": "dev",
        "requestContext.protocol": "HTTP/1.1",
        "requestContext.identity.sourceIp": "127.0.0.1",
        "requestContext.identity.userAgent": "corpus-client/1.0",
        "requestContext.identity.accessKey": None,
        "requestContext.identity.cognitoIdentityId": None,
    },
    absent=("requestContext.identity.apiKey", "requestContext.identity.apiKeyId"),
)
case(
    name="sample-upgrade-insecure-requests-passes",
    kind="headers",
    source=SAM_SAMPLE,
    api=MAIN,
    sent=Sent("/items", headers=(("Upgrade-Insecure-Requests", "1"),)),
    event={"headers.Upgrade-Insecure-Requests": "1"},
)
case(
    name="sample-accept-language-passes",
    kind="headers",
    source=SAM_SAMPLE,
    api=MAIN,
    sent=Sent("/items", headers=(("Accept-Language", "en-US,en;q=0.8"),)),
    event={"multiValueHeaders.Accept-Language": ["en-US,en;q=0.8"]},
)
for verb in ("PUT", "DELETE"):
    case(
        name=f"verb-picks-the-method-{verb.lower()}",
        kind="routing",
        source=PROXY_DOC,
        api=MAIN,
        sent=Sent("/items/7", method=verb, body=b"x" if verb == "PUT" else b""),
        event={"httpMethod": verb, "resource": "/items/{id}", "pathParameters": {"id": "7"}},
    )
for status in (204, 302, 404, 500, 503):
    answer(
        f"function-status-{status}-passes-through",
        {"statusCode": status, "headers": {"X-From": "function"}, "body": ""},
        source=PROXY_DOC,
        status=status,
        answer_headers={"X-From": ["function"]},
    )
answer(
    "redirect-location-header",
    {"statusCode": 301, "headers": {"Location": "https://example.com/new"}},
    source=PROXY_DOC,
    status=301,
    answer_headers={"Location": ["https://example.com/new"]},
)
answer(
    "content-type-from-the-function-wins",
    {"statusCode": 200, "headers": {"Content-Type": "text/html"}, "body": "<p>hi</p>"},
    source=PROXY_DOC,
    answer_headers={"Content-Type": ["text/html"]},
    answer_body=b"<p>hi</p>",
)

# ---------------------------------------------------------------- API Gateway's own headers

APIGW_ID = r"[A-Za-z0-9+/]{15}="  # the request's extendedRequestId
NEW_ROOT = r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}"
FULL_TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
answer(
    "proxy-answer-carries-apigw-id-and-a-new-trace",
    {"statusCode": 200, "body": "ok"},
    source=CURL_OF_A_REST_API,
    kind="headers",
    answer_patterns={"x-amz-apigw-id": APIGW_ID, "X-Amzn-Trace-Id": NEW_ROOT + ";Sampled=0"},
)
answer(
    "proxy-answer-echoes-a-full-trace-header",  # issue item: response headers
    {"statusCode": 200, "body": "ok"},
    source=MEASURED,
    kind="headers",
    headers=(("X-Amzn-Trace-Id", FULL_TRACE),),
    answer_patterns={"X-Amzn-Trace-Id": re.escape(FULL_TRACE), "x-amz-apigw-id": APIGW_ID},
)
answer(
    "proxy-answer-completes-a-root-only-trace-with-a-parent",
    {"statusCode": 200, "body": "ok"},
    source=MEASURED,
    kind="headers",
    headers=(("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793"),),
    answer_patterns={
        "X-Amzn-Trace-Id": r"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=[0-9a-f]{16}"
    },
)
answer(
    "function-error-has-no-trace-header",
    {"__raise__": "boom"},
    source=LAMBDA_ERRORS_DOC,
    status=502,
    kind="headers",
    answer_headers={"X-Amzn-Trace-Id": []},
)
case(
    name="mock-preflight-answers-with-its-headers-and-apigw-id",
    kind="cors",
    source=CURL_OF_A_REST_API,
    api=MAIN,
    sent=Sent(
        "/items",
        method="OPTIONS",
        headers=(("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "POST")),
    ),
    answer_headers={name: [value] for name, value in PREFLIGHT_HEADERS},
    answer_patterns={"x-amz-apigw-id": APIGW_ID},
    answer_body=b"",
)

# ---------------------------------------------------------------- authorizers and API keys

CORS_ON_ERRORS = {"Access-Control-Allow-Origin": [ORIGIN]}  # the API's DEFAULT_4XX/5XX
UNAUTHORIZED = (401, "UnauthorizedException", b'{"message":"Unauthorized"}')
EXPLICIT_DENY = (
    403,
    "AccessDeniedException",
    b'{"Message":"User is not authorized to access this resource with an explicit deny"}',
)
NO_ALLOW = (
    403,
    "AccessDeniedException",
    b'{"Message":"User is not authorized to access this resource"}',
)
AUTHORIZER_FAILED = (500, "AuthorizerConfigurationException", b'{"message":null}')
FORBIDDEN = (403, "ForbiddenException", b'{"message":"Forbidden"}')
MISSING_TOKEN = (
    403,
    "MissingAuthenticationTokenException",
    b'{"message":"Missing Authentication Token"}',
)


def refused(
    name: str,
    path: str,
    answer: tuple[int, str, bytes],
    *,
    source: Any,
    headers: tuple[tuple[str, str], ...] = (),
    query: str = "",
    kind: str = "authorizers",
) -> None:
    status, error_type, body = answer
    case(
        name=name,
        kind=kind,
        source=source,
        api=GUARDED,
        sent=Sent(path, query=query, headers=headers),
        status=status,
        answer_headers={"x-amzn-ErrorType": [error_type], **CORS_ON_ERRORS},
        answer_body=body,
    )


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("Authorization", token),)


refused(
    "token-authorizer-without-the-header-is-401", "/tok", UNAUTHORIZED, source=AUTHORIZER_API_DOC
)
refused(
    "token-authorizer-empty-header-is-401",
    "/tok",
    UNAUTHORIZED,
    source=AUTHORIZER_API_DOC,
    headers=bearer(""),
)
refused(
    "token-authorizer-explicit-deny",
    "/tok",
    EXPLICIT_DENY,
    source=AUTHORIZER_ANSWERS,
    headers=bearer("deny"),
)
refused(
    "token-authorizer-no-statement-allows",
    "/tok",
    NO_ALLOW,
    source=AUTHORIZER_ANSWERS,
    headers=bearer("other"),
)
refused(
    "token-authorizer-raises-unauthorized",
    "/tok",
    UNAUTHORIZED,
    source=AUTHORIZER_ANSWERS,
    headers=bearer("unauthorized"),
)
refused(
    "token-authorizer-fails",
    "/tok",
    AUTHORIZER_FAILED,
    source=AUTHORIZER_ANSWERS,
    headers=bearer("boom"),
)
refused(
    "token-authorizer-answers-no-policy",
    "/tok",
    AUTHORIZER_FAILED,
    source=AUTHORIZER_OUTPUT_DOC,
    headers=bearer("junk"),
)
refused(
    "token-not-matching-the-validation-expression-is-401",
    "/val",
    UNAUTHORIZED,
    source=AUTHORIZER_API_DOC,
    headers=bearer("allow"),
)
refused(
    "request-authorizer-missing-identity-source-is-401",
    "/req",
    UNAUTHORIZED,
    source=AUTHORIZER_API_DOC,
    headers=(("X-Team", "blue"),),  # the query string's q is missing
)
refused(
    "request-authorizer-explicit-deny",
    "/req",
    EXPLICIT_DENY,
    source=AUTHORIZER_ANSWERS,
    headers=(("X-Team", "red"),),
    query="q=1",
)
case(
    name="token-authorizer-allows-and-its-context-reaches-the-event",
    kind="authorizers",
    source=AUTHORIZER_OUTPUT_DOC,
    api=GUARDED,
    sent=Sent("/tok", headers=bearer("allow")),
    event={
        "requestContext.authorizer.principalId": "user-1",
        # context values reach the integration as strings
        "requestContext.authorizer.user": "u1",
        "requestContext.authorizer.n": "7",
        "requestContext.authorizer.ok": "true",
        "headers.Authorization": "allow",
    },
)
case(
    name="token-authorizer-event-names-the-method",
    kind="authorizers",
    source=AUTHORIZER_INPUT_DOC,
    api=GUARDED,
    sent=Sent("/tok", headers=bearer("allow")),
    event={
        "requestContext.authorizer.type": "TOKEN",
        "requestContext.authorizer.methodArn": (
            "arn:aws:execute-api:us-east-1:000000000000:guardedapi/dev/GET/tok"
        ),
    },
)
case(
    name="token-authorizer-method-arn-is-in-the-apis-region",
    kind="authorizers",
    source=AUTHORIZER_INPUT_DOC,
    api=GUARDED_EU,
    sent=Sent("/tok", headers=bearer("allow")),
    event={
        # the API's region, not a fixed one: the same account in every ARN; and the
        # permission, written in that region, lets API Gateway invoke the function
        "requestContext.authorizer.methodArn": (
            "arn:aws:execute-api:eu-west-1:000000000000:guardedeu/dev/GET/tok"
        ),
        "requestContext.accountId": "000000000000",
    },
)
case(
    name="token-matching-the-validation-expression-reaches-the-authorizer",
    kind="authorizers",
    source=AUTHORIZER_API_DOC,
    api=GUARDED,
    sent=Sent("/val", headers=bearer("Bearer abc")),
    event={"requestContext.authorizer.principalId": "user-1", "resource": "/val"},
)
case(
    name="request-authorizer-gets-the-request-without-its-body",
    kind="authorizers",
    source=AUTHORIZER_INPUT_DOC,
    api=GUARDED,
    sent=Sent("/req", query="q=1", headers=(("X-Team", "blue"),)),
    event={
        "requestContext.authorizer.type": "REQUEST",
        "requestContext.authorizer.sawBody": "false",
        "requestContext.authorizer.principalId": "user-1",
    },
)
refused("api-key-missing-is-403", "/key", FORBIDDEN, source=USAGE_PLANS_DOC, kind="api-keys")
refused(
    "api-key-unknown-is-403",
    "/key",
    FORBIDDEN,
    source=USAGE_PLANS_DOC,
    headers=(("x-api-key", "not-a-key-of-this-stage"),),
    kind="api-keys",
)
case(
    name="api-key-accepted-and-named-in-the-identity",
    kind="api-keys",
    source=GO_SAMPLE,
    api=GUARDED,
    sent=Sent("/key", headers=(("x-api-key", API_KEY),)),
    event={
        "requestContext.identity.apiKey": API_KEY,
        "requestContext.identity.apiKeyId": API_KEY_ID,
        "headers.x-api-key": API_KEY,
    },
)
refused(
    "authorizer-decides-before-the-api-key",
    "/both",
    UNAUTHORIZED,
    source=USAGE_PLANS_DOC,
    kind="api-keys",
)
refused(
    "allowed-by-the-authorizer-still-needs-the-key",
    "/both",
    FORBIDDEN,
    source=USAGE_PLANS_DOC,
    headers=bearer("allow"),
    kind="api-keys",
)
case(
    name="authorizer-and-api-key-both-pass",
    kind="api-keys",
    source=USAGE_PLANS_DOC,
    api=GUARDED,
    sent=Sent("/both", headers=(*bearer("allow"), ("x-api-key", API_KEY))),
    event={
        "requestContext.authorizer.principalId": "user-1",
        "requestContext.identity.apiKeyId": API_KEY_ID,
    },
)
refused("iam-method-unsigned-is-missing-token", "/iam", MISSING_TOKEN, source=IAM_CONTEXT_DOC)
case(
    name="iam-method-signed-names-the-access-key",
    kind="authorizers",
    source=IAM_CONTEXT_DOC,
    api=GUARDED,
    sent=Sent(
        "/iam",
        headers=bearer(
            "AWS4-HMAC-SHA256 Credential=AKIDCORPUSEXAMPLE/20240101/us-east-1/execute-api/"
            "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
        ),
    ),
    event={"requestContext.identity.accessKey": "AKIDCORPUSEXAMPLE"},
)
case(
    name="open-method-beside-guarded-ones-has-no-authorizer",
    kind="authorizers",
    source=SAM_SAMPLE,
    api=GUARDED,
    sent=Sent("/open", headers=(UA,)),
    event={"requestContext.identity": {**OPEN_IDENTITY, "sourceIp": "127.0.0.1"}},
    absent=("requestContext.authorizer.principalId", "requestContext.identity.apiKey"),
)

# ---------------------------------------------------------------- CORS on API Gateway's answers

refused(
    "missing-token-carries-the-default-4xx-headers",
    "/nowhere",
    MISSING_TOKEN,
    source=GATEWAY_RESPONSES_DOC,
    kind="cors",
)
case(
    name="mock-preflight-is-the-same-for-any-origin",
    kind="cors",
    source=CURL_OF_A_REST_API,
    api=MAIN,
    sent=Sent("/items", method="OPTIONS", headers=(("Origin", "https://elsewhere.example"),)),
    answer_headers={name: [value] for name, value in PREFLIGHT_HEADERS},
    answer_body=b"",
)
case(
    name="no-preflight-on-a-resource-without-options",
    kind="cors",
    source=UNMATCHED_IS_403,
    api=MAIN,
    sent=Sent("/items/new", method="OPTIONS", headers=(("Origin", ORIGIN),)),
    status=403,
    answer_headers={"x-amzn-ErrorType": ["MissingAuthenticationTokenException"]},
)

# ---------------------------------------------------------------- limits

case(
    name="body-over-10-mb-is-413",
    kind="limits",
    source=LIMITS_DOC,
    api=MAIN,
    sent=Sent("/upload", method="POST", body=b"x" * (10 * 1024 * 1024 + 1)),
    status=413,
    answer_body=b'{"message": "Request Too Long"}',
)
case(
    name="event-over-6-mb-is-413-and-the-function-does-not-run",
    kind="limits",
    source=EVENT_OVER_6MB,
    api=MAIN,
    sent=Sent(
        "/upload",
        method="POST",
        headers=(("Content-Type", "text/plain"),),
        body=b"y" * (6 * 1024 * 1024 + 1),
    ),
    status=413,
    answer_headers={"x-amzn-ErrorType": ["BadRequestException"]},
    answer_body=b'{"message": "Request Too Long"}',
)
case(
    name="body-just-under-6-mb-of-event-reaches-the-function",
    kind="limits",
    source=EVENT_OVER_6MB,
    api=MAIN,
    sent=Sent(
        "/upload",
        method="POST",
        headers=(("Content-Type", "text/plain"),),
        body=b"z" * (5 * 1024 * 1024),
    ),
    event={"isBase64Encoded": False, "resource": "/upload"},
)

EVENT_CASES = [c for c in CASES if c.is_event_case]
ANSWERS = {c.name: c.returns for c in CASES if c.returns is not None and c.sent.path == "/answer"}
