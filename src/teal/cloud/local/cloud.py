"""``LocalCloud``: the embedded local cloud behind :class:`teal.cloud.base.Cloud`.

Stacks go through the engine; domains, mappings, locks and history are
direct operations on the store, each one transaction. Every stack operation
first recovers operations whose process died (see :meth:`Engine.recover`).

:meth:`LocalCloud.ensure_serving` also checks that the gateway serves the
custom domains the command deals with: those it named, and those of the apps
whose stacks it read. A domain whose port another program holds is an error
there, naming the domain and the port; other domains do not concern it.
"""

from __future__ import annotations

import functools
import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teal.cloud.base import (
    AliasState,
    ApiKeyInfo,
    BasePathMapping,
    ChangeSet,
    DeployedStack,
    DomainInfo,
    EventSink,
    FunctionError,
    FunctionNotFound,
    HeldLock,
    HistoryEntry,
    Invocation,
    LockHeld,
    LockOwner,
    LogPage,
    LogQuery,
    PlanSummary,
    RoutingRule,
    SentMessage,
    ServingHealth,
    StackEvent,
    StackRequest,
    StackResult,
    StageRef,
    Traffic,
    TrafficTiming,
    VersionRef,
    Warmed,
    reported,
)
from teal.cloud.local import oplog_tables, projects
from teal.cloud.local.functions import catalog
from teal.cloud.local.functions.log_files import LocalLogs
from teal.cloud.local.functions.sandbox import configured_region
from teal.cloud.local.functions.secrets_store import missing_refs
from teal.cloud.local.gateway import rest_apis
from teal.cloud.local.gateway.lifecycle import UnboundDomain, ensure_gateway, gateway_status
from teal.cloud.local.gateway.own_endpoints import INVOKE_PREFIX, WARM_PREFIX, token_headers
from teal.cloud.local.gateway.traffic import (
    read_peak_concurrency,
    read_traffic,
    read_traffic_since,
    read_version_traffic_since,
)
from teal.cloud.local.model import (
    LOCAL_ACCOUNT_ID,
    LOCAL_ARTIFACT_BUCKET,
    LOCAL_REGION,
    DomainRoute,
    HostSettings,
)
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.stacks.engine import Engine
from teal.cloud.local.stacks.ledger import STACK_TYPE, Clock, utc_now
from teal.cloud.local.stacks.nested import child_name
from teal.cloud.local.stacks.notes import Notes
from teal.cloud.local.stacks.records import StackRecord
from teal.cloud.local.stacks.resources.registry import providers
from teal.cloud.local.store import Store
from teal.cloud.local.triggers import queues
from teal.project.config import DomainSpec
from teal.project.settings import gateway_port
from teal.rules.apigateway import (
    MAPPINGS_ONLY,
    RULES_THEN_MAPPINGS,
    ApiGatewayError,
    normalize_base_path,
)
from teal.rules.labels import APP_TAG
from teal.rules.watch_rules import WatchGuard
from teal.runtime.errors import OperationError, UserError
from teal.runtime.secrets import Reference

INVOKE_TIMEOUT_S = 960.0  # Lambda's longest function timeout (15 minutes), and a margin


class ApiGatewayRefused(OperationError):
    """The local API Gateway refused a direct call (domain or mapping), with AWS's message."""

    def __init__(self, error: ApiGatewayError, where: str) -> None:
        super().__init__(f"{error.code}: {error.message}", where=where)
        self.error = error


class DomainNotServed(OperationError):
    """A custom domain's port is held by another program: its URL would reach that program."""

    def __init__(self, unbound: UnboundDomain) -> None:
        port = unbound.port
        super().__init__(
            f"its port {port} is held by another program ({unbound.reason}), so "
            f"http://127.0.0.1:{port}/ would reach that program, not the local gateway",
            where=f"domain {unbound.domain}",
            hint=(
                f"stop the program listening on 127.0.0.1:{port} (`ss -ltnp 'sport = :{port}'` "
                "names it) and run the command again; `teal local reset` starts the local "
                "cloud afresh (its state deleted), domains on new ports"
            ),
        )
        self.unbound = unbound


