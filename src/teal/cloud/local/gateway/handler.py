"""The local HTTP data plane: API Gateway's request handling, free of any server.

:meth:`Gateway.handle` takes a :class:`GatewayRequest` and gives a
:class:`GatewayResponse`, doing what a REST API with Lambda proxy
integrations does:

0. refuse a body over the REST payload limit, 10 MB (413); the HTTP server
   stops keeping the body there, so the gateway never holds more of a request;
   nor does it keep a body over Lambda's 6 MB event limit, which no function
   could be given (``max_kept_body_bytes``): such a request is routed as any
   other, and answered 413 where its event would be built; and a request whose
   body finds no room among those the server holds is throttled (429, API
   Gateway's ``THROTTLED`` answer);
1. pick the API and stage: ``/restapis/<api>/<stage>/_user_request_/<path>``
   on the main port, or a custom domain (by its own port, or by Host header
   on the main port) through its routing rules, by priority (a preview's
   header), then its base path mappings, longest base path first;
2. match the path against the stage's deployment snapshot with
   :class:`teal.runtime.routes.PathTree` (403 Missing Authentication Token if none);
   a MOCK method (a CORS preflight) answers at once with its fixed headers;
   a method with an authorizer or an API key passes :class:`Guard` first
   (401, 403 or 500 as API Gateway answers them);
3. check the function's invoke permission (500 without one);
4. build the proxy event (header names in the client's case, API Gateway's
   ``X-Forwarded-*`` and ``X-Amzn-Trace-Id`` added, the body base64-encoded
   when its type is one of the binary media types the stage's deployment
   holds), run the function under a Lambda request id of its own (413 for an
   event over Lambda's 6 MB payload limit; 502 on error, timeout, crash,
   memory breach, malformed response or one over Lambda's limit; 504 past
   the integration timeout) and turn its proxy response into HTTP (a base64
   body decoded only when the first type the client accepts is binary).

API Gateway's own answers (each carries its gateway response type) are then
shaped by the stage's gateway responses, as the deployment snapshotted them
(``DEFAULT_4XX``/``DEFAULT_5XX`` with teal's CORS headers).

Every limit is AWS's, with AWS's answer (``docs/limits.md``): API Gateway's
here, Lambda's in :mod:`teal.cloud.local.functions.workers`.

Each request that reaches a stage is recorded for the traffic numbers and
the request feed (:mod:`teal.cloud.local.gateway.traffic`): one tuple appended, the
rest is done in batches by the server loop.

Under ``/_teal/`` on the main port (and never through an API or a domain's
port) the gateway answers for itself: ``/_teal/health``, and
``POST /_teal/invoke/<function name>`` with an event as the body, which runs
the function once through the same workers as the requests (``teal invoke``)
and answers as Lambda's Invoke would: the result, or the error; and
``POST /_teal/warm/<function name>`` with ``{"concurrency": N}``, which starts
the workers a switch wants ready (:meth:`Invoker.warm`). The web
console's pages are under ``/_teal/console`` (:mod:`teal.cloud.local.console`,
handed in by the gateway process as ``console``). Every one of them answers
only the holder of the gateway's token, from loopback, at a loopback Host and
from no other origin (:mod:`teal.cloud.local.gateway.own_endpoints`): the
console's pages check it themselves (a browser brings the token in a cookie),
every other path is checked before it is even looked up.

A request HTTP cannot parse (a header name with CR or LF in it, say) never
reaches :meth:`Gateway.handle`: the HTTP server (:mod:`teal.cloud.local.gateway.http_server`)
answers 400 and closes the connection, as a front end would. A proxy response HTTP
cannot carry (such a header from the function) is malformed: 502.

What it reads comes from :class:`ServingState` and is cached per
``generation()``, polled on every request, so a deploy or a switch applies to
the next request while requests in flight finish on what they started with.
:mod:`teal.cloud.local.gateway.http_server` is the HTTP/1.1 server around it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import unquote

from teal.cloud.local.functions.workers import (
    MAX_EVENT_BYTES,
    FailureKind,
    InvocationError,
    event_too_large,
)
from teal.cloud.local.gateway import authorizers
from teal.cloud.local.gateway.authorizers import (
    FORBIDDEN,
    MISSING_TOKEN,
    execute_api_arn,
    method_arn,
)
from teal.cloud.local.gateway.guard import Access, Call, Guard
from teal.cloud.local.gateway.own_endpoints import (
    HEALTH_PATH,
    INVOKE_PREFIX,
    OWN_PREFIX,
    SERVICE,
    TOKEN_HEADER,
    WARM_PREFIX,
    OwnEndpointsAuth,
)
from teal.cloud.local.gateway.traffic import RequestRecorder
from teal.cloud.local.model import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    DomainRoute,
    FunctionSpec,
    GatewayResponseSpec,
    MockAnswer,
    RouteIntegration,
    ServedStage,
    ServingState,
)
from teal.rules.apigateway import base_path_prefix, headers_match
from teal.rules.proxy_events import (
    IncomingRequest,
    MalformedProxyResponse,
    RequestSource,
    UndecodableProxyBody,
    add_access,
    build_proxy_event,
    event_path,
    extended_request_id,
    first_accepted,
    is_binary,
    parse_proxy_response,
    path_parameters,
)
from teal.runtime.routes import Match, MatchKind, PathSyntaxError, PathTree

log = logging.getLogger("teal.local.gateway")

INTEGRATION_TIMEOUT_S = 29.0
TARGETS_KEPT = 4096  # request targets remembered per serving state generation
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's REST payload limit, on the body as received
CONSOLE_PATH = "/_teal/console"  # the web console (teal.cloud.local.console), its pages below
# What a refusal of an own endpoint says of the gateway: that a teal gateway answers here
# (so a command can tell another home's gateway from another program), nothing else.
OWN_SERVICE = {"service": SERVICE}
OWN_HEADERS = ("host", "origin", "sec-fetch-site", TOKEN_HEADER)
API_PREFIX = "/restapis/"
USER_REQUEST = "_user_request_"


@dataclass(frozen=True)
class GatewayRequest:
    method: str
    path: str  # as sent, still percent-encoded, without the query string
    query_string: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    local_port: int  # the port the request came in on: the main one or a domain's
    client_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    body_too_large: bool = False  # over the payload limit: ``body`` holds none of it
    # over Lambda's event limit, so no function may be given it: ``body`` holds none of it
    body_dropped: bool = False
    throttled: bool = False  # no room to keep the body: ``body`` holds none of it
    scheme: str = "http"

    def header(self, name: str) -> str | None:
        """The first value of a header, by its name in any case."""
        return self._first_values.get(name.lower())

    @functools.cached_property
    def _first_values(self) -> dict[str, str]:
        # built once per request: the gateway asks for several headers
        values: dict[str, str] = {}
        for name, value in self.headers:
            values.setdefault(name.lower(), value)
        return values


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    # API Gateway's own answers: their gateway response type (UNAUTHORIZED, DEFAULT_5XX...);
    # None for what an integration answered
    response_type: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)


_UUID4_BITS = (0x4 << 76) | (0x2 << 62)  # the version (4) and variant (RFC 4122) fields
_UUID4_KEEP = ((1 << 128) - 1) ^ ((0xF << 76) | (0x3 << 62))


def random_request_id() -> str:
    """A random version 4 UUID, the form of API Gateway's request ids.

    From ``random`` rather than ``uuid.uuid4``'s system call: it is called for
    every request and need not be unpredictable.
    """
    digits = "%032x" % (random.getrandbits(128) & _UUID4_KEEP | _UUID4_BITS)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def new_trace_id(now: float) -> str:
    """An X-Ray trace id, the ``Root`` API Gateway puts in ``X-Amzn-Trace-Id``."""
    return f"Root=1-{int(now):08x}-{random.getrandbits(96):024x}"


def answer_trace_id(sent: str | None, started: str) -> str:
    """The ``X-Amzn-Trace-Id`` of a proxy answer: a client's header with a root and a
    parent as it was sent, a root-only one completed with a parent (the segment API
    Gateway would record), else the trace API Gateway started, not sampled."""
    if sent and "Root=" in sent:
        return sent if "Parent=" in sent else f"{sent};Parent={random.getrandbits(64):016x}"
    return f"{started};Sampled=0"


def trace_id_of(request: GatewayRequest, now: float) -> str:
    """The client's own trace header when it carries a root (API Gateway continues that
    trace), else a new one."""
    sent = request.header("x-amzn-trace-id")
    return sent if sent and "Root=" in sent else new_trace_id(now)


class Invoker(Protocol):
    """Runs a function for one event (the workers, or a fake in tests).

    ``request_id`` is Lambda's own request id (the context's ``aws_request_id``),
    not API Gateway's.
    """

    async def invoke(self, spec: FunctionSpec, event: Any, request_id: str) -> Any: ...

    async def warm(self, spec: FunctionSpec, concurrency: int) -> int:
        """Ready ``concurrency`` execution environments of the function; how many are."""
        ...


# AWS's own bodies, byte for byte (note the spacing differs between them); those of
# authorizers, API keys and the missing token are in teal.cloud.local.gateway.authorizers.
BAD_GATEWAY = (502, "InternalServerErrorException", '{"message": "Internal server error"}')
INTERNAL_ERROR = (500, "InternalServerErrorException", '{"message": "Internal server error"}')
TIMED_OUT = (504, "IntegrationTimeout", '{"message": "Endpoint request timed out"}')
# a payload over a limit, API Gateway's own or Lambda's (the answer observed for the latter)
REQUEST_TOO_LONG = (413, "BadRequestException", '{"message": "Request Too Long"}')
# API Gateway's answer when it throttles a request (gateway response type THROTTLED)
THROTTLED = (429, "TooManyRequestsException", '{"message":"Too Many Requests"}')


@dataclass(frozen=True)
class StageTarget:
    """Where a request goes once its URL is understood: a stage of an API, and the
    paths its event carries (not the deploy's ``teal.project.config.Target``)."""

    api_id: str
    stage: str
    path: str  # the path inside the stage (what routes match), still encoded
    event_path: str
    context_path: str
    domain_name: str
    domain_prefix: str  # requestContext.domainPrefix: the API id on the API's own endpoint


@dataclass(frozen=True)
class _Routed:
    """A request matched to a method of a stage: what checking its access needs."""

    served: ServedStage
    route: RouteIntegration
    target: StageTarget
    request: GatewayRequest
    request_id: str
    match: Match[RouteIntegration]


@dataclass
class _View:
    """ServingState as of one generation, filled lazily."""

    generation: int
    domains: list[DomainRoute]
    stages: dict[tuple[str, str], ServedStage | None] = field(default_factory=dict)
    functions: dict[str, FunctionSpec | None] = field(default_factory=dict)
    permitted: dict[tuple[str, str], bool] = field(default_factory=dict)  # (function, method ARN)
    live_functions: frozenset[str] | None = None  # ARNs some domain's mapping leads to
    api_keys: dict[tuple[str, str, str], str | None] = field(default_factory=dict)
    # (port, host, path) -> where requests go, or API Gateway's answer
    targets: dict[tuple[int, str, str], StageTarget | GatewayResponse] = field(default_factory=dict)

    def domain_on_port(self, port: int) -> DomainRoute | None:
        return next((d for d in self.domains if d.port == port), None)

    def domain_named(self, host: str) -> DomainRoute | None:
        name = host.rsplit(":", 1)[0].lower() if not host.endswith("]") else host.lower()
        return next((d for d in self.domains if d.name.lower() == name), None)


def _warm_request(body: bytes | None) -> tuple[int | None, str | None]:
    """A warm call's ``{"concurrency": N, "alias": NAME}``: N (None unless a whole number
    >= 1) and the alias (None when not given)."""
    try:
        asked = json.loads(body or b"{}")
    except ValueError:
        return None, None
    if not isinstance(asked, dict):
        return None, None
    concurrency, alias = asked.get("concurrency"), asked.get("alias")
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        concurrency = None
    return concurrency, alias if isinstance(alias, str) and alias else None


class Gateway:
    """API Gateway's request handling over a :class:`ServingState`."""

    def __init__(
        self,
        state: ServingState,
        invoker: Invoker,
        *,
        main_port: int,
        clock: Callable[[], float] = time.time,
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
        max_body_bytes: int = MAX_BODY_BYTES,
        new_request_id: Callable[[], str] = random_request_id,
        on_change: Callable[[], None] | None = None,
        on_health: Callable[[], Awaitable[Mapping[str, Any]]] | None = None,
        identity: Mapping[str, Any] | None = None,
        recorder: RequestRecorder | None = None,
        console: Callable[[GatewayRequest], Awaitable[GatewayResponse]] | None = None,
        token: str | None = None,
    ) -> None:
        self.state = state
        self.invoker = invoker
        self.main_port = main_port
        self.clock = clock
        self.integration_timeout_s = integration_timeout_s
        self.max_body_bytes = max_body_bytes
        # a body past this never reaches a function (its event would be over Lambda's limit)
        self.max_kept_body_bytes = min(MAX_EVENT_BYTES, max_body_bytes)
        self.new_request_id = new_request_id
        self.on_change = on_change
        self.on_health = on_health
        self.identity = dict(identity or {})
        self.recorder = recorder
        self.console = console
        # without a token, every own endpoint is closed (no gateway runs without one)
        self.own_auth = OwnEndpointsAuth(token, main_port) if token else None
        self._view: _View | None = None
        self._trees: dict[str, PathTree[RouteIntegration]] = {}
        self._arn_patterns: dict[str, re.Pattern[str]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._guard: Guard | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------ state

    async def refresh(self) -> _View:
        """The current view, rebuilt when the state's generation moved."""
        generation = self.state.generation()
        view = self._view
        if view is None or view.generation != generation:
            view = self._view = _View(generation, self.state.domains())
            if self.on_change is not None:
                self.on_change()  # must not block: it may only schedule work
        return view

    def domain_ports(self) -> dict[int, str]:
        """Port -> domain name, for the listeners the server keeps open."""
        domains = self._view.domains if self._view else []
        return {d.port: d.name for d in domains}

    def live_functions(self) -> frozenset[str]:
        """The ARNs of the functions served through a custom domain, as of the last refresh:
        the live and previewed environments' functions (the workers keep one of each
        warm)."""
        view = self._view
        if view is None:
            return frozenset()
        if view.live_functions is None:
            arns: set[str] = set()
            for domain in view.domains:
                targets = [*domain.mappings.values(), *((r.api_id, r.stage) for r in domain.rules)]
                for api_id, stage in targets:
                    served = self._stage(view, api_id, stage)
                    routes = served.routes if served is not None else ()
                    arns.update(r.function_arn for r in routes if r.function_arn)
            view.live_functions = frozenset(arns)
        return view.live_functions

    def _stage(self, view: _View, api_id: str, stage: str) -> ServedStage | None:
        key = (api_id, stage)
        if key not in view.stages:
            view.stages[key] = self.state.stage(api_id, stage)
        return view.stages[key]

    def _function(self, view: _View, arn: str) -> FunctionSpec | None:
        if arn not in view.functions:
            view.functions[arn] = self.state.function_by_arn(arn)
        return view.functions[arn]

    def _tree(self, served: ServedStage) -> PathTree[RouteIntegration]:
        tree = self._trees.get(served.deployment_id)
        if tree is None:
            tree = PathTree()
            for route in served.routes:
                try:
                    tree.add(route.resource_path, route.http_method, route)
                except PathSyntaxError:
                    log.warning("skipping unservable route %s", route)
            if len(self._trees) > 512:
                self._trees.clear()
            self._trees[served.deployment_id] = tree
        return tree

    # ------------------------------------------------------------ requests

    async def handle(self, request: GatewayRequest) -> GatewayResponse:
        """Serve one request as API Gateway would."""
        started = time.perf_counter()
        request_id = self.new_request_id()
        if request.body_too_large:
            return _error(REQUEST_TOO_LONG, request_id)
        view = await self.refresh()
        if request.local_port == self.main_port and request.path.startswith(OWN_PREFIX):
            return await self._internal(view, request, request_id)
        target = self._target(view, request)
        if isinstance(target, GatewayResponse):
            return target
        served = self._stage(view, target.api_id, target.stage)
        if served is None:
            return _error(FORBIDDEN, request_id)
        if request.throttled:
            response, function, version = _error(THROTTLED, request_id), "", ""
        else:
            response, function, version = await self._serve(
                view, served, target, request, request_id
            )
        if response.response_type is not None and served.gateway_responses:
            response = with_gateway_response(response, served.gateway_responses)
        if self.recorder is not None:
            self.recorder.record(
                started,
                target.api_id,
                target.stage,
                request.method,
                target.path,
                response.status,
                function,
                request_id,
                version,
            )
        return response

    async def _internal(
        self, view: _View, request: GatewayRequest, request_id: str
    ) -> GatewayResponse:
        if request.throttled:
            return _error(THROTTLED, request_id)
        if self.console is not None and is_console_path(request.path):
            return await self.console(request)  # a browser's: the token from a cookie too
        refused = self._own_refusal(request)
        if refused is not None:
            return _json_response(403, {"message": refused, **OWN_SERVICE}, "")
        if request.path == HEALTH_PATH:
            details = await self.on_health() if self.on_health is not None else {}
            return self._health(view, request_id, details)
        if request.path.startswith(INVOKE_PREFIX) and request.method == "POST":
            return await self._invoke(view, request.path[len(INVOKE_PREFIX) :], request)
        if request.path.startswith(WARM_PREFIX) and request.method == "POST":
            return await self._warm(view, request.path[len(WARM_PREFIX) :], request)
        return _json_response(404, {"message": f"no teal endpoint at {request.path}"}, "")

    def _own_refusal(self, request: GatewayRequest) -> str | None:
        """Why a call of the gateway's own endpoints is refused (None: it is teal's)."""
        if self.own_auth is None:
            return "this gateway has no token: its own endpoints are closed"
        headers = {name: value for name in OWN_HEADERS if (value := request.header(name))}
        return self.own_auth.refusal(request.client_ip, headers)

    def _health(self, view: _View, request_id: str, details: Mapping[str, Any]) -> GatewayResponse:
        body = {"ok": True, "generation": view.generation, **self.identity, **details}
        return _json_response(200, body, request_id)

    def _target(self, view: _View, request: GatewayRequest) -> StageTarget | GatewayResponse:
        """Where the request goes, remembered per port, host and path for the view's
        generation; never for a domain with routing rules (they may look at headers)."""
        host = request.header("host") or f"127.0.0.1:{request.local_port}"
        key = (request.local_port, host, request.path)
        known = view.targets.get(key)
        if known is None:
            known, by_headers = self._find_target(view, request, host)
            if not by_headers:
                if len(view.targets) >= TARGETS_KEPT:
                    view.targets.clear()
                view.targets[key] = known
        return known

    def _find_target(
        self, view: _View, request: GatewayRequest, host: str
    ) -> tuple[StageTarget | GatewayResponse, bool]:
        """The target, and whether the request's headers may have chosen it."""
        on_domain_port = request.local_port != self.main_port
        if on_domain_port:
            domain = view.domain_on_port(request.local_port)
        else:
            domain = view.domain_named(host)
        if domain is not None:
            routed = _through_rule(domain, request) or _through_mapping(domain, request.path)
            return routed or _error(FORBIDDEN, ""), bool(domain.rules)
        if on_domain_port:
            return _error(FORBIDDEN, ""), False
        target = _api_target(request.path, host) or _not_found(request.path, self.main_port)
        return target, False

    async def _serve(
        self,
        view: _View,
        served: ServedStage,
        target: StageTarget,
        request: GatewayRequest,
        request_id: str,
    ) -> tuple[GatewayResponse, str, str]:
        """The answer, the name of the function that ran ("" if none did) and its
        version (an alias's draw: the version this request ran)."""
        match = self._tree(served).match(target.path, request.method)
        if match.kind is not MatchKind.FULL or match.target is None or match.node is None:
            return _error(MISSING_TOKEN, request_id), "", ""
        route = match.target
        if route.mock is not None:
            return _mock_answer(route.mock, request_id), "", ""
        access: Access | None = None
        if route.guarded:
            routed = _Routed(served, route, target, request, request_id, match)
            checked = await self._check_access(routed)
            if isinstance(checked, GatewayResponse):
                return checked, "", ""
            access = checked
        spec = self._function(view, route.function_arn) if route.function_arn else None
        source_arn = execute_api_arn(served.region, served.api_id)
        source_arn = f"{source_arn}/{target.stage}/{request.method}{match.node.path}"
        if spec is None or not self._permitted(view, spec, source_arn):
            # API Gateway may not invoke the function: AWS answers as for any internal error
            return _error(INTERNAL_ERROR, request_id), "", ""
        # an alias with weights: this request's version, drawn here to count it per version
        spec = spec.routed(random.random())
        if request.body_dropped:  # Lambda refuses the event: the function does not run
            log.info(
                "function %s not invoked for request %s: body over 6 MB", spec.name, request_id
            )
            return _error(REQUEST_TOO_LONG, request_id), spec.name, spec.version
        source = _request_source(served, target, match.node.path)
        incoming = _incoming(request, request.body)
        now = self.clock()
        trace_id = trace_id_of(request, now)
        event = build_proxy_event(
            incoming, source, request_id=request_id, now=now, trace_id=trace_id
        )
        if access is not None:
            add_access(event, access.authorizer, access.identity)
        binary_accepted = is_binary(
            first_accepted(request.header("accept")), source.binary_media_types
        )
        own = (
            ("x-amz-apigw-id", extended_request_id(request_id)),
            ("X-Amzn-Trace-Id", answer_trace_id(request.header("x-amzn-trace-id"), trace_id)),
        )
        answer = await self._integrate(spec, event, request_id, binary_accepted, own)
        return answer, spec.name, spec.version

    def _permitted(self, view: _View, spec: FunctionSpec, method_arn: str) -> bool:
        """Whether a permission of ``spec`` lets API Gateway invoke it as ``method_arn``."""
        key = (spec.arn, method_arn)
        known = view.permitted.get(key)
        if known is None:
            patterns = spec.invoke_source_arns
            known = view.permitted[key] = any(
                self._arn_pattern(p).fullmatch(method_arn) for p in patterns
            )
        return known

    # ------------------------------------------------------------ access

    async def _check_access(self, routed: _Routed) -> Access | GatewayResponse:
        """The route's authorizer and API key (see :mod:`teal.cloud.local.gateway.guard`)."""
        guard = self._guard or self._new_guard()
        target, request = routed.target, routed.request
        path = unquote(target.path)
        call = Call(
            routed.served,
            routed.route,
            method_arn(routed.served.region, target.api_id, target.stage, request.method, path),
            {name.lower(): value for name, value in request.headers},
            request.query_string,
            lambda: self._authorizer_event(routed),
        )
        outcome = await guard.check(call)
        return outcome if isinstance(outcome, Access) else _error(outcome, routed.request_id)

    def _new_guard(self) -> Guard:
        def function(arn: str) -> FunctionSpec | None:
            return self.state.function_by_arn(arn)

        async def invoke(spec: FunctionSpec, event: Any) -> Any:
            return await self.invoker.invoke(spec, event, self.new_request_id())

        self._guard = Guard(invoke, function, self._may_invoke, self._api_key, self.clock)
        return self._guard

    def _may_invoke(self, spec: FunctionSpec, source_arn: str) -> bool:
        return any(self._arn_pattern(p).fullmatch(source_arn) for p in spec.invoke_source_arns)

    def _api_key(self, api_id: str, stage: str, value: str) -> str | None:
        """The key's id when the stage accepts it (remembered until the state changes)."""
        view = self._view
        key = (api_id, stage, value)
        if view is not None and key in view.api_keys:
            return view.api_keys[key]
        found = self.state.api_key(api_id, stage, value)
        if view is not None:
            view.api_keys[key] = found
        return found

    def _authorizer_event(self, routed: _Routed) -> dict[str, Any]:
        """The request as its integration would get it (what a REQUEST authorizer reads)."""
        served, target, request = routed.served, routed.target, routed.request
        source = _request_source(served, target, routed.route.resource_path)
        incoming = _incoming(request, b"")
        return build_proxy_event(incoming, source, request_id=routed.request_id, now=self.clock())

    def _arn_pattern(self, pattern: str) -> re.Pattern[str]:
        compiled = self._arn_patterns.get(pattern)
        if compiled is None:
            regex = "".join({"*": ".*", "?": "."}.get(char, re.escape(char)) for char in pattern)
            compiled = self._arn_patterns[pattern] = re.compile(regex)
        return compiled

    async def _integrate(
        self,
        spec: FunctionSpec,
        event: dict[str, Any],
        request_id: str,
        binary_accepted: bool,
        own_headers: tuple[tuple[str, str], ...] = (),
    ) -> GatewayResponse:
        """Call the function; the integration timeout does not stop it (as on AWS). A
        proxy answer carries ``own_headers`` (API Gateway's id and trace of the request).

        Lambda gives the invocation a request id of its own, distinct from API
        Gateway's ``requestId`` in the event.
        """
        invocation = self.invoker.invoke(spec, event, self.new_request_id())
        call = await self._call_within(invocation)
        if not call.done():
            return _error(TIMED_OUT, request_id)
        # the failure is read, not raised here: raised, its traceback would hold this
        # frame, which holds the task holding the failure, a cycle keeping the event
        # (megabytes, with a large body) until the garbage collector's next pass
        failure = call.exception()
        if failure is not None:
            log.info("function %s failed for request %s: %s", spec.name, request_id, failure)
            too_large = (
                isinstance(failure, InvocationError) and failure.kind is FailureKind.EVENT_TOO_LARGE
            )
            return _error(REQUEST_TOO_LONG if too_large else BAD_GATEWAY, request_id)
        result = call.result()
        try:
            proxy = parse_proxy_response(result, binary_accepted=binary_accepted)
        except MalformedProxyResponse as exc:
            log.info("malformed proxy response from %s: %s", spec.name, exc)
            return _error(BAD_GATEWAY, request_id)
        except UndecodableProxyBody as exc:
            log.info("proxy response from %s: %s", spec.name, exc)
            return _error(INTERNAL_ERROR, request_id)
        headers = list(proxy.headers)
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/json"))
        headers.append(("x-amzn-RequestId", request_id))
        headers.extend(own_headers)
        return GatewayResponse(proxy.status, tuple(headers), proxy.body)

    async def _invoke(self, view: _View, name: str, request: GatewayRequest) -> GatewayResponse:
        """One invocation with the given event, as Lambda's Invoke (RequestResponse) runs it:
        no integration timeout (the function's own applies), the result or the error."""
        spec = self.state.function_named(name)
        if spec is None:
            arn = f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{name}"
            return _json_response(404, {"message": f"Function not found: {arn}"}, "")
        event: Any = None
        if not request.body_dropped:
            try:
                event = json.loads(request.body or b"{}")
            except ValueError:
                message = {"message": "Could not parse request body into json"}
                return _json_response(400, message, "")
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        answer: dict[str, Any] = {
            "function": spec.name,
            "request_id": request_id,
            "log_group": spec.log_group or f"/aws/lambda/{spec.name}",
            "result": None,
            "error": None,
        }
        if request.body_dropped:  # Lambda measures the payload as sent: the function never runs
            answer["error"] = _lambda_error(event_too_large())
        else:
            try:
                answer["result"] = await self.invoker.invoke(spec, event, request_id)
            except InvocationError as exc:
                answer["error"] = _lambda_error(exc)
        answer["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return _json_response(200, answer, "")

    async def _warm(self, view: _View, name: str, request: GatewayRequest) -> GatewayResponse:
        """Ready the function's workers before a switch (``{"concurrency": N}``): how many
        are ready, or the warm-up's error (the app failed to import, say)."""
        own = self.state.function_named(name)
        if own is None:
            arn = f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{name}"
            return _json_response(404, {"message": f"Function not found: {arn}"}, "")
        # the pool the invokers reach: the alias's version (the function's own without one)
        asked, alias = _warm_request(request.body)
        spec = (self._function(view, f"{own.arn}:{alias}") if alias else None) or own
        if asked is None:
            return _json_response(400, {"message": "concurrency: a whole number >= 1"}, "")
        answer: dict[str, Any] = {"function": spec.name, "asked": asked, "ready": 0, "error": None}
        try:
            answer["ready"] = await self.invoker.warm(spec, asked)
        except InvocationError as exc:
            answer["error"] = _lambda_error(exc)
        return _json_response(200, answer, "")

    async def _call_within(self, invocation: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run the invocation until it ends or the integration timeout passes, whichever
        comes first; the task it runs in, done or (past the timeout) still running.

        A task, a future and a timer: cheaper than ``asyncio.wait`` per request, and
        unlike ``wait_for`` it never cancels the function.
        """
        loop = self._running_loop()
        call = loop.create_task(invocation)
        woken: asyncio.Future[None] = loop.create_future()

        def wake(_: object = None) -> None:
            if not woken.done():
                woken.set_result(None)

        timer = loop.call_later(self.integration_timeout_s, wake)
        call.add_done_callback(wake)
        try:
            await woken
        finally:
            timer.cancel()
            if not call.done():  # past the timeout, or this request was cancelled
                self._let_finish(call)
        return call

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The loop serving requests, asked of asyncio once per loop: on Python 3.11 each
        ask is a ``getpid`` system call (5 % of the gateway's time under load). A loop
        no longer running (stopped or closed) is asked again: another may serve now."""
        loop = self._loop
        if loop is None or not loop.is_running():
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def _let_finish(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(_forget(self._background))


def is_console_path(path: str) -> bool:
    return path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")


def _forget(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: the late failure was already answered with 504

    return done


def _request_source(served: ServedStage, target: StageTarget, resource_path: str) -> RequestSource:
    """Where a request came in, as its proxy event describes it: paths and path
    parameters percent-encoded as the client sent them, as API Gateway passes them."""
    return RequestSource(
        api_id=target.api_id,
        stage=target.stage,
        resource_path=resource_path,
        path=event_path(target.event_path),
        context_path=target.context_path,
        domain_name=target.domain_name,
        path_parameters=path_parameters(resource_path, target.path),
        stage_variables=served.stage_variables,
        binary_media_types=served.binary_media_types,
        account_id=LOCAL_ACCOUNT_ID,
        deployment_id=served.deployment_id,
        domain_prefix=target.domain_prefix,
    )


def _incoming(request: GatewayRequest, body: bytes) -> IncomingRequest:
    return IncomingRequest(
        request.method,
        request.query_string,
        request.headers,
        body,
        request.client_ip,
        request.protocol,
        request.scheme,
        request.local_port,
    )


def _lambda_error(exc: InvocationError) -> dict[str, str]:
    """An invocation's failure as Lambda names it: the handler's exception type and message
    for an unhandled error, else Lambda's own error type."""
    if exc.kind is FailureKind.UNHANDLED:
        kind, _, message = exc.message.partition(": ")
        return {"type": kind, "message": message}
    return {"type": exc.kind.value, "message": exc.message}


def _first_label(domain_name: str) -> str:
    """A custom domain's ``domainPrefix``: its first label."""
    return domain_name.split(".", 1)[0]


def _through_rule(domain: DomainRoute, request: GatewayRequest) -> StageTarget | None:
    """Apply a domain's routing rules, by priority, before its mappings (routing mode
    ROUTING_RULE_THEN_BASE_PATH_MAPPING): the first whose conditions all hold."""
    if not domain.rules:
        return None
    path = request.path
    for rule in domain.rules:
        if rule.headers and not headers_match(rule.headers, request.headers):
            continue
        prefixes = [base_path_prefix(b, path) for b in rule.base_paths] or [""]
        prefix = next((p for p in prefixes if p is not None), None)
        if prefix is None:
            continue
        inner = (path[len(prefix) :] or "/") if rule.strip_base_path else path
        return StageTarget(
            rule.api_id, rule.stage, inner, path, path, domain.name, _first_label(domain.name)
        )
    return None


def _through_mapping(domain: DomainRoute, path: str) -> StageTarget | None:
    """Apply a domain's base path mappings, the longest base path first."""
    for base in sorted(domain.mappings, key=len, reverse=True):
        prefix = base_path_prefix(base, path)
        if prefix is None:
            continue
        api_id, stage = domain.mappings[base]
        inner = path[len(prefix) :] or "/"
        return StageTarget(api_id, stage, inner, path, path, domain.name, _first_label(domain.name))
    return None


def _api_target(path: str, host: str) -> StageTarget | None:
    """``/restapis/<api>/<stage>/_user_request_/<path>`` on the main port."""
    if not path.startswith(API_PREFIX):
        return None
    parts = path[len(API_PREFIX) :].split("/", 3)
    if len(parts) < 3 or parts[2] != USER_REQUEST or not parts[0] or not parts[1]:
        return None
    api_id, stage = parts[0], parts[1]
    inner = "/" + (parts[3] if len(parts) > 3 else "")
    return StageTarget(api_id, stage, inner, inner, f"/{stage}{inner}", host, api_id)


def _not_found(path: str, port: int) -> GatewayResponse:
    message = (
        f"no API at {path}: the local gateway serves "
        f"http://127.0.0.1:{port}/restapis/<api_id>/<stage>/_user_request_/<path>"
    )
    return _json_response(404, {"message": message}, "")


def _json_response(status: int, body: Any, request_id: str) -> GatewayResponse:
    headers = [("Content-Type", "application/json")]
    if request_id:
        headers.append(("x-amzn-RequestId", request_id))
    return GatewayResponse(status, tuple(headers), json.dumps(body).encode())


def _error(kind: tuple[int, str, str], request_id: str) -> GatewayResponse:
    status, error_type, body = kind
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)]
    if request_id:
        headers.append(("x-amzn-RequestId", request_id))
    return GatewayResponse(status, tuple(headers), body.encode(), response_type_of(kind))


# The gateway response type of each of API Gateway's own answers (what a
# GatewayResponse of the RestApi may change); an answer of no type of its own is
# DEFAULT_4XX's or DEFAULT_5XX's.
_RESPONSE_TYPES: dict[tuple[int, str, str], str] = {
    MISSING_TOKEN: "MISSING_AUTHENTICATION_TOKEN",
    FORBIDDEN: "INVALID_API_KEY",
    TIMED_OUT: "INTEGRATION_TIMEOUT",
    REQUEST_TOO_LONG: "REQUEST_TOO_LARGE",
    THROTTLED: "THROTTLED",
    authorizers.UNAUTHORIZED: "UNAUTHORIZED",
    authorizers.EXPLICIT_DENY: "ACCESS_DENIED",
    authorizers.IMPLICIT_DENY: "ACCESS_DENIED",
    authorizers.AUTHORIZER_ERROR: "AUTHORIZER_CONFIGURATION_ERROR",
}


# API Gateway does not let a RestApi change its 413 (docs/limits.md, "Payloads").
_FIXED_RESPONSES = ("REQUEST_TOO_LARGE",)


def response_type_of(kind: tuple[int, str, str]) -> str:
    return _RESPONSE_TYPES.get(kind) or ("DEFAULT_5XX" if kind[0] >= 500 else "DEFAULT_4XX")


def with_gateway_response(
    response: GatewayResponse, responses: Mapping[str, GatewayResponseSpec]
) -> GatewayResponse:
    """API Gateway's own answer as the RestApi's gateway responses shape it: the one of its
    type, else ``DEFAULT_4XX``/``DEFAULT_5XX``; its status, and its headers added."""
    if response.response_type in (None, *_FIXED_RESPONSES) or not responses:
        return response
    family = "DEFAULT_5XX" if response.status >= 500 else "DEFAULT_4XX"
    chosen = responses.get(response.response_type) or responses.get(family)
    if chosen is None:
        return response
    headers = (*response.headers, *chosen.headers)
    return replace(response, status=chosen.status or response.status, headers=headers)


def _mock_answer(mock: MockAnswer, request_id: str) -> GatewayResponse:
    """What a MOCK integration answers: its status, its fixed headers, no body."""
    headers = [("Content-Type", "application/json"), *mock.headers]
    if request_id:
        headers.append(("x-amzn-RequestId", request_id))
        headers.append(("x-amz-apigw-id", extended_request_id(request_id)))
    return GatewayResponse(mock.status, tuple(headers), b"")
