"""Who may call a route, and from which web pages: CORS and authorizers.

Standard library only: this module ships inside Lambda packages, where the
runtime adds the CORS headers to a handler's responses and runs the app's
Lambda authorizers.

- :class:`CORSConfig`: ``cors=`` on a route, or ``[cors]`` in teal.toml for the
  whole app. API Gateway answers the browser's preflight (``OPTIONS``) itself
  with a MOCK integration, and its own 4XX/5XX answers through gateway
  responses; the runtime adds the same headers to what the handlers return.
  Those answers are fixed values in the template, so a config names one
  origin (or ``*``): a MOCK integration cannot pick among several.
- :class:`LambdaAuthorizer` (made by ``@app.authorizer``): a function that gets
  API Gateway's TOKEN or REQUEST event and returns a policy (:func:`allow`,
  :func:`deny`). :class:`CognitoAuthorizer`: a Cognito user pool checks the
  token. ``authorizer="aws_iam"``: requests signed with SigV4.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ANY_ORIGIN = "*"
IAM = "aws_iam"  # authorizer="aws_iam": IAM checks the request's SigV4 signature
# Headers a browser may send on a CORS request when the config lists none: what
# API Gateway's console and AWS Chalice allow by default.
DEFAULT_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Api-Key",
)
MAX_AGE_LIMIT = 86400  # seconds: what browsers honour at most
TTL_LIMIT = 3600  # API Gateway's limit on an authorizer's cache, in seconds
TOKEN, REQUEST = "TOKEN", "REQUEST"
AUTHORIZER_TYPES = (TOKEN, REQUEST)
# API Gateway's identity sources of a REQUEST authorizer
IDENTITY_PREFIXES = (
    "method.request.header.",
    "method.request.querystring.",
    "stageVariables.",
    "context.",
)
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_TOKEN = re.compile(r"^[-!#$%&'*+.^_`|~0-9A-Za-z]+$")  # an HTTP header name
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_ALL_VERBS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _strings(value: Iterable[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True, init=False)
class CORSConfig:
    """CORS for a route (``cors=CORSConfig(...)``) or the app (``[cors]``).

    ``allow_headers`` is the whole list of request headers allowed (default:
    :data:`DEFAULT_ALLOW_HEADERS`); ``expose_headers`` those a page may read.
    """

    allow_origins: tuple[str, ...]
    allow_headers: tuple[str, ...] | None
    expose_headers: tuple[str, ...]
    allow_credentials: bool
    max_age: int | None

    def __init__(
        self,
        allow_origins: Iterable[str] | str = (ANY_ORIGIN,),
        allow_headers: Iterable[str] | None = None,
        expose_headers: Iterable[str] = (),
        allow_credentials: bool = False,
        max_age: int | None = None,
    ) -> None:
        object.__setattr__(self, "allow_origins", _strings(allow_origins) or ())
        object.__setattr__(self, "allow_headers", _strings(allow_headers))
        object.__setattr__(self, "expose_headers", _strings(expose_headers) or ())
        object.__setattr__(self, "allow_credentials", allow_credentials)
        object.__setattr__(self, "max_age", max_age)

    @property
    def origin(self) -> str:
        """The one origin the answers name (see :func:`cors_problems`)."""
        return self.allow_origins[0] if self.allow_origins else ANY_ORIGIN

    def headers(self) -> dict[str, str]:
        """The headers every answer to a CORS request carries (a preflight adds its own)."""
        found = {
            "Access-Control-Allow-Origin": self.origin,
            "Access-Control-Allow-Headers": ",".join(self.allowed_headers),
        }
        if self.expose_headers:
            found["Access-Control-Expose-Headers"] = ",".join(self.expose_headers)
        if self.max_age is not None:
            found["Access-Control-Max-Age"] = str(self.max_age)
        if self.allow_credentials:
            found["Access-Control-Allow-Credentials"] = "true"
        return found

    @property
    def allowed_headers(self) -> tuple[str, ...]:
        return DEFAULT_ALLOW_HEADERS if self.allow_headers is None else self.allow_headers

    def preflight_headers(self, verbs: Iterable[str]) -> dict[str, str]:
        """The preflight's answer for a resource whose methods are ``verbs``."""
        return {"Access-Control-Allow-Methods": allowed_methods(verbs), **self.headers()}

    def to_json(self) -> dict[str, Any]:
        return {
            "allow_origins": list(self.allow_origins),
            "allow_headers": None if self.allow_headers is None else list(self.allow_headers),
            "expose_headers": list(self.expose_headers),
            "allow_credentials": self.allow_credentials,
            "max_age": self.max_age,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CORSConfig:
        return cls(
            data.get("allow_origins") or (ANY_ORIGIN,),
            data.get("allow_headers"),
            data.get("expose_headers") or (),
            bool(data.get("allow_credentials")),
            data.get("max_age"),
        )


def allowed_methods(verbs: Iterable[str]) -> str:
    """``Access-Control-Allow-Methods`` for a resource: its verbs and OPTIONS, sorted;
    ``ANY`` stands for every verb."""
    chosen = set(verbs) | {"OPTIONS"}
    if "ANY" in chosen:
        chosen = set(_ALL_VERBS)
    return ",".join(sorted(chosen))


def cors_problems(config: CORSConfig) -> list[str]:
    """What API Gateway or browsers would not accept in a CORS config, in words."""
    problems: list[str] = []
    origins = config.allow_origins
    if len(origins) != 1:
        problems.append(
            f"allow_origins lists {len(origins)} origins; API Gateway answers preflights and its "
            "own errors with one fixed Access-Control-Allow-Origin, so list one origin, or '*'"
        )
    for origin in origins:
        if origin != ANY_ORIGIN and not _ORIGIN.match(origin):
            problems.append(
                f"allow_origins: {origin!r} is not an origin; write 'https://app.example.com' "
                "(scheme, host and port only), or '*'"
            )
    if config.allow_credentials and ANY_ORIGIN in origins:
        problems.append(
            "allow_credentials = true needs a named origin: browsers refuse credentials "
            "with Access-Control-Allow-Origin: *"
        )
    for name in (*config.allowed_headers, *config.expose_headers):
        if not _TOKEN.match(name):
            problems.append(f"{name!r} is not an HTTP header name")
    if config.max_age is not None and not 0 <= config.max_age <= MAX_AGE_LIMIT:
        problems.append(f"max_age must be between 0 and {MAX_AGE_LIMIT} seconds")
    return problems


def effective_cors(declared: Any, app_wide: CORSConfig | None) -> CORSConfig | None:
    """A route's CORS: its own config, the app's ``[cors]`` for ``cors=True`` or when the
    route says nothing, the defaults (any origin) for ``cors=True`` without ``[cors]``,
    none for ``cors=False``."""
    if isinstance(declared, CORSConfig):
        return declared
    if declared is False:
        return None
    if declared is True:
        return app_wide or CORSConfig()
    return app_wide


def response_cors_headers(config: CORSConfig, method: str) -> dict[str, str]:
    """The headers the runtime adds to a handler's answer: the preflight's set (every
    verb) when the request is an OPTIONS the app answers itself, else the ordinary set."""
    if method.upper() == "OPTIONS":
        return config.preflight_headers(_ALL_VERBS)
    return config.headers()


def with_cors_headers(response: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
    """The proxy response with the CORS headers it lacks (the handler's own win)."""
    given = response.get("headers")
    current: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    multi = response.get("multiValueHeaders")
    taken = {name.lower() for name in current}
    if isinstance(multi, dict):
        taken |= {name.lower() for name in multi}
    for name, value in headers.items():
        if name.lower() not in taken:
            current[name] = value
    response["headers"] = current
    return response


# ---------------------------------------------------------------- authorizers


@dataclass(frozen=True)
class LambdaAuthorizer:
    """A Lambda TOKEN or REQUEST authorizer, declared with ``@app.authorizer``.

    Its handler takes ``(event, context)`` as API Gateway sends it and returns a
    policy (:func:`allow`, :func:`deny`), or raises ``Exception("Unauthorized")``
    for a 401. It runs in a function of its own, named after the handler unless
    ``function=`` says otherwise.
    """

    name: str
    handler: Any
    function: str
    ttl: int = 300
    type: str = TOKEN
    header: str = "Authorization"  # TOKEN: the header that holds the token
    identity_sources: tuple[str, ...] = ()  # REQUEST: API Gateway's mapping expressions
    token_pattern: str | None = None  # TOKEN: a regular expression the token must match

    @property
    def identity_source(self) -> str:
        """API Gateway's ``IdentitySource``: the token's header, or the REQUEST sources."""
        if self.type == TOKEN:
            return f"method.request.header.{self.header}"
        return ",".join(self.identity_sources)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "lambda",
            "name": self.name,
            "function": self.function,
            "ttl": self.ttl,
            "type": self.type,
            "header": self.header,
            "identity_sources": list(self.identity_sources),
            "token_pattern": self.token_pattern,
        }


@dataclass(frozen=True)
class CognitoAuthorizer:
    """A Cognito user pool authorizer: ``authorizer=CognitoAuthorizer("users", [pool_arn])``.

    API Gateway checks the ID token the client sends in ``header``.
    """

    name: str
    user_pool_arns: tuple[str, ...] = field(default=())
    header: str = "Authorization"
    ttl: int = 300

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_pool_arns", _strings(self.user_pool_arns) or ())

    @property
    def identity_source(self) -> str:
        return f"method.request.header.{self.header}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "cognito",
            "name": self.name,
            "user_pool_arns": list(self.user_pool_arns),
            "header": self.header,
            "ttl": self.ttl,
        }


