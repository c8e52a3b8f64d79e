"""The Cloud seam: everything deploy and blue-green need from a cloud.

``teal.ops.deploy`` and ``teal.ops.bluegreen`` talk to this protocol only; the
embedded local cloud and the boto3 cloud both implement it, so a blue-green
rule is written once. Results are plain frozen dataclasses; failures are the
typed errors below.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from teal.project.config import DomainSpec, Target
from teal.rules.lambda_logs import LogEvent
from teal.rules.watch_rules import WatchGuard
from teal.runtime.errors import OperationError, UserError
from teal.runtime.secrets import Reference
from teal.template.synth import ARTIFACT_BUCKET
from teal.template.types import Template

# Stack statuses, spelled as CloudFormation spells them.
CREATE_COMPLETE = "CREATE_COMPLETE"
UPDATE_COMPLETE = "UPDATE_COMPLETE"
ROLLBACK_COMPLETE = "ROLLBACK_COMPLETE"
UPDATE_ROLLBACK_COMPLETE = "UPDATE_ROLLBACK_COMPLETE"
DELETE_COMPLETE = "DELETE_COMPLETE"

# A stack in one of these states serves and can be updated.
STABLE_STATUSES = frozenset({CREATE_COMPLETE, UPDATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE})


@dataclass(frozen=True)
class StackEvent:
    """One resource status change, as CloudFormation's stack events report it."""

    timestamp: datetime
    stack_name: str
    logical_id: str
    resource_type: str
    status: str
    reason: str | None = None
    physical_id: str | None = None

    @property
    def failed(self) -> bool:
        return self.status.endswith("_FAILED")


EventSink = Callable[[StackEvent], None]


@dataclass(frozen=True)
class StackRequest:
    """What to apply: the main template, its parameters and the stack's tags.

    Nested stack templates and code zips are put as artifacts beforehand
    (:meth:`Cloud.put_artifact`) and referenced from the template.
    """

    name: str
    template: Template
    parameters: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_environment(cls, target: Target, template: Template, bucket: str) -> StackRequest:
        """An environment's stack: what ``teal deploy`` applies and ``teal plan`` previews
        alike, so that the two cannot drift apart."""
        parameters = {ARTIFACT_BUCKET: bucket}
        return cls(target.environment, template, parameters, target.tags())


@dataclass(frozen=True)
class DeployedStack:
    """A stack as the cloud has it now: read once, then decided upon."""

    name: str
    status: str
    template: Template
    outputs: Mapping[str, str]
    tags: Mapping[str, str]
    updated_at: datetime | None = None
    status_reason: str | None = None
    # Templates of nested stacks, by the logical id of their
    # AWS::CloudFormation::Stack resource in ``template``.
    nested_templates: Mapping[str, Template] = field(default_factory=dict)

    @property
    def is_stable(self) -> bool:
        return self.status in STABLE_STATUSES


@dataclass(frozen=True)
class StackResult:
    name: str
    status: str
    outputs: Mapping[str, str]
    events: tuple[StackEvent, ...] = ()


@dataclass(frozen=True)
class ChangeSetRow:
    """One row of a change set, with CloudFormation's own Replacement column."""

    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str | None  # "True" | "False" | "Conditional", None for Add/Remove
    physical_id: str | None = None
    scope: tuple[str, ...] = ()

    @property
    def replaces(self) -> bool:
        return self.replacement in ("True", "Conditional")


@dataclass(frozen=True)
class ChangeSet:
    """What applying a template would change, as CloudFormation computed it."""

    stack: str
    action: Literal["create", "update", "noop"]
    changes: tuple[ChangeSetRow, ...]

    @property
    def replacements(self) -> tuple[ChangeSetRow, ...]:
        return tuple(change for change in self.changes if change.replaces)


