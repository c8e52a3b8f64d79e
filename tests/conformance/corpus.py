"""The conformance corpus's vocabulary: where a fact comes from, the APIs the cases are
sent to, and a case (what the client sends, what the Lambda returns) -> (what AWS put in
the event, what AWS answered).

Every case names its public source, of one of three kinds (:data:`SOURCE_KINDS`): an
AWS document, an AWS sample event, or an event or answer captured from a real API
Gateway and published with a test suite validated against AWS. The cases restate
those facts in this project's own words and data; no file is copied. The few rules
measured on AWS that nothing public shows are marked :data:`UNSOURCED` (see
docs/api-gateway.md, "Unknown").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

AWS_DOC = "aws-doc"  # an AWS document says so
AWS_SAMPLE = "aws-sample"  # an event AWS publishes as a sample
CAPTURED = "captured"  # recorded from a real API Gateway, published with an AWS-validated suite
# measured on a real API Gateway and published with the API's definition, the requests and
# AWS's answers (a public thread of an emulator's maintainers, the measurement reproducible)
REPORTED = "reported"
SOURCE_KINDS = (AWS_DOC, AWS_SAMPLE, CAPTURED, REPORTED)
# a rule measured against AWS that no public recording or document shows: kept as a case
# (the stricter local choice), said so in docs/api-gateway.md, and not counted as sourced
UNSOURCED = "unsourced"


@dataclass(frozen=True)
class Source:
    kind: str
    where: str  # a URL, or repository and path (and the recording's key)


# ------------------------------------------------------------------ the sources

PROXY_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "set-up-lambda-proxy-integrations.html (input and output format of a Lambda function "
    "for proxy integration)",
)
MULTI_VALUE_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "set-up-lambda-proxy-integrations.html#apigateway-multivalue-headers-and-parameters",
)
PROXY_RESOURCE_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "api-gateway-set-up-simple-proxy.html (a proxy resource {proxy+}, the ANY method)",
)
KNOWN_ISSUES_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "api-gateway-known-issues.html (REST APIs: headers dropped before the integration)",
)
BINARY_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "api-gateway-payload-encodings.html and lambda-proxy-binary-media.html",
)
CONTEXT_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "api-gateway-mapping-template-reference.html#context-variable-reference "
    "($context.domainName, domainPrefix, deploymentId, path)",
)
GATEWAY_RESPONSES_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "supported-gateway-response-types.html (MISSING_AUTHENTICATION_TOKEN 403)",
)
SAM_SAMPLE = Source(
    AWS_SAMPLE,
    "aws/aws-sam-cli samcli/lib/generated_sample_events/events/apigateway/AwsProxy.json "
    "(sam local generate-event apigateway aws-proxy)",
)
GO_SAMPLE = Source(AWS_SAMPLE, "aws/aws-lambda-go events/testdata/apigw-request.json")
LAMBDA_ERRORS_DOC = Source(
    AWS_DOC,
    "https://repost.aws/knowledge-center/malformed-502-api-gateway (a proxy function that "
    "fails or answers in another format gets 502)",
)
_LOCALSTACK = "localstack/localstack tests/aws/services/apigateway/"


ROUTING_SIBLINGS = Source(
    REPORTED,
    "https://github.com/floci-io/floci/pull/3399 (REST API measured in us-west-2: "
    "/users/{userId} GET beside /users/me PATCH, /roles/{roleId} GET beside "
    "/roles/provision POST, /things/{proxy+} beside /things/real GET)",
)
ROUTING_GREEDY_ROOT = Source(
    REPORTED,
    "https://github.com/ministackorg/ministack/pull/1423 (REST API measured in "
    "eu-central-1: /{proxy+} ANY, /jobs without methods, /jobs/{operation_type} GET, "
    "/cors_only OPTIONS)",
)
CURL_OF_A_REST_API = Source(
    REPORTED,
    "https://github.com/jrfoehn/aws-api_gateway_dynamic_headers_integration_response "
    "README (a curl of a deployed REST API: the answer's x-amzn-requestid, x-amz-apigw-id "
    "and x-amzn-trace-id Root=...;Sampled=0)",
)
AUTHORIZER_INPUT_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "api-gateway-lambda-authorizer-input.html (TOKEN and REQUEST authorizer input)",
)
AUTHORIZER_OUTPUT_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "api-gateway-lambda-authorizer-output.html (principalId, policy, context as strings)",
)
AUTHORIZER_API_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/api/API_Authorizer.html (identity "
    "sources missing or not matching the validation expression: 401 without a call)",
)
AUTHORIZER_ANSWERS = Source(
    REPORTED,
    "https://loige.co/debugging-custom-apigateway-authorizers/ (the answers API Gateway "
    "sent for a deny, no allow, an Unauthorized error, a failing authorizer)",
)
USAGE_PLANS_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "api-gateway-api-usage-plans.html (x-api-key; a missing or unknown key: 403 Forbidden)",
)
IAM_CONTEXT_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "api-gateway-mapping-template-reference.html ($context.identity.accessKey; "
    "MISSING_AUTHENTICATION_TOKEN for an unsigned request to an AWS_IAM method)",
)
LIMITS_DOC = Source(
    AWS_DOC,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html (payload "
    "10 MB) and supported-gateway-response-types.html (REQUEST_TOO_LARGE 413)",
)
EVENT_OVER_6MB = Source(
    REPORTED,
    "https://github.com/koki-develop/lgtm-generator/issues/10 (an event over Lambda's 6 MB: "
    "413 Request Too Long, BadRequestException)",
)
UNMATCHED_IS_403 = Source(
    REPORTED,
    "https://github.com/floci-io/floci/pull/3547 (a verb no resource of the path has: 403 "
    "Missing Authentication Token, measured in us-west-2)",
)


MEASURED = Source(UNSOURCED, "docs/api-gateway.md, 'Unknown: no public recording or document'")


def recorded(suite_file: str, key: str) -> Source:
    """An answer LocalStack's AWS-validated suite recorded against real API Gateway."""
    return Source(CAPTURED, f"{_LOCALSTACK}{suite_file} [{key}]")