Authorizer = LambdaAuthorizer | CognitoAuthorizer
_COGNITO_POOL_ARN = re.compile(r"^arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:[0-9]{12}:userpool/[\w-]+$")


def authorizer_problems(authorizer: Authorizer) -> list[str]:
    """What API Gateway would refuse in an authorizer's settings, in words."""
    label = f"authorizer {authorizer.name!r}"
    problems: list[str] = []
    if not _NAME.match(authorizer.name) or authorizer.name == IAM:
        problems.append(
            f"{label}: a name is a letter then at most 63 letters, digits, '-' or '_' "
            f"(and not {IAM!r}, which means IAM)"
        )
    if isinstance(authorizer.ttl, bool) or not isinstance(authorizer.ttl, int):
        problems.append(f"{label}: ttl must be a whole number of seconds")
    elif not 0 <= authorizer.ttl <= TTL_LIMIT:
        problems.append(f"{label}: ttl must be between 0 and {TTL_LIMIT} seconds")
    if not _TOKEN.match(authorizer.header):
        problems.append(f"{label}: {authorizer.header!r} is not an HTTP header name")
    if isinstance(authorizer, CognitoAuthorizer):
        problems.extend(_cognito_problems(label, authorizer))
    else:
        problems.extend(_lambda_problems(label, authorizer))
    return problems