def _ignore(_event: StackEvent) -> None:
    """Recovery events of read operations are stored, not streamed."""


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def domain_ports(first: int) -> Iterator[int]:
    """Candidate ports for a new domain: upward from ``first``, skipping busy ones."""
    return (port for port in range(first, 65536) if port_is_free(port))


@dataclass(frozen=True)
class ServedApi:
    id: str
    name: str
    stage: str | None
    endpoint: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "stage": self.stage, "endpoint": self.endpoint}


@dataclass(frozen=True)
class LocalOverview:
    """What the local cloud holds: every RestApi with its stages, every domain."""

    apis: tuple[ServedApi, ...]
    domains: tuple[DomainRoute, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "apis": [api.to_json() for api in self.apis],
            "domains": [
                {
                    "name": d.name,
                    "url": f"http://127.0.0.1:{d.port}/",
                    "port": d.port,
                    "mappings": [
                        {"base_path": base, "api_id": api_id, "stage": stage}
                        for base, (api_id, stage) in sorted(d.mappings.items())
                    ],
                }
                for d in self.domains
            ],
        }


class LocalCloud:
    """The local cloud of one ``$TEAL_HOME`` (one per user, like one AWS account)."""

    name = "local"
    has_change_sets = False  # its engine applies templates directly
    # The gateway takes its request numbers four times a second and writes them once a
    # second (traffic.py): a second's numbers are on disk at most about a second later.
    traffic_timing = TrafficTiming(period_s=1, delay_s=1)

    @functools.cached_property
    def region(self) -> str:
        """Where this command's new stacks are made: the region a deploy to AWS would
        use (``[aws] region``, else the profile's), so the ARNs a function, an
        authorizer or an event sees match what AWS would give them there. The workers
        give a function's SDK the same region (see the sandbox)."""
        host = self._host or HostSettings()
        return host.aws_region or configured_region(host.aws_profile) or LOCAL_REGION

    def __init__(
        self,
        paths: LocalPaths | None = None,
        clock: Clock = utc_now,
        host: HostSettings | None = None,
    ) -> None:
        """``host``: how this machine runs the functions this command deploys (the
        project's settings); None for a command that reads no project."""
        self.paths = paths or LocalPaths.default()
        self._host = host
        self.account_id = LOCAL_ACCOUNT_ID
        self.clock = clock
        self.store = Store(self.paths)
        self.engine = Engine(self.store, clock, lambda: self.region, self.account_id, host)
        # what this command deals with, for ensure_serving: domains named, apps read
        self._domains_used: set[str] = set()
        self._apps_used: set[str] = set()
        self._notes = Notes()  # where the local cloud is not AWS, said once per command
        self.logs = LocalLogs(self.paths)

    def close(self) -> None:
        self.store.close()

    # Artifacts ----------------------------------------------------------------

    @property
    def artifact_bucket(self) -> str:
        return LOCAL_ARTIFACT_BUCKET

    def has_artifact(self, key: str) -> bool:
        return self.store.has_artifact(key)

    def put_artifact(
        self, key: str, data: bytes, progress: Callable[[int], None] | None = None
    ) -> None:
        self.store.put_artifact(key, data)  # a local file write: nothing worth a meter

    def delete_artifact(self, key: str) -> None:
        self.store.delete_artifact(key)

    # Stacks -------------------------------------------------------------------

    def recover(self, on_event: EventSink = _ignore) -> list[str]:
        """Roll back or finish what a dead teal process left in progress."""
        return self.engine.recover(on_event)

    def describe_stack(self, name: str) -> DeployedStack | None:
        self.recover()
        stack = self.engine.stack(name)
        return None if stack is None else self._deployed(stack)

    def list_stacks(self, tag_filter: Mapping[str, str]) -> list[DeployedStack]:
        self.recover()
        return [
            self._deployed(stack)
            for stack in self.engine.stacks()
            if stack.parent is None and all(stack.tags.get(k) == v for k, v in tag_filter.items())
        ]

    def _deployed(self, stack: StackRecord) -> DeployedStack:
        if APP_TAG in stack.tags:
            self._apps_used.add(stack.tags[APP_TAG])
        nested = {}
        for row in self.engine.live_rows(stack.name).values():
            child = (
                self.engine.stack(child_name(row.physical_id)) if row.type == STACK_TYPE else None
            )
            if child is not None:
                nested[row.logical_id] = child.template
        return DeployedStack(
            name=stack.name,
            status=stack.status,
            template=stack.template,
            outputs=stack.outputs,
            tags=stack.tags,
            updated_at=stack.updated_at,
            status_reason=stack.status_reason,
            nested_templates=nested,
        )

    def stack_events(self, name: str) -> list[StackEvent]:
        """Every stored event of the stack, oldest first."""
        return self.engine.events(name)

    def apply_stack(self, request: StackRequest, on_event: EventSink) -> StackResult:
        self.recover(on_event)
        self._notes.say(request.template, providers())
        return self.engine.apply(request, on_event)

    def delete_stack(self, name: str, on_event: EventSink) -> None:
        self.recover(on_event)
        self.engine.delete(name, on_event)

    def change_set(self, request: StackRequest) -> ChangeSet:
        raise NotImplementedError("the local cloud has no change sets")

    # API Gateway --------------------------------------------------------------

    def overview(self) -> LocalOverview:
        with self.store.transaction() as conn:
            rows = rest_apis.api_stages(conn)
            domains = tuple(rest_apis.domain_routes(conn))
        apis = tuple(
            ServedApi(api_id, name, stage, self.endpoint_url(api_id, stage) if stage else None)
            for api_id, name, stage in rows
        )
        return LocalOverview(apis, domains)

    def endpoint_url(self, api_id: str, stage: str) -> str:
        return f"http://127.0.0.1:{gateway_port()}/restapis/{api_id}/{stage}/_user_request_/"

    def api_key(self, key_id: str) -> ApiKeyInfo:
        value = rest_apis.api_key_value(self.store.connection, key_id)
        source = (
            "generated by the local cloud's API Gateway when it created the environment's "
            "ApiKey; callers send it in the x-api-key header"
        )
        return ApiKeyInfo(key_id, value, source if value else "the key no longer exists")

    def ensure_domain(self, spec: DomainSpec, tags: Mapping[str, str]) -> DomainInfo:
        self._domains_used.add(spec.name)
        settings = domain_settings(spec)
        with self.store.transaction() as conn:
            found = rest_apis.get_domain(conn, spec.name)
            if found is None:  # the first app makes it; the apps that share it keep its tags
                record = rest_apis.create_domain(
                    conn, spec.name, dict(tags), domain_ports(gateway_port() + 1), settings
                )
            else:
                record = rest_apis.complete_domain_settings(conn, found, settings)
        return self._domain_info(record, spec.base_path)

    def get_domain(self, name: str) -> DomainInfo | None:
        self._domains_used.add(name)
        with self.store.transaction() as conn:
            record = rest_apis.get_domain(conn, name)
        return None if record is None else self._domain_info(record, "")

    def list_domains(self) -> list[DomainInfo]:
        with self.store.transaction() as conn:
            records = rest_apis.all_domains(conn)
        return [self._domain_info(record, "") for record in records]

    @staticmethod
    def _domain_info(record: rest_apis.DomainRecord, base_path: str) -> DomainInfo:
        path = normalize_base_path(base_path)
        url = f"http://127.0.0.1:{record.port}/" + (f"{path}/" if path else "")
        return DomainInfo(
            record.name,
            url,
            record.tags,
            record.routing_mode != MAPPINGS_ONLY,
            certificate_arn=record.settings.get("certificate_arn"),
            hosted_zone=record.settings.get("hosted_zone"),
            endpoint_type=record.settings.get("endpoint_type"),
        )

    def get_mapping(self, domain: str, base_path: str) -> BasePathMapping | None:
        self._domains_used.add(domain)
        with self.store.transaction() as conn:
            found = rest_apis.get_mapping(conn, domain, base_path)
        if found is None:
            return None
        return BasePathMapping(domain, normalize_base_path(base_path), found[0], found[1])

    def create_mapping(self, mapping: BasePathMapping) -> None:
        self._mapping_call(mapping.domain, rest_apis.create_mapping, mapping)

    def update_mapping(self, mapping: BasePathMapping) -> None:
        self._mapping_call(mapping.domain, rest_apis.update_mapping, mapping)

    def _mapping_call(
        self, domain: str, call: rest_apis.MappingCall, mapping: BasePathMapping
    ) -> None:
        self._domains_used.add(domain)
        try:
            with self.store.transaction() as conn:
                call(conn, mapping.domain, mapping.base_path, mapping.api_id, mapping.stage)
        except ApiGatewayError as exc:
            raise ApiGatewayRefused(exc, where=f"domain {domain}") from exc

    def delete_mapping(self, domain: str, base_path: str) -> None:
        try:
            with self.store.transaction() as conn:
                rest_apis.delete_mapping(conn, domain, base_path)
        except ApiGatewayError as exc:
            raise ApiGatewayRefused(exc, where=f"domain {domain}") from exc

    def mappings_of_api(self, api_id: str) -> list[BasePathMapping]:
        with self.store.transaction() as conn:
            return rest_apis.mappings_to_api(conn, api_id)

    def list_mappings(self, domain: str) -> list[BasePathMapping]:
        with self.store.transaction() as conn:
            return rest_apis.domain_mappings(conn, domain)

    def delete_domain(self, name: str, on_event: EventSink) -> None:
        with self.store.transaction() as conn:
            rest_apis.delete_domain(conn, name)

    # Routing rules ------------------------------------------------------------

    def allow_routing_rules(self, domain: str) -> None:
        with self._refused_as(domain), self.store.transaction() as conn:
            if rest_apis.routing_mode(conn, domain) == MAPPINGS_ONLY:
                rest_apis.set_routing_mode(conn, domain, RULES_THEN_MAPPINGS)

    def list_routing_rules(self, domain: str) -> list[RoutingRule]:
        with self._refused_as(domain), self.store.transaction() as conn:
            return rest_apis.routing_rules(conn, domain)

    def create_routing_rule(self, domain: str, rule: RoutingRule) -> RoutingRule:
        self._domains_used.add(domain)
        with self._refused_as(domain), self.store.transaction() as conn:
            return rest_apis.create_routing_rule(conn, domain, rule)

    def delete_routing_rule(self, domain: str, rule_id: str) -> None:
        try:
            with self.store.transaction() as conn:
                rest_apis.delete_routing_rule(conn, domain, rule_id)
        except ApiGatewayError as exc:
            if exc.code != "NotFoundException":
                raise ApiGatewayRefused(exc, where=f"domain {domain}") from exc

    def rules_of_api(self, api_id: str) -> list[tuple[str, RoutingRule]]:
        with self.store.transaction() as conn:
            return rest_apis.rules_to_api(conn, api_id)

    @staticmethod
    @contextmanager
    def _refused_as(domain: str) -> Iterator[None]:
        """API Gateway's refusals of a direct call, as the error the CLI reports."""
        try:
            yield
        except ApiGatewayError as exc:
            raise ApiGatewayRefused(exc, where=f"domain {domain}") from exc

    # Locks and history --------------------------------------------------------

    def acquire_lock(self, key: str, owner: LockOwner) -> None:
        with self.store.transaction() as conn:
            holder = oplog_tables.lock_holder(conn, key)
            if holder is not None:
                raise LockHeld(key, holder)
            oplog_tables.insert_lock(conn, key, owner)

    def renew_lock(self, key: str, owner: LockOwner) -> bool:
        with self.store.transaction() as conn:
            holder = oplog_tables.lock_holder(conn, key)
            if holder is None or not holder.same_holder(owner):
                return False
            oplog_tables.replace_lock(conn, key, owner.renewed_at(self.clock()))
        return True

    def release_lock(self, key: str, owner: LockOwner) -> None:
        self.break_lock(key, owner)

    def break_lock(self, key: str, holder: LockOwner | None = None) -> LockOwner | None:
        with self.store.transaction() as conn:
            found = oplog_tables.lock_holder(conn, key)
            if found is None or (holder is not None and not found.same_holder(holder)):
                return None
            oplog_tables.delete_lock(conn, key)
        return found

    def list_locks(self) -> list[HeldLock]:
        with self.store.reading() as conn:
            return [HeldLock(key, owner) for key, owner in oplog_tables.all_locks(conn)]

    def record_history(self, app: str, entry: HistoryEntry) -> None:
        with self.store.transaction() as conn:
            oplog_tables.put_entry(conn, app, entry)

    def read_history(self, app: str) -> list[HistoryEntry]:
        with self.store.reading() as conn:
            return oplog_tables.app_history(conn, app)

    # Serving --------------------------------------------------------------------

    def ensure_serving(self) -> None:
        """Start the local gateway in the background unless it runs already, and check
        it serves the domains this command deals with (:class:`DomainNotServed`)."""
        status = ensure_gateway(self.paths, gateway_port())
        for unbound in status.unbound_domains:
            if self._deals_with(unbound.domain):
                raise DomainNotServed(unbound)

    def serving_health(self) -> ServingHealth:
        """The gateway: serving, being restarted by its supervisor, or stopped."""
        return gateway_status(self.paths).health()

    # What functions do ----------------------------------------------------------

    def read_logs(self, query: LogQuery) -> Iterator[LogPage]:
        return self.logs.read(query)

    def missing_references(self, references: Sequence[Reference]) -> list[str]:
        """Those the local secrets store (``teal secrets set``) holds no value for."""
        return missing_refs(self.paths, [r.ref for r in references])

    def record_project(self, environment: str, env: str, root: Path) -> None:
        projects.remember_project(self.paths, environment, env, root)

    def record_plan(self, environment: str, plan: PlanSummary) -> None:
        projects.remember_plan(self.paths, environment, plan)

    def send_message(self, stack: str, queue: str, body: str) -> SentMessage:
        """SQS's SendMessage on the queue the store holds under that ARN (a stand-in for a
        queue of a real account included)."""
        arn = queue if queue.startswith("arn:") else self._queue_arn(stack, queue)
        with self.store.transaction() as conn:
            record = queues.find_queue(conn, arn)
            if record is None:
                raise UserError(
                    f"the local cloud holds no queue {arn}",
                    where=stack,
                    hint="deploy the environment whose consumer reads it first",
                )
            message_id = queues.send_message(conn, record, body, int(time.time() * 1000))
        return SentMessage(record.url, message_id, queues.body_md5(body))

    def _queue_arn(self, stack: str, logical_id: str) -> str:
        row = self.engine.live_rows(stack).get(logical_id)
        if row is None or row.type != "AWS::SQS::Queue":
            raise UserError(
                f"stack {stack} has no queue {logical_id}",
                where=stack,
                hint="deploy the environment whose app declares the queue first",
            )
        return str(row.attributes["Arn"])

    def invoke_function(self, name: str, event: Any) -> Invocation:
        """Through the gateway's invoke endpoint: the workers that serve the requests."""
        self.ensure_serving()
        started_ms = int(time.time() * 1000) - 1000
        body = self._function_call(INVOKE_PREFIX, name, event, "invoking")
        error = body.get("error")
        request_id = str(body["request_id"])
        logs = self.logs.invocation_log(str(body["log_group"]), request_id, started_ms)
        report = reported(logs)  # the handler's own time, as Lambda reports it
        return Invocation(
            function_name=name,
            request_id=request_id,
            result=body.get("result"),
            error=FunctionError(str(error["type"]), str(error["message"])) if error else None,
            duration_ms=report[1] if report else float(body.get("duration_ms") or 0.0),
            logs=logs,
        )

    def _function_call(self, prefix: str, name: str, payload: Any, doing: str) -> Any:
        """A call of the gateway's endpoint ``prefix`` for function ``name``: its answer,
        or teal's error for a function not deployed or a call that failed."""
        answer = _post_json(gateway_port(), f"{prefix}{name}", payload, token_headers(self.paths))
        if answer.status == 404:
            raise FunctionNotFound(
                f"function {name} is not deployed in the local cloud",
                where=name,
                hint="deploy the environment first (teal deploy), or check the name",
            )
        if answer.status != 200:
            raise OperationError(f"{doing} {name} failed: {answer.body.get('message')}")
        return answer.body

    def warm_function(self, name: str, concurrency: int, alias: str) -> Warmed:
        """Through the gateway's warm endpoint: the pool of workers that serve the requests
        starts what it lacks of ``concurrency`` (at most its cap of workers at once). The
        gateway runs already (:meth:`ensure_serving`): functions are warmed from threads."""
        asked = {"concurrency": concurrency, "alias": alias}
        body = self._function_call(WARM_PREFIX, name, asked, "warming")
        error = body.get("error")
        return Warmed(
            function_name=name,
            asked=concurrency,
            ready=int(body.get("ready") or 0),
            error=FunctionError(str(error["type"]), str(error["message"])) if error else None,
        )

    def peak_concurrency(self, names: Sequence[str], window_s: int) -> dict[str, int]:
        """From the gateway's counts (no gateway needs to run to read them)."""
        return read_peak_concurrency(self.paths, names, window_s)

    def traffic(self, stages: Sequence[StageRef], window_s: int) -> list[Traffic]:
        """From the gateway's traffic numbers (no gateway needs to run to read them)."""
        return read_traffic(self.paths, stages, window_s)

    def guard_watch(self, spec: DomainSpec, guard: WatchGuard) -> None:
        """Nothing to set up: the gateway judges the guards the history holds
        (:mod:`teal.cloud.local.gateway.watch_judge`) once their command is gone."""

    def unguard_watch(self, guard: WatchGuard) -> None:
        """Nothing to remove: the watch's verdict in the history ends it."""

    def traffic_since(self, stages: Sequence[StageRef], since: datetime) -> list[Traffic]:
        return read_traffic_since(self.paths, stages, since.timestamp())

    def version_traffic_since(self, versions: Sequence[VersionRef], since: datetime) -> Traffic:
        wanted = [(v.function, v.version) for v in versions]
        return read_version_traffic_since(self.paths, wanted, since.timestamp())

    def function_aliases(self, functions: Sequence[str], alias: str) -> dict[str, AliasState]:
        found: dict[str, AliasState] = {}
        with self.store.transaction() as conn:
            for function in functions:
                for each in catalog.aliases_of(conn, function):
                    if each.name == alias:
                        found[function] = _alias_state(each)
        return found

    def _deals_with(self, domain: str) -> bool:
        if domain in self._domains_used:
            return True
        with self.store.transaction() as conn:
            record = rest_apis.get_domain(conn, domain)
        return record is not None and record.tags.get(APP_TAG) in self._apps_used


