"""API Gateway's authorization rules, as pure functions: the local gateway's checks.

- A Lambda authorizer's answer (``principalId``, ``policyDocument``, ``context``)
  is read as API Gateway reads it, and its policy is evaluated against the
  request's method ARN: an explicit ``Deny`` wins, then any ``Allow``; nothing
  matching is an implicit deny. ``*`` and ``?`` are wildcards in resources.
- A Cognito user pool authorizer's token is checked for its shape, its issuer
  (one of the authorizer's user pools), its use (an ID token) and its expiry.
  Its signature is checked on AWS only: the local cloud has no user pool's
  keys (docs/api-gateway.md says so).
- ``AWS_IAM`` needs a SigV4 signature (header or query string); IAM itself is
  not enforced locally.

No I/O and no clock of its own: the time is passed in.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl

from teal.cloud.local.model import LOCAL_ACCOUNT_ID

# API Gateway's own answers, byte for byte (docs/api-gateway.md has their sources):
# note the capital M of the access denied bodies, and the null of a broken authorizer.
MISSING_TOKEN = (
    403,
    "MissingAuthenticationTokenException",
    '{"message":"Missing Authentication Token"}',
)
FORBIDDEN = (403, "ForbiddenException", '{"message":"Forbidden"}')
UNAUTHORIZED = (401, "UnauthorizedException", '{"message":"Unauthorized"}')
EXPLICIT_DENY = (
    403,
    "AccessDeniedException",
    '{"Message":"User is not authorized to access this resource with an explicit deny"}',
)
IMPLICIT_DENY = (
    403,
    "AccessDeniedException",
    '{"Message":"User is not authorized to access this resource"}',
)
AUTHORIZER_ERROR = (500, "AuthorizerConfigurationException", '{"message":null}')
UNAUTHORIZED_MESSAGE = "Unauthorized"  # what an authorizer raises to get a 401
SIGV4 = "AWS4-HMAC-SHA256"
_ACTIONS = {"execute-api:invoke", "execute-api:*", "*"}


class Effect(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


def execute_api_arn(region: str, api_id: str) -> str:
    """The ARN of a RestApi as execute-api permissions and policies name it (the
    stage, verb and path, or ``authorizers/<id>``, follow it)."""
    return f"arn:aws:execute-api:{region}:{LOCAL_ACCOUNT_ID}:{api_id}"


def method_arn(region: str, api_id: str, stage: str, verb: str, path: str) -> str:
    """The ARN an authorizer's policy is evaluated against, for a request path."""
    return f"{execute_api_arn(region, api_id)}/{stage}/{verb}/{path.lstrip('/')}"


def authorizer_source_arn(region: str, api_id: str, authorizer_id: str) -> str:
    """The ARN API Gateway invokes an authorizer's function as (its permission's scope)."""
    return f"{execute_api_arn(region, api_id)}/authorizers/{authorizer_id}"


# ---------------------------------------------------------------- Lambda authorizers


@dataclass(frozen=True)
class AuthorizerAnswer:
    """A Lambda authorizer's answer, as API Gateway keeps it (and caches it)."""

    principal_id: str
    statements: tuple[Mapping[str, Any], ...]
    context: Mapping[str, str]

    def effect_on(self, arn: str) -> Effect:
        return evaluate(self.statements, arn)


class MalformedAnswer(ValueError):
    """An answer API Gateway cannot use: it answers 500 (AuthorizerConfigurationException)."""


def read_answer(result: Any) -> AuthorizerAnswer:
    """Check an authorizer's answer as API Gateway does; :class:`MalformedAnswer` if not."""
    if not isinstance(result, dict):
        raise MalformedAnswer(f"the answer is a {type(result).__name__}, not an object")
    principal = result.get("principalId")
    if not isinstance(principal, str | int | float) or isinstance(principal, bool):
        raise MalformedAnswer("principalId is missing or not a string")
    document = result.get("policyDocument")
    if not isinstance(document, dict):
        raise MalformedAnswer("policyDocument is missing or not an object")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise MalformedAnswer("policyDocument.Statement is not a list of statements")
    return AuthorizerAnswer(str(principal), tuple(statements), _context(result.get("context")))


def _context(context: Any) -> dict[str, str]:
    """The context map with its values as strings, as the integration receives them;
    an object or an array as a value is refused, as by API Gateway."""
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise MalformedAnswer("context must be an object")
    found: dict[str, str] = {}
    for key, value in context.items():
        if isinstance(value, bool):
            found[str(key)] = "true" if value else "false"
        elif value is None or isinstance(value, str | int | float):
            found[str(key)] = "" if value is None else str(value)
        else:
            raise MalformedAnswer(f"context[{key!r}] is an object or an array")
    return found