@dataclass(frozen=True)
class DomainInfo:
    name: str
    url: str  # where clients reach it: https://name/ on AWS, a stable loopback URL locally
    tags: Mapping[str, str] = field(default_factory=dict)
    # its routing mode lets routing rules route (before the mappings, or alone): a domain
    # that never had one routes by base path mappings only, and has no preview to read
    rules_route: bool = False
    # What the domain was made with, compared with a new app's [domain] before it shares it
    # (None: not known, as for a domain made before teal recorded it).
    certificate_arn: str | None = None
    hosted_zone: str | None = None
    endpoint_type: str | None = None  # REGIONAL (teal's) or EDGE


@dataclass(frozen=True)
class BasePathMapping:
    domain: str
    base_path: str  # "" is the root mapping
    api_id: str
    stage: str


DEFAULT_LEASE_S = 300.0  # a crashed holder on another machine blocks others this long


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lock, for how long, and how to tell whether they still do.

    A lock is a lease: the holder renews it while its operation runs, so one
    whose holder crashed on another machine frees itself once ``lease_s`` has
    passed since ``renewed``. On the holder's own host a lock frees itself as
    soon as its process (``pid`` started at ``process_started``) is gone.
    ``token`` tells holders apart when user, host and pid are alike;
    ``operation_id`` is the history entry of the operation holding the lock.
    """

    user: str
    host: str
    pid: int
    operation: str
    since: datetime
    token: str = ""
    process_started: float | None = None
    lease_s: float = DEFAULT_LEASE_S
    renewed: datetime | None = None  # the last renewal, on the reader's clock
    operation_id: str | None = None
    app: str | None = None

    @property
    def last_renewed(self) -> datetime:
        return self.renewed or self.since

    def expires(self) -> datetime:
        return self.last_renewed + timedelta(seconds=self.lease_s)

    def same_holder(self, other: LockOwner) -> bool:
        """The same lock-taking, whatever renewals happened since."""
        if self.token or other.token:
            return self.token == other.token
        return (self.user, self.host, self.pid, self.since) == (
            other.user,
            other.host,
            other.pid,
            other.since,
        )

    def renewed_at(self, when: datetime) -> LockOwner:
        return replace(self, renewed=when)

    def describe(self) -> str:
        return (
            f"{self.operation} by {self.user}@{self.host} (pid {self.pid}) "
            f"since {self.since.isoformat(timespec='seconds')}"
        )

    def to_record(self) -> dict[str, Any]:
        """The one stored shape of a lock owner, in every cloud."""
        return {
            "user": self.user,
            "host": self.host,
            "pid": self.pid,
            "operation": self.operation,
            "since": self.since.isoformat(),
            "token": self.token,
            "process_started": self.process_started,
            "lease_s": self.lease_s,
            "renewed": self.renewed.isoformat() if self.renewed else None,
            "operation_id": self.operation_id,
            "app": self.app,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> LockOwner:
        renewed = data.get("renewed")
        started = data.get("process_started")
        return cls(
            user=str(data["user"]),
            host=str(data["host"]),
            pid=int(data["pid"]),
            operation=str(data["operation"]),
            since=datetime.fromisoformat(str(data["since"])),
            token=str(data.get("token") or ""),
            process_started=float(started) if started is not None else None,
            lease_s=float(data.get("lease_s") or DEFAULT_LEASE_S),
            renewed=datetime.fromisoformat(str(renewed)) if renewed else None,
            operation_id=data.get("operation_id"),
            app=data.get("app"),
        )


@dataclass(frozen=True)
class HeldLock:
    key: str
    owner: LockOwner


# switched-back: a watched switch that the traffic after it undid (teal.ops.watch);
# preview: a domain's preview rule set or ended (teal.ops.preview).
Action = Literal[
    "deploy",
    "switch",
    "rollback",
    "switched-back",
    "preview",
    "delete",
    "unlock",
    # a canary deploy's moves of the functions' aliases (teal.ops.canary)
    "canary-started",
    "canary-promoted",
    "canary-rolled-back",
]
# started: written before the operation changes anything; done/failed: its end;
# interrupted: its process died before the end (found when its lock was broken).
EntryState = Literal["started", "done", "failed", "interrupted"]
_ENTRY_KEYS = frozenset({"id", "time", "user", "action", "environment", "from", "to", "state"})


def new_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class HistoryEntry:
    """One deploy, switch, rollback, delete or broken lock, kept in the cloud.

    An operation writes its entry twice, under one ``id``: ``started`` before it
    changes anything, then ``done`` or ``failed``; so the history knows about an
    operation whose process died half-way.
    """

    time: datetime
    user: str
    action: Action
    environment: str
    from_: str | None = None
    to: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_id)
    state: EntryState = "done"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat(timespec="seconds"),
            "user": self.user,
            "action": self.action,
            "environment": self.environment,
            "from": self.from_,
            "to": self.to,
            "state": self.state,
            **dict(self.details),
        }

    def to_record(self) -> dict[str, Any]:
        """The one stored shape of an entry, in every cloud (full time, for ordering)."""
        return {**self.to_json(), "time": self.time.isoformat()}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> HistoryEntry:
        details = data.get("details")  # an older local shape kept details apart
        rest = dict(details) if isinstance(details, Mapping) else {}
        rest.update({k: v for k, v in data.items() if k not in _ENTRY_KEYS and k != "details"})
        return cls(
            time=datetime.fromisoformat(str(data["time"])),
            user=str(data["user"]),
            action=data["action"],
            environment=str(data["environment"]),
            from_=data.get("from"),
            to=data.get("to"),
            details=rest,
            id=str(data.get("id") or new_id()),
            state=data.get("state") or "done",
        )

    def ended(self, state: EntryState, **changes: Any) -> HistoryEntry:
        return replace(self, state=state, **changes)


# The history's entries that move a domain to another environment: a switch, a rollback,
# and a watch's automatic switch back.
DOMAIN_MOVES = ("switch", "rollback", "switched-back")


def last_domain_move(history: Sequence[HistoryEntry], domain: str) -> HistoryEntry | None:
    """The last move of a domain that did not fail (a failed one left it where it was)."""
    return next(
        (
            e
            for e in reversed(history)
            if e.action in DOMAIN_MOVES
            and e.details.get("domain") == domain
            and e.state != "failed"
        ),
        None,
    )


def rollback_target(last: HistoryEntry | None) -> str | None:
    """Where ``teal rollback`` sends the domain after this move: where it pointed before
    the last switch. None when there is no way back: no switch, a switch whose effect is
    unknown (interrupted, unsettled), or a move that undid the last switch already (a
    rollback, a watch's switch back): going back again would serve once more what the
    user or the watch abandoned."""
    if last is None or last.action != "switch" or last.state != "done":
        return None
    return last.from_


# -- what functions do: their logs, one invocation, the traffic of a stage ---------


@dataclass(frozen=True)
class LogQuery:
    """The events of one log group from ``start_ms`` (inclusive) to ``end_ms`` (exclusive)."""

    group: str
    start_ms: int
    end_ms: int | None = None


@dataclass(frozen=True)
class LogPage:
    """One page of a log read: what one call to the cloud brought back, oldest first."""

    events: tuple[LogEvent, ...]


@dataclass(frozen=True)
class FunctionError:
    """Why an invocation returned no result: Lambda's ``errorType`` and ``errorMessage``."""

    type: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


@dataclass(frozen=True)
class Invocation:
    """One synchronous invocation of a function, as Lambda's Invoke answers it."""

    function_name: str
    request_id: str
    result: Any  # the handler's return value (None when it failed)
    error: FunctionError | None
    duration_ms: float
    logs: str  # the invocation's log lines, at most Lambda's tail (the last 4 KB)


@dataclass(frozen=True)
class Warmed:
    """What warming one function did (:meth:`Cloud.warm_function`): how many of its
    execution environments ran the warm-up and are ready, or why the warm-up failed."""

    function_name: str
    asked: int
    ready: int
    error: FunctionError | None = None


@dataclass(frozen=True)
class PlanSummary:
    """What a plan said of an environment, as ``teal plan`` prints it."""

    at: str  # ISO 8601, UTC
    by: str  # "teal plan" or "teal deploy"
    action: str  # create, update, replace, noop
    replace: bool  # the API must be replaced
    reasons: tuple[str, ...]  # why (API Gateway's rules an update in place would break)
    notes: tuple[str, ...]  # what the changes mean for the app
    steps: tuple[str, ...] = ()  # what deploy would do, in order

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanSummary:
        return cls(
            str(data["at"]),
            str(data["by"]),
            str(data["action"]),
            bool(data["replace"]),
            tuple(str(r) for r in data.get("reasons") or ()),
            tuple(str(n) for n in data.get("notes") or ()),
            tuple(str(s) for s in data.get("steps") or ()),
        )


@dataclass(frozen=True)
class SentMessage:
    """A message SQS took: its queue, its id and the MD5 of its body, as SendMessage answers."""

    queue_url: str
    message_id: str
    md5_of_body: str


# Lambda's tail of an invocation's log (LogType=Tail): the last 4 KB.
LOG_TAIL_BYTES = 4096
_REPORT_LINE = re.compile(r"REPORT RequestId: (?P<id>\S+)\s+Duration: (?P<ms>[0-9.]+) ms")


def reported(logs: str) -> tuple[str, float] | None:
    """The request id and duration Lambda's REPORT line in an invocation's log gives."""
    found = _REPORT_LINE.search(logs)
    return (found.group("id"), float(found.group("ms"))) if found else None


@dataclass(frozen=True)
class StageRef:
    """A deployed stage, by its API's id and name (CloudWatch's metrics use the name)."""

    api_id: str
    api_name: str
    stage: str


@dataclass(frozen=True)
class VersionRef:
    """A published version of a function, by the function's name and the version's
    number (Lambda's metrics name it ``ExecutedVersion``), invoked through ``alias``."""

    function: str
    version: str
    alias: str


@dataclass(frozen=True)
class AliasState:
    """Where a function's alias points: its version, and the one a canary sends a share
    of the invocations to (``percent`` of them)."""

    version: str
    canary_version: str | None = None
    canary_percent: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "alias_version": self.version,
            "canary_version": self.canary_version,
            "canary_percent": self.canary_percent,
        }


