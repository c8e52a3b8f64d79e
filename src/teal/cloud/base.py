"""The Cloud seam: everything deploy and blue-green need from a cloud.

``teal.deploy`` and ``teal.bluegreen`` talk to this protocol only; the
embedded local cloud and the boto3 cloud both implement it, so a blue-green
rule is written once. Results are plain frozen dataclasses; failures are the
typed errors below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from teal.errors import OperationError, UserError

Template = dict[str, Any]

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
class DomainSpec:
    """A custom domain as configured in ``[domain]``."""

    name: str
    base_path: str = ""
    certificate_arn: str | None = None
    hosted_zone: str | None = None


@dataclass(frozen=True)
class DomainInfo:
    name: str
    url: str  # where clients reach it: https://name/ on AWS, a stable loopback URL locally
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BasePathMapping:
    domain: str
    base_path: str  # "" is the root mapping
    api_id: str
    stage: str


@dataclass(frozen=True)
class LockOwner:
    """Who holds an environment's lock, to name them when another operation is refused."""

    user: str
    host: str
    pid: int
    operation: str
    since: datetime

    def describe(self) -> str:
        return (
            f"{self.operation} by {self.user}@{self.host} (pid {self.pid}) "
            f"since {self.since.isoformat(timespec='seconds')}"
        )


@dataclass(frozen=True)
class HistoryEntry:
    """One deploy, switch, rollback or delete, kept in the cloud."""

    time: datetime
    user: str
    action: Literal["deploy", "switch", "rollback", "delete"]
    environment: str
    from_: str | None = None
    to: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(timespec="seconds"),
            "user": self.user,
            "action": self.action,
            "environment": self.environment,
            "from": self.from_,
            "to": self.to,
            **dict(self.details),
        }


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


class Cloud(Protocol):
    """What teal needs from a cloud. Implemented by ``local`` and ``aws``."""

    name: str
    region: str
    account_id: str

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

    # API Gateway.
    def endpoint_url(self, api_id: str, stage: str) -> str: ...

    # Custom domains and their base path mappings.
    def ensure_domain(self, spec: DomainSpec, tags: Mapping[str, str]) -> DomainInfo: ...
    def get_domain(self, name: str) -> DomainInfo | None: ...
    def get_mapping(self, domain: str, base_path: str) -> BasePathMapping | None: ...
    def create_mapping(self, mapping: BasePathMapping) -> None: ...
    def update_mapping(self, mapping: BasePathMapping) -> None:
        """Re-point an existing mapping in one atomic call (never delete + create)."""
        ...

    def delete_mapping(self, domain: str, base_path: str) -> None: ...

    # One operation at a time per environment, and the history of operations.
    def acquire_lock(self, key: str, owner: LockOwner) -> None: ...
    def release_lock(self, key: str, owner: LockOwner) -> None: ...
    def break_lock(self, key: str) -> LockOwner | None: ...
    def append_history(self, app: str, entry: HistoryEntry) -> None: ...
    def read_history(self, app: str) -> list[HistoryEntry]: ...

    # Make the cloud ready to serve (the local cloud starts its gateway).
    def ensure_serving(self) -> None: ...