def _cognito_problems(label: str, authorizer: CognitoAuthorizer) -> list[str]:
    if not authorizer.user_pool_arns:
        return [f"{label}: give user_pool_arns, the ARNs of the Cognito user pools to trust"]
    return [
        f"{label}: {arn!r} is not a user pool ARN "
        "(arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID)"
        for arn in authorizer.user_pool_arns
        if not _COGNITO_POOL_ARN.match(arn)
    ]


def _lambda_problems(label: str, authorizer: LambdaAuthorizer) -> list[str]:
    problems: list[str] = []
    if authorizer.type not in AUTHORIZER_TYPES:
        problems.append(f"{label}: type must be 'TOKEN' or 'REQUEST' (got {authorizer.type!r})")
    if not callable(authorizer.handler):
        problems.append(f"{label}: its handler {authorizer.handler!r} is not callable")
    for source in authorizer.identity_sources:
        if not source.startswith(IDENTITY_PREFIXES) or source.endswith("."):
            problems.append(
                f"{label}: identity source {source!r} must be one of "
                + ", ".join(f"'{p}NAME'" for p in IDENTITY_PREFIXES)
            )
    if authorizer.type == REQUEST and authorizer.ttl > 0 and not authorizer.identity_sources:
        problems.append(
            f"{label}: a REQUEST authorizer with a cache (ttl > 0) needs identity_sources: "
            "API Gateway caches its answers by them"
        )
    if authorizer.token_pattern is not None:
        try:
            re.compile(authorizer.token_pattern)
        except re.error as exc:
            problems.append(f"{label}: token_pattern is not a regular expression ({exc})")
    return problems


def authorizer_from_json(data: Mapping[str, Any], handler: Any = None) -> Authorizer:
    """An authorizer as :meth:`LambdaAuthorizer.to_json` or :meth:`CognitoAuthorizer.to_json`
    wrote it (``handler`` stands for a Lambda authorizer's function)."""
    if data.get("kind") == "cognito":
        return CognitoAuthorizer(
            str(data["name"]),
            tuple(data.get("user_pool_arns") or ()),
            str(data.get("header") or "Authorization"),
            int(data.get("ttl", 300)),
        )
    return LambdaAuthorizer(
        str(data["name"]),
        handler,
        str(data["function"]),
        int(data.get("ttl", 300)),
        str(data.get("type") or TOKEN),
        str(data.get("header") or "Authorization"),
        tuple(data.get("identity_sources") or ()),
        data.get("token_pattern"),
    )


def allow(
    principal_id: str,
    resource: str | Sequence[str] = "*",
    *,
    context: Mapping[str, str | int | float | bool] | None = None,
    usage_identifier_key: str | None = None,
) -> dict[str, Any]:
    """A Lambda authorizer's answer letting ``principal_id`` call ``resource`` (method ARNs,
    wildcards allowed; ``*``: every method, so one cached answer serves them all).

    ``context`` reaches the handler in ``event["requestContext"]["authorizer"]``
    (values as strings).
    """
    return _policy(principal_id, "Allow", resource, context, usage_identifier_key)


def deny(principal_id: str, resource: str | Sequence[str] = "*") -> dict[str, Any]:
    """A Lambda authorizer's answer refusing ``principal_id``: API Gateway answers 403."""
    return _policy(principal_id, "Deny", resource, None, None)


def _policy(
    principal_id: str,
    effect: str,
    resource: str | Sequence[str],
    context: Mapping[str, str | int | float | bool] | None,
    usage_identifier_key: str | None,
) -> dict[str, Any]:
    resources = resource if isinstance(resource, str) else list(resource)
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resources}
    answer: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
    }
    if context:
        answer["context"] = dict(context)
    if usage_identifier_key is not None:
        answer["usageIdentifierKey"] = usage_identifier_key
    return answer