@dataclass(frozen=True)
class Traffic:
    """Requests a stage answered over the last ``window_s`` seconds."""

    window_s: int
    requests: int
    errors: int  # answers with a 5xx status
    p50_ms: float | None  # latency percentiles (None without requests)
    p99_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "window_s": self.window_s,
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": None if self.p50_ms is None else round(self.p50_ms, 2),
            "p99_ms": None if self.p99_ms is None else round(self.p99_ms, 2),
        }


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="seconds")


@dataclass(frozen=True)
class ServingHealth:
    """Whether the process that serves a cloud's APIs and domains runs: the local cloud's
    gateway, which its supervisor starts again when it dies. (AWS runs API Gateway
    itself: a cloud like it has nothing to report.)"""

    # starting: teal just started it; restarting: it died, its supervisor starts it again
    state: Literal["serving", "starting", "restarting", "stopped"]
    url: str | None
    pid: int | None
    restarts: int  # since it was started (teal local start, or a command needing it)
    last_restart_at: datetime | None
    last_restart_reason: str | None  # how the gateway before it ended
    down_since: datetime | None  # while restarting

    def to_json(self) -> dict[str, Any]:
        last = None
        if self.last_restart_at is not None:
            last = {"time": _iso(self.last_restart_at), "reason": self.last_restart_reason}
        return {
            "state": self.state,
            "url": self.url,
            "pid": self.pid,
            "restarts": self.restarts,
            "last_restart": last,
            "down_since": _iso(self.down_since),
        }