def _alias_state(alias: catalog.Alias) -> AliasState:
    canary = next(iter(alias.weights.items()), None)
    if canary is None:
        return AliasState(str(alias.version))
    return AliasState(str(alias.version), str(canary[0]), round(canary[1] * 100, 2))


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, Any]


def _post_json(port: int, path: str, payload: Any, token: Mapping[str, str]) -> _Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=INVOKE_TIMEOUT_S)
    try:
        headers = {"Content-Type": "application/json", **token}
        connection.request("POST", path, json.dumps(payload), headers)
        response = connection.getresponse()
        return _Answer(response.status, json.loads(response.read() or b"{}"))
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise OperationError(
            f"the local gateway on port {port} did not answer: {exc}",
            where="local gateway",
            hint="teal local status says whether it runs; teal local stop, then try again",
        ) from exc
    finally:
        connection.close()


if TYPE_CHECKING:
    from teal.cloud.base import Cloud

    def _conforms(cloud: LocalCloud) -> Cloud:
        """mypy checks here that LocalCloud implements every method of the Cloud seam."""
        return cloud


def domain_settings(spec: DomainSpec) -> dict[str, str]:
    """What a domain is made with, as API Gateway would keep it: every teal domain is
    regional; a certificate and a hosted zone when [domain] names them."""
    given = {"certificate_arn": spec.certificate_arn, "hosted_zone": spec.hosted_zone}
    return {"endpoint_type": "REGIONAL"} | {k: v for k, v in given.items() if v}