def evaluate(statements: Sequence[Mapping[str, Any]], arn: str) -> Effect:
    """IAM's rule on the statements that invoke ``arn``: an explicit deny wins."""
    allowed = False
    for statement in statements:
        if not (_listed(statement.get("Action"), _action_matches) and _covers(statement, arn)):
            continue
        effect = str(statement.get("Effect", ""))
        if effect == "Deny":
            return Effect.EXPLICIT_DENY
        allowed = allowed or effect == "Allow"
    return Effect.ALLOW if allowed else Effect.IMPLICIT_DENY


def _covers(statement: Mapping[str, Any], arn: str) -> bool:
    return _listed(statement.get("Resource"), lambda pattern: wildcard_match(pattern, arn))


def _listed(value: Any, matches: Any) -> bool:
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return any(isinstance(item, str) and matches(item) for item in items)


def _action_matches(action: str) -> bool:
    return action.lower() in _ACTIONS


def wildcard_match(pattern: str, value: str) -> bool:
    """IAM's resource match: ``*`` any run of characters, ``?`` any one, case-sensitive."""
    regex = "".join({"*": ".*", "?": "."}.get(char, re.escape(char)) for char in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def token_event(token: str, arn: str) -> dict[str, Any]:
    """The event of a TOKEN authorizer."""
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": arn}


def request_event(proxy_event: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """The event of a REQUEST authorizer: the request as the integration would get it,
    without its body."""
    kept = {k: v for k, v in proxy_event.items() if k not in ("body", "isBase64Encoded")}
    return {"type": "REQUEST", "methodArn": arn, **kept}


def identity_values(
    sources: Sequence[str],
    proxy_event: Mapping[str, Any],
    stage_variables: Mapping[str, str],
) -> tuple[str, ...] | None:
    """The values of a REQUEST authorizer's identity sources; None when one is missing or
    empty (API Gateway answers 401 then, without calling the authorizer)."""
    headers = {k.lower(): v for k, v in (proxy_event.get("headers") or {}).items()}
    query = proxy_event.get("queryStringParameters") or {}
    context = proxy_event.get("requestContext") or {}
    values: list[str] = []
    for source in sources:
        value: Any = None
        if source.startswith("method.request.header."):
            value = headers.get(source.removeprefix("method.request.header.").lower())
        elif source.startswith("method.request.querystring."):
            value = query.get(source.removeprefix("method.request.querystring."))
        elif source.startswith("stageVariables."):
            value = stage_variables.get(source.removeprefix("stageVariables."))
        elif source.startswith("context."):
            value = context.get(source.removeprefix("context."))
        if value is None or value == "":
            return None
        values.append(str(value))
    return tuple(values)


# ---------------------------------------------------------------- Cognito


_POOL_ARN = re.compile(
    r"^arn:aws[a-z-]*:cognito-idp:(?P<region>[a-z0-9-]+):\d{12}:userpool/(?P<pool>[\w-]+)$"
)


def pool_issuers(provider_arns: Sequence[str]) -> set[str]:
    """The ``iss`` of the tokens each user pool signs."""
    issuers = set()
    for arn in provider_arns:
        found = _POOL_ARN.match(arn)
        if found:
            issuers.add(
                f"https://cognito-idp.{found.group('region')}.amazonaws.com/{found.group('pool')}"
            )
    return issuers


def cognito_claims(token: str, provider_arns: Sequence[str], now: float) -> dict[str, Any] | None:
    """The claims of an ID token one of the user pools issued and that has not expired;
    None otherwise (API Gateway answers 401). The signature is AWS's to check."""
    token = token.removeprefix("Bearer ").strip()
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    header, claims = _json_part(parts[0]), _json_part(parts[1])
    if header is None or claims is None or not header.get("alg"):
        return None
    expiry = claims.get("exp")
    if not isinstance(expiry, int | float) or isinstance(expiry, bool) or expiry <= now:
        return None
    if claims.get("iss") not in pool_issuers(provider_arns) or claims.get("token_use") != "id":
        return None
    return claims


def _json_part(text: str) -> dict[str, Any] | None:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        return None
    return decoded if isinstance(decoded, dict) else None


def claims_context(claims: Mapping[str, Any]) -> dict[str, Any]:
    """``requestContext.authorizer`` of a request a Cognito authorizer let through."""
    return {
        "claims": {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()}
    }


# ---------------------------------------------------------------- IAM


def sigv4_access_key(headers: Mapping[str, str], query_string: str) -> str | None:
    """The access key id of a request signed with SigV4 (in its Authorization header or
    its query string), else None. The signature itself is not verified locally."""
    authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    if authorization.startswith(SIGV4 + " "):
        fields = dict(
            part.strip().split("=", 1)
            for part in authorization[len(SIGV4) :].split(",")
            if "=" in part
        )
        if {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
            return fields["Credential"].split("/", 1)[0]
        return None
    query = dict(parse_qsl(query_string, keep_blank_values=True))
    if query.get("X-Amz-Algorithm") == SIGV4 and query.get("X-Amz-Signature"):
        return query.get("X-Amz-Credential", "").split("/", 1)[0] or None
    return None
