"""What the console's pages show, read from the local cloud's own records.

The console is the local cloud's, as the AWS console is AWS's: it reads the
stacks (their teal tags and outputs say which app, env and extra each one
is), the stages' deployment snapshots (routes, functions), the domains and
their mappings, the history, the traffic numbers and the log files, and
nothing of a project folder. The views are frozen dataclasses built by pure
functions (:func:`app_views`, :func:`requests_of`) from facts a
:class:`ConsoleReader` gathers, so the pages' data can be tested without a
gateway.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from teal.cloud.base import (
    AliasState,
    HistoryEntry,
    LogQuery,
    PlanSummary,
    StageRef,
    Traffic,
    last_domain_move,
    rollback_target,
)
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.functions.catalog import split_qualifier
from teal.cloud.local.gateway import rest_apis
from teal.cloud.local.gateway.supervision import Supervision, read_supervision
from teal.cloud.local.gateway.traffic import read_traffic
from teal.cloud.local.model import DomainRoute, RouteIntegration, ServingState
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.projects import last_plan, project_of
from teal.cloud.local.stacks import stack_tables
from teal.cloud.local.stacks.ledger import Ledger
from teal.project.package import project_sources
from teal.rules.labels import (
    APP_TAG,
    ENV_TAG,
    ENVIRONMENT_TAG,
    EXTRA_TAG,
    REST_API_OUTPUT,
    RETIRING_API_OUTPUT,
    STAGE_OUTPUT,
)
from teal.rules.lambda_logs import LogLine, app_function, assemble
from teal.template.functions import environment_log_group
from teal.template.versions import ALIAS_NAME

TRAFFIC_WINDOWS_S = (60, 300)  # the last minute, the last 5 minutes
LOGS_SINCE_S = 3600
LOG_LINES = 2000
_GENERATION = re.compile(r"^RestApi(?P<n>[0-9]*)$")


# ---------------------------------------------------------------- facts


@dataclass(frozen=True)
class StackFacts:
    """One environment's stack as the store has it, with what its stage serves."""

    name: str
    status: str
    status_reason: str | None
    tags: Mapping[str, str]
    outputs: Mapping[str, str]
    api_logical_id: str | None  # the RestApi's logical id: RestApi, RestApi1...
    updated_at: datetime | None
    routes: tuple[RouteIntegration, ...] = ()
    functions: tuple[str, ...] = ()  # Lambda's names, of every API generation
    aliases: Mapping[str, AliasState] = field(default_factory=dict)  # by Lambda's names


@dataclass(frozen=True)
class DomainFacts:
    route: DomainRoute
    app: str | None  # the teal:app tag the domain was created with


@dataclass(frozen=True)
class TrafficPair:
    """A stage's numbers over the last minute and the last 5 minutes."""

    minute: Traffic
    five_minutes: Traffic


# ---------------------------------------------------------------- views


@dataclass(frozen=True)
class RouteView:
    path: str
    method: str
    function: str  # the app's name of the function ("" for a MOCK answer)
    access: str  # "open", "API key", "authorizer (CUSTOM)"...


@dataclass(frozen=True)
class EnvironmentView:
    name: str
    app: str
    env: str
    extra: str | None
    status: str
    status_reason: str | None
    updated_at: datetime | None
    api_id: str | None
    stage: str | None
    api_logical_id: str | None
    endpoint: str | None
    live_on: tuple[str, ...]  # the domains that serve it
    routes: tuple[RouteView, ...]
    functions: tuple[str, ...]  # the app's names
    traffic: TrafficPair | None
    retiring_api_id: str | None = None
    # each function's alias (by the app's name): its version, and a canary's share
    versions: Mapping[str, AliasState] = field(default_factory=dict)

    @property
    def canaries(self) -> dict[str, AliasState]:
        """The functions whose alias sends a share to another version: a canary runs."""
        return {name: state for name, state in self.versions.items() if state.canary_version}

    @property
    def live(self) -> bool:
        return bool(self.live_on)

    @property
    def generation(self) -> int | None:
        """The API generation: 0 for ``RestApi``, n for ``RestApi<n>`` (each replacement)."""
        found = _GENERATION.match(self.api_logical_id or "")
        if found is None:
            return None
        return int(found.group("n") or 0)

    @property
    def api_ids(self) -> tuple[str, ...]:
        return tuple(a for a in (self.api_id, self.retiring_api_id) if a)