def proxy_event_recording(key: str) -> Source:
    return recorded("test_apigateway_lambda.snapshot.json, test_lambda_aws_proxy_integration", key)


def response_format_recording(key: str) -> Source:
    return recorded(
        "test_apigateway_lambda.py, test_aws_proxy_response_payload_format_validation", key
    )


# ------------------------------------------------------------------ the APIs


@dataclass(frozen=True)
class ApiShape:
    """An API the corpus is sent to: its resources' methods, stage and binary media types."""

    api_id: str
    stage: str
    methods: tuple[tuple[str, str], ...]  # (resource path, verb or ANY)
    binary_media_types: tuple[str, ...] = ()
    stage_variables: Mapping[str, str] = field(default_factory=dict)
    # resources whose OPTIONS is a MOCK integration answering with these fixed headers
    preflights: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    # (path, verb) -> who may call it: (AuthorizationType, authorizer id, ApiKeyRequired)
    access: Mapping[tuple[str, str], tuple[str, str | None, bool]] = field(default_factory=dict)
    authorizers: tuple[Authorizer, ...] = ()
    api_keys: Mapping[str, str] = field(default_factory=dict)  # value -> key id
    # gateway response type -> the headers it adds (DEFAULT_4XX, DEFAULT_5XX)
    gateway_responses: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    region: str = "us-east-1"  # the API's (its stack's): execute-api ARNs carry it


@dataclass(frozen=True)
class Authorizer:
    """A Lambda authorizer of an API; the corpus's function answers as its authorizer."""

    id: str
    type: str  # TOKEN or REQUEST
    identity_sources: tuple[str, ...]
    ttl_s: int = 0
    validation: str | None = None


