"""The local gateway's door: authorizers and API keys, before the integration runs.

:class:`Guard` decides for a method that has an authorizer or needs an API
key, in API Gateway's order: the authorizer first (an IAM signature, a
Cognito token, or a Lambda authorizer run in a worker with API Gateway's
event), then the API key (``x-api-key``, an enabled key in a usage plan of
the stage). It answers with API Gateway's own refusals, or with what the
request carries into its event (:class:`Access`).

A Lambda authorizer's answer is cached ``ttl`` seconds per identity (the
token, or the REQUEST identity sources) and per deployment; a cached policy
is evaluated again for each method, as on AWS, so an answer allowing one
method only refuses the next one until it expires.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from teal.cloud.local.functions.workers import InvocationError
from teal.cloud.local.gateway.authorizers import (
    AUTHORIZER_ERROR,
    EXPLICIT_DENY,
    FORBIDDEN,
    IMPLICIT_DENY,
    MISSING_TOKEN,
    UNAUTHORIZED,
    UNAUTHORIZED_MESSAGE,
    AuthorizerAnswer,
    Effect,
    MalformedAnswer,
    authorizer_source_arn,
    claims_context,
    cognito_claims,
    identity_values,
    read_answer,
    request_event,
    sigv4_access_key,
    token_event,
)
from teal.cloud.local.model import AuthorizerSpec, FunctionSpec, RouteIntegration, ServedStage

log = logging.getLogger("teal.local.gateway")

API_KEY_HEADER = "x-api-key"
CACHE_LIMIT = 10_000  # cached answers kept at most; then the cache starts afresh

Refusal = tuple[int, str, str]  # status, x-amzn-ErrorType, body


@dataclass
class Access:
    """What an authorized request carries into its event's ``requestContext``."""

    authorizer: dict[str, Any] | None = None
    identity: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """The request as the guard sees it."""

    served: ServedStage
    route: RouteIntegration
    method_arn: str
    headers: Mapping[str, str]  # lower-cased names
    query_string: str
    proxy_event: Callable[[], dict[str, Any]]  # the integration's event, built on demand


class Guard:
    """Authorizers and API keys over the gateway's means (see module docstring)."""

    def __init__(
        self,
        invoke: Callable[[FunctionSpec, Any], Awaitable[Any]],
        function: Callable[[str], FunctionSpec | None],
        may_invoke: Callable[[FunctionSpec, str], bool],
        api_key: Callable[[str, str, str], str | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.invoke = invoke
        self.function = function
        self.may_invoke = may_invoke
        self.api_key = api_key
        self.clock = clock
        self._cache: dict[tuple[str, str, tuple[str, ...]], tuple[float, AuthorizerAnswer]] = {}

    async def check(self, call: Call) -> Access | Refusal:
        access = Access()
        kind = call.route.authorization
        refused: Refusal | None = None
        if kind == "AWS_IAM":
            refused = self._signed(call, access)
        elif kind in ("CUSTOM", "COGNITO_USER_POOLS"):
            refused = await self._authorized(call, access)
        if refused is None and call.route.api_key_required:
            refused = self._keyed(call, access)
        return access if refused is None else refused

    # ------------------------------------------------------------ IAM

    def _signed(self, call: Call, access: Access) -> Refusal | None:
        key = sigv4_access_key(call.headers, call.query_string)
        if key is None:
            return MISSING_TOKEN
        access.identity["accessKey"] = key
        return None

    # ------------------------------------------------------------ authorizers

    async def _authorized(self, call: Call, access: Access) -> Refusal | None:
        spec = call.served.authorizers.get(call.route.authorizer_id or "")
        if spec is None:
            return AUTHORIZER_ERROR
        if spec.type == "COGNITO_USER_POOLS":
            return self._cognito(spec, call, access)
        identity = self._identity(spec, call)
        if identity is None:
            return UNAUTHORIZED
        started = time.perf_counter()
        answer = self._cached(call.served, spec, identity)
        if answer is None:
            found = await self._ask(spec, call, identity)
            if not isinstance(found, AuthorizerAnswer):
                return found
            answer = found
            latency = int((time.perf_counter() - started) * 1000)
        else:
            latency = 0
        match answer.effect_on(call.method_arn):
            case Effect.EXPLICIT_DENY:
                return EXPLICIT_DENY
            case Effect.IMPLICIT_DENY:
                return IMPLICIT_DENY
        access.authorizer = {
            **answer.context,
            "principalId": answer.principal_id,
            "integrationLatency": latency,
        }
        return None

    def _cognito(self, spec: AuthorizerSpec, call: Call, access: Access) -> Refusal | None:
        header = spec.identity_sources[0].removeprefix("method.request.header.").lower()
        token = call.headers.get(header)
        claims = cognito_claims(token, spec.provider_arns, self.clock()) if token else None
        if claims is None:
            return UNAUTHORIZED
        access.authorizer = claims_context(claims)
        return None

    def _identity(self, spec: AuthorizerSpec, call: Call) -> tuple[str, ...] | None:
        """The token, or the REQUEST identity sources' values; None: 401 without a call."""
        if spec.type == "TOKEN":
            header = spec.identity_sources[0].removeprefix("method.request.header.").lower()
            token = call.headers.get(header)
            if not token or (spec.validation and not re.fullmatch(spec.validation, token)):
                return None
            return (token,)
        if not spec.identity_sources:
            return ()  # no cache, nothing required
        return identity_values(
            spec.identity_sources, call.proxy_event(), call.served.stage_variables
        )

    def _cached(
        self, served: ServedStage, spec: AuthorizerSpec, identity: tuple[str, ...]
    ) -> AuthorizerAnswer | None:
        if spec.ttl_s <= 0:
            return None
        found = self._cache.get((served.deployment_id, spec.id, identity))
        if found is None or found[0] <= self.clock():
            return None
        return found[1]

    async def _ask(
        self, spec: AuthorizerSpec, call: Call, identity: tuple[str, ...]
    ) -> AuthorizerAnswer | Refusal:
        """Run the authorizer's function; its answer (cached), or API Gateway's refusal."""
        function = self.function(spec.function_arn) if spec.function_arn else None
        served = call.served
        if function is None or not self.may_invoke(
            function, authorizer_source_arn(served.region, served.api_id, spec.id)
        ):
            log.info("authorizer %s: its function is missing or may not be invoked", spec.name)
            return AUTHORIZER_ERROR
        event = (
            token_event(identity[0], call.method_arn)
            if spec.type == "TOKEN"
            else request_event(call.proxy_event(), call.method_arn)
        )
        try:
            answer = read_answer(await self.invoke(function, event))
        except InvocationError as exc:
            if exc.message.rpartition(": ")[2] == UNAUTHORIZED_MESSAGE:
                return UNAUTHORIZED
            log.info("authorizer %s failed: %s", spec.name, exc)
            return AUTHORIZER_ERROR
        except MalformedAnswer as exc:
            log.info("authorizer %s answered what API Gateway cannot use: %s", spec.name, exc)
            return AUTHORIZER_ERROR
        if spec.ttl_s > 0:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            key = (call.served.deployment_id, spec.id, identity)
            self._cache[key] = (self.clock() + spec.ttl_s, answer)
        return answer

    # ------------------------------------------------------------ API keys

    def _keyed(self, call: Call, access: Access) -> Refusal | None:
        value = call.headers.get(API_KEY_HEADER)
        key_id = self.api_key(call.served.api_id, call.served.stage_name, value) if value else None
        if key_id is None:
            return FORBIDDEN
        access.identity.update(apiKey=value, apiKeyId=key_id)
        return None