@dataclass(frozen=True)
class MappingView:
    """A base path of a domain and whom it serves, whichever app that is."""

    base_path: str  # "/" for the root, "/shop" under one
    app: str | None  # None: no environment holds the API
    environment: str | None
    api_id: str


@dataclass(frozen=True)
class DomainView:
    name: str
    url: str
    base_paths: tuple[str, ...]
    live: str | None  # the environment of this app the domain serves (its first base path)
    previous: str | None  # where a rollback goes: the one served before the last switch
    preview: str | None = None  # the environment its teal-preview routing rule serves
    # every base path, the other apps' sharing the domain too
    mappings: tuple[MappingView, ...] = ()


@dataclass(frozen=True)
class AppView:
    name: str
    environments: tuple[EnvironmentView, ...]
    domains: tuple[DomainView, ...]
    history: tuple[HistoryEntry, ...] = ()

    def environment(self, name: str) -> EnvironmentView | None:
        return next((e for e in self.environments if e.name == name), None)

    def domain(self, name: str) -> DomainView | None:
        return next((d for d in self.domains if d.name == name), None)

    def route_table(self) -> list[tuple[str, str, dict[str, str]]]:
        """(path, method, {environment: function}) for every route any environment serves:
        what blue and green each answer, side by side."""
        table: dict[tuple[str, str], dict[str, str]] = {}
        for environment in self.environments:
            for route in environment.routes:
                table.setdefault((route.path, route.method), {})[environment.name] = (
                    route.function or "(MOCK)"
                )
        return [(path, method, table[(path, method)]) for path, method in sorted(table)]


@dataclass(frozen=True)
class RequestLog:
    """The lines of one request (or of none: ``request_id`` None), and whether it failed."""

    request_id: str | None
    started_ms: int
    lines: tuple[LogLine, ...]
    failed: bool
    summary: str  # the error's last line when it failed, else the first line

    @property
    def anchor(self) -> str:
        return f"request-{self.request_id or 'none'}"


@dataclass(frozen=True)
class FunctionLogs:
    environment: str
    function: str
    since_ms: int
    requests: tuple[RequestLog, ...]  # newest first

    @property
    def failures(self) -> tuple[RequestLog, ...]:
        return tuple(r for r in self.requests if r.failed)


# ---------------------------------------------------------------- building views


def app_views(
    stacks: Sequence[StackFacts],
    domains: Sequence[DomainFacts],
    traffic: Mapping[tuple[str, str], TrafficPair],
    histories: Mapping[str, Sequence[HistoryEntry]],
    port: int,
) -> list[AppView]:
    """Every app with environments or a domain, by name."""
    envs = [_environment_view(s, domains, traffic, port) for s in stacks if APP_TAG in s.tags]
    apps = sorted({e.app for e in envs} | {d.app for d in domains if d.app})
    views = []
    for app in apps:
        own = tuple(e for e in envs if e.app == app)
        history = tuple(histories.get(app, ()))
        # a domain the app made, or one it shares with the app that made it
        served = tuple(
            _domain_view(d.route, own, history, envs)
            for d in domains
            if d.app == app or _serves_any(d.route, own)
        )
        views.append(AppView(app, own, served, history))
    return views


def _environment_view(
    stack: StackFacts,
    domains: Sequence[DomainFacts],
    traffic: Mapping[tuple[str, str], TrafficPair],
    port: int,
) -> EnvironmentView:
    api_id = stack.outputs.get(REST_API_OUTPUT)
    stage = stack.outputs.get(STAGE_OUTPUT)
    retiring = stack.outputs.get(RETIRING_API_OUTPUT)
    apis = {a for a in (api_id, retiring) if a}
    live_on = tuple(
        d.route.name
        for d in domains
        if any(mapped in apis for mapped, _ in d.route.mappings.values())
    )
    endpoint = (
        f"http://127.0.0.1:{port}/restapis/{api_id}/{stage}/_user_request_/"
        if api_id and stage
        else None
    )
    functions = sorted({app_function(stack.name, name) for name in stack.functions})
    return EnvironmentView(
        name=stack.name,
        app=stack.tags[APP_TAG],
        env=stack.tags.get(ENV_TAG, ""),
        extra=stack.tags.get(EXTRA_TAG) or None,
        status=stack.status,
        status_reason=stack.status_reason,
        updated_at=stack.updated_at,
        api_id=api_id,
        stage=stage,
        api_logical_id=stack.api_logical_id,
        endpoint=endpoint,
        live_on=live_on,
        routes=tuple(_route_view(stack.name, r) for r in stack.routes),
        functions=tuple(functions),
        traffic=traffic.get((api_id, stage)) if api_id and stage else None,
        retiring_api_id=retiring,
        versions={app_function(stack.name, name): state for name, state in stack.aliases.items()},
    )