# what a MOCK preflight of MAIN answers with (as teal writes them for a CORS route)
PREFLIGHT_HEADERS = (
    ("Access-Control-Allow-Origin", "https://app.example.com"),
    ("Access-Control-Allow-Methods", "GET,OPTIONS,POST"),
    ("Access-Control-Allow-Headers", "Content-Type"),
)
# the API of the recordings above: one greedy resource at the root, any method, stage "test"
GREEDY = ApiShape("greedyapi", "test", (("/{proxy+}", "ANY"),))
MAIN = ApiShape(
    "mainapi",
    "dev",
    (
        ("/", "GET"),
        ("/items", "GET"),
        ("/items", "POST"),
        ("/items/new", "GET"),
        ("/items/{id}", "GET"),
        ("/items/{id}", "PUT"),
        ("/items/{id}", "DELETE"),
        ("/api/user/{email}", "GET"),
        ("/files/{path+}", "ANY"),
        ("/upload", "POST"),
        ("/answer", "ANY"),
    ),
    # a type with a wildcard subtype, an exact type, and a wildcard *type*, which AWS ignores
    binary_media_types=("image/*", "application/octet-stream", "multipart/form-data", "*/test"),
    stage_variables={"flavour": "plain"},
    preflights={"/items": PREFLIGHT_HEADERS},
)
# resources whose method sets differ beside a variable or greedy sibling (a reported tree)
SIBLINGS = ApiShape(
    "siblingsapi",
    "dev",
    (
        ("/users/{userId}", "GET"),
        ("/users/me", "PATCH"),
        ("/roles/provision", "POST"),
        ("/roles/{roleId}", "GET"),
        ("/things/real", "GET"),
        ("/things/{proxy+}", "ANY"),
    ),
)
# a greedy resource at the root with any method, and resources that lack some verbs
ROOTED = ApiShape(
    "rootedapi",
    "dev",
    (
        ("/{proxy+}", "ANY"),
        ("/jobs/{operation_type}", "GET"),
        ("/cors_only", "OPTIONS"),
        ("/users", "GET"),
        ("/test", "POST"),
        ("/test/any", "ANY"),
    ),
)
# methods behind Lambda authorizers, an API key, IAM; API Gateway's own errors carry CORS
ORIGIN = "https://app.example.com"
API_KEY, API_KEY_ID = "corpus-key-0123456789abcdefghij", "corpuskeyid"
GUARDED = ApiShape(
    "guardedapi",
    "dev",
    (
        ("/tok", "GET"),
        ("/val", "GET"),
        ("/req", "GET"),
        ("/key", "GET"),
        ("/both", "GET"),
        ("/iam", "GET"),
        ("/open", "GET"),
    ),
    access={
        ("/tok", "GET"): ("CUSTOM", "tok", False),
        ("/val", "GET"): ("CUSTOM", "val", False),
        ("/req", "GET"): ("CUSTOM", "req", False),
        ("/key", "GET"): ("NONE", None, True),
        ("/both", "GET"): ("CUSTOM", "tok", True),
        ("/iam", "GET"): ("AWS_IAM", None, False),
    },
    authorizers=(
        Authorizer("tok", "TOKEN", ("method.request.header.Authorization",)),
        Authorizer(
            "val", "TOKEN", ("method.request.header.Authorization",), validation="^Bearer [a-z]+$"
        ),
        Authorizer(
            "req",
            "REQUEST",
            ("method.request.header.X-Team", "method.request.querystring.q"),
            ttl_s=300,
        ),
    ),
    api_keys={API_KEY: API_KEY_ID},
    gateway_responses={
        "DEFAULT_4XX": (("Access-Control-Allow-Origin", ORIGIN),),
        "DEFAULT_5XX": (("Access-Control-Allow-Origin", ORIGIN),),
    },
)
# the guarded API again, made by a stack in another region
GUARDED_EU = replace(GUARDED, api_id="guardedeu", region="eu-west-1")
APIS = (GREEDY, MAIN, SIBLINGS, ROOTED, GUARDED, GUARDED_EU)
# a custom domain in front of MAIN, under the base path "v1"
DOMAIN_NAME = "shop.example.com"
DOMAIN_BASE = "v1"


# ------------------------------------------------------------------ a case


@dataclass(frozen=True)
class Sent:
    """The client's request. ``path`` is inside the stage (or after the domain's host),
    exactly as on the wire."""

    path: str
    method: str = "GET"
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    via_domain: bool = False  # through DOMAIN_NAME instead of the API's own endpoint
    chunked: bool = False  # the body in chunks (Transfer-Encoding: chunked)


@dataclass(frozen=True)
class Case:
    """One request and what AWS did with it.

    An *event* case (``returns`` None) checks the event the Lambda got: ``event`` maps a
    dotted path (``requestContext.path``, ``headers.Accept``) to the value AWS put there,
    ``absent`` lists paths AWS left out. An *answer* case sets ``returns`` (what the
    Lambda returns) and checks the client's answer: ``status``, ``answer_headers`` (each
    name's values, in order), ``answer_body``.
    """

    name: str
    source: Source
    api: ApiShape
    sent: Sent
    event: Mapping[str, Any] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    returns: Any = None
    status: int = 200
    answer_headers: Mapping[str, list[str]] = field(default_factory=dict)
    answer_body: bytes | None = None
    # a header whose one value has a form rather than a value (ids made per request)
    answer_patterns: Mapping[str, str] = field(default_factory=dict)
    # event, encoding, headers, routing, response, binary, errors, authorizers, api-keys,
    # cors, limits
    kind: str = "event"

    @property
    def is_event_case(self) -> bool:
        answer_checked = self.answer_headers or self.answer_patterns or self.answer_body
        return self.returns is None and self.status == 200 and not answer_checked