@dataclass(frozen=True)
class TrafficTiming:
    """How a cloud's traffic numbers arrive, which a watch must allow for.

    The numbers come per period of ``period_s`` seconds, and a period's may
    arrive up to ``delay_s`` seconds after it ended. A watch reads them once a
    period, and is at least as long as one period plus twice the delay, so that
    most of what it judges has arrived (docs/safer-switches.md).
    """

    period_s: int
    delay_s: int

    @property
    def poll_s(self) -> int:
        return self.period_s

    @property
    def min_watch_s(self) -> int:
        return self.period_s + 2 * self.delay_s


@dataclass(frozen=True)
class RoutingRule:
    """A routing rule of a custom domain, evaluated before its base path mappings.

    API Gateway's shape, narrowed to what teal writes and reads: requests that
    carry one of ``headers`` (name, value glob; names match in any case, values
    exactly, ``*`` as a prefix, suffix or both) and start with one of
    ``base_paths`` (none: any path) go to ``api_id``/``stage``, with the matched
    base path stripped when ``strip_base_path``. Rules are evaluated by
    ``priority``, the lowest first; ``id`` is the cloud's (empty before creation).
    """

    priority: int
    api_id: str
    stage: str
    headers: tuple[tuple[str, str], ...] = ()
    base_paths: tuple[str, ...] = ()
    strip_base_path: bool = False
    id: str = ""