def _route_view(environment: str, route: RouteIntegration) -> RouteView:
    function = ""
    if route.function_arn:
        # the integration invokes the function's alias: the name is the ARN's, unqualified
        unqualified, _ = split_qualifier(route.function_arn)
        function = app_function(environment, unqualified.rsplit(":", 1)[-1])
    access = "open"
    if route.authorization != "NONE":
        access = f"authorizer ({route.authorization})"
    if route.api_key_required:
        access = "API key" if access == "open" else f"{access} + API key"
    return RouteView(route.resource_path, route.http_method, function, access)


def _serves_any(route: DomainRoute, environments: Iterable[EnvironmentView]) -> bool:
    return any(api in e.api_ids for e in environments for api, _ in route.mappings.values())


def _domain_view(
    route: DomainRoute,
    environments: Sequence[EnvironmentView],
    history: Sequence[HistoryEntry],
    everyone: Sequence[EnvironmentView],
) -> DomainView:
    """The domain as one app sees it (``environments``: the app's own; ``everyone``:
    every app's, to say who serves the other base paths)."""
    bases = sorted(route.mappings)
    served = (
        e.name for base in bases for e in environments if route.mappings[base][0] in e.api_ids
    )
    previewed = (e.name for r in route.rules for e in environments if r.api_id in e.api_ids)
    return DomainView(
        route.name,
        f"http://127.0.0.1:{route.port}/",
        tuple(bases),
        next(served, None),
        rollback_target(last_domain_move(history, route.name)),
        next(previewed, None),
        tuple(_mapping_view(base, route.mappings[base][0], everyone) for base in bases),
    )


def _mapping_view(base_path: str, api_id: str, everyone: Sequence[EnvironmentView]) -> MappingView:
    holder = next((e for e in everyone if api_id in e.api_ids), None)
    return MappingView(
        f"/{base_path}" if base_path else "/",
        holder.app if holder else None,
        holder.name if holder else None,
        api_id,
    )


def as_seen(history: Sequence[HistoryEntry], running: set[str]) -> tuple[HistoryEntry, ...]:
    """A ``started`` entry whose operation holds no lock any more was interrupted."""
    return tuple(
        e.ended("interrupted") if e.state == "started" and e.id not in running else e
        for e in history
    )


def requests_of(lines: Sequence[LogLine]) -> list[RequestLog]:
    """The lines grouped by request, newest request first; lines outside any request
    (a module printing at import, say) form groups of their own."""
    groups: dict[str, list[LogLine]] = {}
    order: list[str] = []
    for line in lines:
        key = line.request_id or f"outside:{line.stream}"
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(line)
    found = [_request_log(groups[key]) for key in order]
    found.sort(key=lambda r: r.started_ms, reverse=True)
    return found


def _request_log(lines: list[LogLine]) -> RequestLog:
    failures = [line for line in lines if line.failed]
    if failures:
        summary = failures[-1].message.rstrip().splitlines()[-1]
    else:
        readable = [line for line in lines if not line.is_lambda_line]
        summary = (readable or lines)[0].message.splitlines()[0] if lines else ""
    return RequestLog(
        lines[0].request_id, lines[0].timestamp_ms, tuple(lines), bool(failures), summary
    )


# ---------------------------------------------------------------- reading the store


@dataclass
class ConsoleReader:
    """Reads the facts from one ``$TEAL_HOME`` (in the gateway process, off its loop)."""

    paths: LocalPaths
    port: int
    state: ServingState  # the gateway's own read side: stages and domains
    _cloud: LocalCloud | None = field(default=None, init=False)

    @property
    def cloud(self) -> LocalCloud:
        if self._cloud is None:
            self._cloud = LocalCloud(self.paths)
        return self._cloud

    def close(self) -> None:
        if self._cloud is not None:
            self._cloud.close()

    def restarts(self) -> Supervision | None:
        """The supervisor's account of the gateway, once it restarted it (how often, when
        last and why); None while it never had to."""
        found = read_supervision(self.paths)
        return found if found is not None and found.restarts else None

    def apps(self, now: float | None = None) -> list[AppView]:
        stacks = self._stacks()
        domains = self._domains()
        traffic = self._traffic(stacks, time.time() if now is None else now)
        histories = {
            app: self._history(app)
            for app in {s.tags.get(APP_TAG) for s in stacks} | {d.app for d in domains}
            if app
        }
        return app_views(stacks, domains, traffic, histories, self.port)

    def app(self, name: str) -> AppView | None:
        return next((a for a in self.apps() if a.name == name), None)

    def last_plans(self, app: AppView) -> dict[str, PlanSummary]:
        """The latest plan recorded for each environment of the app that has one."""
        found = {e.name: last_plan(self.paths, e.name) for e in app.environments}
        return {name: plan for name, plan in found.items() if plan is not None}

    def project_root(self, environment: str) -> Path | None:
        record = project_of(self.paths, environment)
        return record.root if record is not None else None

    def function_logs(
        self, environment: str, function: str, now: float | None = None
    ) -> FunctionLogs:
        since_ms = int(((time.time() if now is None else now) - LOGS_SINCE_S) * 1000)
        query = LogQuery(environment_log_group(environment), since_ms)
        pages = (page.events for page in self.cloud.read_logs(query))
        root = self.project_root(environment)
        sources = project_sources(root) if root is not None else None
        lines = assemble(environment, pages, function=function, limit=LOG_LINES, sources=sources)
        return FunctionLogs(environment, function, since_ms, tuple(requests_of(lines)))

    def _stacks(self) -> list[StackFacts]:
        facts = []
        for stack in Ledger(self.cloud.store).stacks():
            if stack.parent is not None or APP_TAG not in stack.tags:
                continue
            api_id, stage = stack.outputs.get(REST_API_OUTPUT), stack.outputs.get(STAGE_OUTPUT)
            served = self.state.stage(api_id, stage) if api_id and stage else None
            facts.append(
                StackFacts(
                    name=stack.name,
                    status=stack.status,
                    status_reason=stack.status_reason,
                    tags=stack.tags,
                    outputs=stack.outputs,
                    api_logical_id=_output_ref(stack.template, REST_API_OUTPUT),
                    updated_at=stack.updated_at,
                    routes=served.routes if served is not None else (),
                    functions=(functions := self._functions(stack.name)),
                    aliases=self.cloud.function_aliases(functions, ALIAS_NAME),
                )
            )
        return facts

    def _functions(self, environment: str) -> tuple[str, ...]:
        """Lambda's names of the functions the environment's stacks (nested ones too) hold."""
        with self.cloud.store.reading() as conn:
            return stack_tables.tagged_functions(conn, ENVIRONMENT_TAG, environment)

    def _domains(self) -> list[DomainFacts]:
        with self.cloud.store.reading() as conn:
            tags = rest_apis.domain_tags(conn)
        return [DomainFacts(r, tags.get(r.name, {}).get(APP_TAG)) for r in self.state.domains()]

    def _traffic(
        self, stacks: Sequence[StackFacts], now: float
    ) -> dict[tuple[str, str], TrafficPair]:
        stages = [
            StageRef(s.outputs[REST_API_OUTPUT], s.name, s.outputs[STAGE_OUTPUT])
            for s in stacks
            if s.outputs.get(REST_API_OUTPUT) and s.outputs.get(STAGE_OUTPUT)
        ]
        if not stages:
            return {}
        minute, five = (read_traffic(self.paths, stages, w, now) for w in TRAFFIC_WINDOWS_S)
        return {
            (s.api_id, s.stage): TrafficPair(m, f)
            for s, m, f in zip(stages, minute, five, strict=True)
        }

    def _history(self, app: str) -> list[HistoryEntry]:
        running = {
            held.owner.operation_id
            for held in self.cloud.list_locks()
            if held.owner.operation_id is not None
        }
        return list(as_seen(self.cloud.read_history(app), running))


def _output_ref(template: Mapping[str, object], output: str) -> str | None:
    """The logical id an output's ``Ref`` names (the RestApi's, for ``RestApiId``)."""
    outputs = template.get("Outputs")
    declared = outputs.get(output) if isinstance(outputs, dict) else None
    value = declared.get("Value") if isinstance(declared, dict) else None
    ref = value.get("Ref") if isinstance(value, dict) else None
    return ref if isinstance(ref, str) else None