class FunctionNotFound(UserError):
    """The function to invoke is not deployed (a name nothing answers to)."""


class StackFailed(OperationError):
    """A stack operation failed and was rolled back; carries the failing events."""

    def __init__(self, name: str, status: str, failures: tuple[StackEvent, ...]) -> None:
        first = failures[0] if failures else None
        what = f"stack {name} ended in {status}"
        if first is not None:
            what += f": {first.logical_id} ({first.resource_type}) {first.status}: {first.reason}"
        super().__init__(what, where=name)
        self.name = name
        self.status = status
        self.failures = failures


class NoUpdates(OperationError):
    """CloudFormation's refusal of an update that changes nothing."""

    MESSAGE = "No updates are to be performed."

    def __init__(self, name: str) -> None:
        super().__init__(self.MESSAGE, where=name)


class LockHeld(OperationError):
    def __init__(self, key: str, owner: LockOwner) -> None:
        super().__init__(
            f"{key} is locked: {owner.describe()}",
            where=key,
            hint="wait for it to finish, or run `teal unlock` if that process is gone",
        )
        self.owner = owner


class CloudUnavailable(UserError):
    """The cloud cannot be used at all (no credentials, bad region...): nothing was done."""


@dataclass(frozen=True)
class ApiKeyInfo:
    """An environment's API key as ``teal status`` shows it: its value when the cloud tells
    it freely (the local cloud), and where it comes from."""

    id: str
    value: str | None
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "value": self.value, "source": self.source}


class Cloud(Protocol):
    """What teal needs from a cloud. Implemented by ``local`` and ``aws``."""

    name: str
    account_id: str

    @property
    def region(self) -> str:
        """The region the cloud makes new stacks in."""
        ...

    # Artifacts: content-addressed keys such as ``code/<sha256>.zip``.
    @property
    def artifact_bucket(self) -> str: ...
    def has_artifact(self, key: str) -> bool: ...
    def put_artifact(
        self, key: str, data: bytes, progress: Callable[[int], None] | None = None
    ) -> None:
        """Store an artifact; ``progress`` hears the bytes sent so far (large uploads)."""
        ...

    def delete_artifact(self, key: str) -> None:
        """Remove an artifact no stack uses any more (a missing one is fine)."""
        ...

    # Stacks.
    def describe_stack(self, name: str) -> DeployedStack | None: ...
    def list_stacks(self, tag_filter: Mapping[str, str]) -> list[DeployedStack]: ...
    def apply_stack(self, request: StackRequest, on_event: EventSink) -> StackResult:
        """Create the stack, or update it; wait for the end, streaming events.

        Raises :class:`NoUpdates` when nothing changes and :class:`StackFailed`
        when the operation failed (and was rolled back).
        """
        ...

    def delete_stack(self, name: str, on_event: EventSink) -> None: ...

    # CloudFormation's own answer to a change (its change set), where the cloud has them.
    has_change_sets: bool

    def change_set(self, request: StackRequest) -> ChangeSet:
        """The change set for ``request``, created and deleted again: nothing changes.
        Only called when :attr:`has_change_sets`."""
        ...

    # API Gateway.
    def endpoint_url(self, api_id: str, stage: str) -> str: ...
    def api_key(self, key_id: str) -> ApiKeyInfo:
        """An API key of an environment (its ``ApiKeyId`` output), for ``teal status``."""
        ...

    # Custom domains and their base path mappings.
    def ensure_domain(self, spec: DomainSpec, tags: Mapping[str, str]) -> DomainInfo: ...
    def get_domain(self, name: str) -> DomainInfo | None: ...
    def get_mapping(self, domain: str, base_path: str) -> BasePathMapping | None: ...
    def create_mapping(self, mapping: BasePathMapping) -> None: ...
    def update_mapping(self, mapping: BasePathMapping) -> None:
        """Re-point an existing mapping in one atomic call (never delete + create)."""
        ...

    def delete_mapping(self, domain: str, base_path: str) -> None: ...
    def mappings_of_api(self, api_id: str) -> list[BasePathMapping]:
        """Every base path mapping, of any domain, that points at the API."""
        ...

    def list_mappings(self, domain: str) -> list[BasePathMapping]:
        """Every base path mapping of the domain, by base path (none for a missing domain)."""
        ...

    def list_domains(self) -> list[DomainInfo]:
        """Every custom domain the cloud has, by name."""
        ...

    def delete_domain(self, name: str, on_event: EventSink) -> None:
        """Remove the domain itself (on AWS its stack, with the DNS record); a missing one
        is fine. Only called once the domain maps nothing."""
        ...

    # Routing rules of custom domains (teal preview), evaluated before the mappings.
    def allow_routing_rules(self, domain: str) -> None:
        """Set the domain's routing mode to rules first, then base path mappings (a domain
        that has it already is left alone)."""
        ...

    def list_routing_rules(self, domain: str) -> list[RoutingRule]:
        """The domain's routing rules, by priority."""
        ...

    def create_routing_rule(self, domain: str, rule: RoutingRule) -> RoutingRule:
        """Add the rule (in effect for the next request); the rule with its id."""
        ...

    def delete_routing_rule(self, domain: str, rule_id: str) -> None:
        """Remove the rule (a missing one is fine)."""
        ...

    def rules_of_api(self, api_id: str) -> list[tuple[str, RoutingRule]]:
        """Every routing rule, of any domain, that sends requests to the API, with its
        domain."""
        ...

    # Locks (leases, see LockOwner) and the history of operations.
    def acquire_lock(self, key: str, owner: LockOwner) -> None:
        """Take the lock, or raise :class:`LockHeld` naming its holder."""
        ...

    def renew_lock(self, key: str, owner: LockOwner) -> bool:
        """Extend the holder's lease; False when the lock is no longer ``owner``'s."""
        ...

    def release_lock(self, key: str, owner: LockOwner) -> None:
        """Release the lock if ``owner`` holds it; someone else's lock is left alone."""
        ...

    def break_lock(self, key: str, holder: LockOwner | None = None) -> LockOwner | None:
        """Remove the lock (only if ``holder`` still holds it, when given); who held it."""
        ...

    def list_locks(self) -> list[HeldLock]: ...
    def record_history(self, app: str, entry: HistoryEntry) -> None:
        """Add the entry, or replace the app's entry with the same id."""
        ...

    def read_history(self, app: str) -> list[HistoryEntry]:
        """The app's entries, oldest first."""
        ...

    # Make the cloud ready to serve (the local cloud starts its gateway).
    def ensure_serving(self) -> None: ...
    def serving_health(self) -> ServingHealth | None:
        """Whether the cloud's own serving process runs, and its restarts; None where the
        cloud runs that itself (AWS). Starts nothing."""
        ...

    # What functions do.
    def read_logs(self, query: LogQuery) -> Iterator[LogPage]:
        """The log group's events in the query's window, oldest first, a page per call
        to the cloud (read lazily: stop iterating and no more calls are made). A log
        group that does not exist (yet) has no events."""
        ...

    def invoke_function(self, name: str, event: Any) -> Invocation:
        """Invoke the function once, synchronously, and wait for its answer.

        Raises :class:`FunctionNotFound` when no function has that name."""
        ...

    def missing_references(self, references: Sequence[Reference]) -> list[str]:
        """Of teal.toml's references, those the cloud surely does not hold, as ``ssm:NAME``
        or ``secret:NAME`` (from metadata: never a value)."""
        ...

    # Warming a function before traffic moves to it (teal.ops.warm).
    def warm_function(self, name: str, concurrency: int, alias: str) -> Warmed:
        """Have ``concurrency`` execution environments of the function run the warm-up
        event (:mod:`teal.runtime.warmup`: the app imported, its startup run, no handler
        called), so that each is ready before traffic comes: those of the version
        ``alias`` points at, which the invokers call (the function's own, ``$LATEST``,
        when it has no such alias: deployed before teal published versions). A warm-up
        that fails (the app does not import) is answered, not raised; a missing function
        raises :class:`FunctionNotFound`."""
        ...

    def peak_concurrency(self, names: Sequence[str], window_s: int) -> dict[str, int]:
        """Each function's highest count of invocations running at once over the last
        ``window_s`` seconds (0 when it did not run), with a fixed number of calls."""
        ...

    # What a deploy and a plan leave for the cloud's own console (the local cloud's web
    # console runs teal's commands in the project, and shows the last plan); a cloud
    # without such a console keeps nothing.
    def record_project(self, environment: str, env: str, root: Path) -> None:
        """The project folder ``environment`` was deployed from, just now."""
        ...

    def record_plan(self, environment: str, plan: PlanSummary) -> None:
        """What the latest plan (or the plan a deploy acted on) said of ``environment``."""
        ...

    # A watched switch, guarded beyond the command that watches it.
    def guard_watch(self, spec: DomainSpec, guard: WatchGuard) -> None:
        """Make the cloud judge the watch should its command die: locally the gateway
        reads the guard from the history by itself; on AWS alarms act."""
        ...

    def unguard_watch(self, guard: WatchGuard) -> None:
        """The watch ended: what :meth:`guard_watch` set up goes."""
        ...

    # SQS.
    def send_message(self, stack: str, queue: str, body: str) -> SentMessage:
        """Send ``body`` to a queue of ``stack`` (its logical id) or to a queue's ARN.

        A queue that is not there is refused: locally a :class:`UserError` (nothing
        changed), on AWS the :class:`OperationError` CloudFormation's or SQS's refusal
        becomes. (``teal send`` first finds the queue in the stack's template.)"""
        ...

    def traffic(self, stages: Sequence[StageRef], window_s: int) -> list[Traffic]:
        """Each stage's requests, 5xx answers and latency over the last ``window_s``
        seconds, in the order given, with a fixed number of calls whatever their count."""
        ...

    def traffic_since(self, stages: Sequence[StageRef], since: datetime) -> list[Traffic]:
        """Each stage's traffic in the periods of the cloud's numbers that began at
        ``since`` or later, up to now: a period that began earlier is left out whole, so
        nothing from before ``since`` (a switch) is counted. A fixed number of calls."""
        ...

    def version_traffic_since(self, versions: Sequence[VersionRef], since: datetime) -> Traffic:
        """The invocations the published ``versions`` ran, together, in the periods that
        began at ``since`` or later (as :meth:`traffic_since`): what a canary judges.
        Locally the gateway's answers per version (5xx counted as errors); on AWS
        Lambda's metrics by ``ExecutedVersion`` (function errors counted). A fixed
        number of calls."""
        ...

    def function_aliases(self, functions: Sequence[str], alias: str) -> dict[str, AliasState]:
        """Where each function's ``alias`` points (functions without it left out)."""
        ...

    # When the numbers ``traffic`` reads arrive (what a watch allows for).
    traffic_timing: TrafficTiming
