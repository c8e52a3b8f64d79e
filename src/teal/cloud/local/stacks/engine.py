"""The local stack engine: CloudFormation's stack operations, stage by stage.

An operation runs in stages, each leaving a state the next command can
continue from if this process dies (see :meth:`Engine.recover`):

1. check the template (:mod:`template_checks`) and the stack's status;
2. mark the stack ``*_IN_PROGRESS`` with this process as owner and the
   resources as they were (``previous``), in one transaction;
3. forward (:mod:`run`): resources in dependency waves: created,
   updated in place, or replaced (created anew while the old one still
   exists) when a create-only property's *resolved* value changed;
4. on success, cleanup: replaced and removed resources deleted in reverse
   dependency order of the old template;
5. on failure, rollback: updated resources restored, new ones deleted.

The engine holds the operations alone. What they stand on, from the bottom:
the records (:mod:`records`), the :mod:`ledger` that keeps them in the store
(through :mod:`stack_tables`) with statuses, owners and events, the :mod:`provisioner` that runs the
resource operations a batch per transaction, and forward progress
(:mod:`run`). A nested stack's operations come back here through one
point, the :class:`nested.ChildStacks` this engine is to the modules below.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from teal.cloud.base import (
    CREATE_COMPLETE,
    ROLLBACK_COMPLETE,
    STABLE_STATUSES,
    UPDATE_COMPLETE,
    UPDATE_ROLLBACK_COMPLETE,
    EventSink,
    NoUpdates,
    StackEvent,
    StackFailed,
    StackRequest,
    StackResult,
)
from teal.cloud.local.model import LOCAL_ACCOUNT_ID, LOCAL_REGION, HostSettings
from teal.cloud.local.stacks.ledger import (
    STACK_TYPE,
    Clock,
    Ledger,
    StackStateError,
    owner_alive,
    utc_now,
    write_row,
)
from teal.cloud.local.stacks.nested import child_name
from teal.cloud.local.stacks.provisioner import Provisioner
from teal.cloud.local.stacks.records import (
    Desired,
    ForwardFailure,
    Previous,
    Row,
    Sink,
    StackRecord,
)
from teal.cloud.local.stacks.resources import Provisioned
from teal.cloud.local.stacks.resources.registry import providers
from teal.cloud.local.stacks.run import ForwardRun
from teal.cloud.local.stacks.template_checks import parse_template
from teal.cloud.local.store import Store
from teal.runtime.errors import OperationError, UserError

STACK_NAME = re.compile(r"^[A-Za-z][-A-Za-z0-9]{0,127}$")
CREATE_FAILED_STATUSES = ("CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS")
CLEANUP_IN_PROGRESS = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
UPDATE_ROLLBACK_STATUSES = (
    "UPDATE_IN_PROGRESS",
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
)


def check_stack_name(name: str) -> None:
    if not STACK_NAME.match(name):
        raise UserError(
            f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "[a-zA-Z][-a-zA-Z0-9]* and be at most 128 characters",
            where=name,
            hint="name stacks with a letter, then letters, digits and '-'",
        )


def check_updatable(stack: StackRecord) -> None:
    if stack.status == ROLLBACK_COMPLETE:
        raise StackStateError(
            f"Stack [{stack.name}] already exists",
            where=stack.name,
            hint="it ended in ROLLBACK_COMPLETE after a failed create and can only be "
            "deleted; delete it, then deploy again",
        )
    if stack.status not in STABLE_STATUSES:
        raise StackStateError(
            f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.",
            where=stack.name,
            hint="wait for the running operation to finish",
        )


def desired_stack(request: StackRequest) -> Desired:
    """The request checked: its template parsed, its parameters given values."""
    check_stack_name(request.name)
    where = f"stack {request.name}"
    parsed = parse_template(request.template, where)
    parameters = parsed.effective_parameters(request.parameters, where)
    return Desired(request.name, parsed, parameters, dict(request.tags))


def _as_sink(on_event: EventSink) -> Sink:
    """The caller's sink: a child stack's operation streams into its parent's."""
    return on_event if isinstance(on_event, Sink) else Sink(on_event)


class Engine:
    """Applies templates to the store's stacks with CloudFormation's semantics."""

    def __init__(
        self,
        store: Store,
        clock: Clock = utc_now,
        region: Callable[[], str] = lambda: LOCAL_REGION,
        account_id: str = LOCAL_ACCOUNT_ID,
        host: HostSettings | None = None,
    ) -> None:
        """``region``: where a new stack is made (asked only then: it may read the
        user's AWS configuration); a stack keeps its region, as on AWS."""
        self.store = store
        self.region = region
        self.account_id = account_id
        self.ledger = Ledger(store, clock)
        self.provisioner = Provisioner(
            self.ledger, providers(), self, account_id=account_id, host=host
        )

    # Reads, for LocalCloud ----------------------------------------------------

    def stack(self, name: str) -> StackRecord | None:
        return self.ledger.stack(name)

    def stacks(self) -> list[StackRecord]:
        return self.ledger.stacks()

    def live_rows(self, name: str) -> dict[str, Row]:
        return self.ledger.live_rows(name)

    def events(self, name: str) -> list[StackEvent]:
        return self.ledger.events(name)

    # Apply: create or update ------------------------------------------------

    def apply(
        self,
        request: StackRequest,
        on_event: EventSink,
        *,
        parent: str | None = None,
        defer_cleanup: bool = False,
    ) -> StackResult:
        """Create or update ``request.name``; raises NoUpdates or StackFailed.

        ``defer_cleanup`` (nested stacks) stops a successful update before its
        cleanup, in UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, as CloudFormation
        does: the parent cleans it up with its own cleanup, or rolls it back.
        """
        desired = desired_stack(request)
        sink = Sink(on_event)
        existing = self.ledger.stack(request.name)
        if existing is None:
            return self._create(desired, sink, parent)
        check_updatable(existing)
        unchanged = (
            existing.template == request.template
            and existing.parameters == desired.parameters
            and existing.tags == desired.tags
        )
        if unchanged:
            raise NoUpdates(request.name)
        return self._update(existing, desired, sink, defer_cleanup=defer_cleanup)

    def _create(self, desired: Desired, sink: Sink, parent: str | None) -> StackResult:
        name = desired.name
        record = self.ledger.begin_create(desired, self._new_stack_id(name, parent), parent, sink)
        try:
            outputs = ForwardRun(self.provisioner, record, desired, sink, {}).forward()
        except ForwardFailure as failure:
            self.ledger.set_status(name, "ROLLBACK_IN_PROGRESS", failure.reason, sink)
            status = self.rollback_create(name, sink)
            raise StackFailed(name, status, sink.failures(name)) from None
        self.ledger.finish(name, CREATE_COMPLETE, sink, outputs=outputs)
        return StackResult(name, CREATE_COMPLETE, outputs, tuple(sink.events))

    def _new_stack_id(self, name: str, parent: str | None) -> str:
        """A new stack's ARN: in the project's region, or its parent's for a child stack."""
        owner = self.ledger.stack(parent) if parent is not None else None
        region = owner.region if owner is not None else self.region()
        return f"arn:aws:cloudformation:{region}:{self.account_id}:stack/{name}/{uuid.uuid4()}"

    def _update(
        self, stack: StackRecord, desired: Desired, sink: Sink, *, defer_cleanup: bool
    ) -> StackResult:
        name = stack.name
        live = self.ledger.live_rows(name)
        previous = Previous(
            stack.template, stack.parameters, stack.tags, stack.outputs, tuple(live.values())
        )
        self.ledger.begin_update(stack, desired, previous, sink)
        record = self.ledger.require(name)
        try:
            outputs = ForwardRun(self.provisioner, record, desired, sink, live).forward()
        except ForwardFailure as failure:
            self.ledger.set_status(name, "UPDATE_ROLLBACK_IN_PROGRESS", failure.reason, sink)
            status = self.rollback_update(name, sink)
            raise StackFailed(name, status, sink.failures(name)) from None
        self.ledger.set_status(name, CLEANUP_IN_PROGRESS, None, sink, outputs=outputs)
        if defer_cleanup:
            return StackResult(name, CLEANUP_IN_PROGRESS, outputs, tuple(sink.events))
        self.cleanup(name, sink)
        return StackResult(name, UPDATE_COMPLETE, outputs, tuple(sink.events))

    # Cleanup (also resumed after a dead process) -------------------------------

    def cleanup(self, name: str, sink: Sink) -> None:
        """Clean up child stacks, delete replaced and removed resources, then UPDATE_COMPLETE."""
        stack = self.ledger.require(name)
        for child in self._children_in(stack, (CLEANUP_IN_PROGRESS,)):
            self.cleanup(child.name, sink)
        old_template = stack.previous.template if stack.previous else stack.template
        wanted = set(stack.template.get("Resources") or {})
        stale = [
            row for row in self.ledger.rows(name) if not row.current or row.logical_id not in wanted
        ]
        self.provisioner.delete_all(stack, stale, old_template, sink, tolerate=True)
        self.ledger.finish(name, UPDATE_COMPLETE, sink)

    def _children_in(self, stack: StackRecord, statuses: tuple[str, ...]) -> list[StackRecord]:
        """The stack's nested stacks whose status is one of ``statuses``."""
        children = []
        for row in self.ledger.live_rows(stack.name).values():
            child = (
                self.ledger.stack(child_name(row.physical_id)) if row.type == STACK_TYPE else None
            )
            if child is not None and child.status in statuses:
                children.append(child)
        return children

    # Rollback (also resumed after a dead process) ------------------------------

    def rollback_create(self, name: str, sink: Sink) -> str:
        """Delete whatever the create made; ROLLBACK_COMPLETE, or ROLLBACK_FAILED."""
        stack = self.ledger.require(name)
        ok = self.provisioner.delete_all(stack, self.ledger.rows(name), stack.template, sink)
        self._delete_orphan_children(stack, sink)
        status = ROLLBACK_COMPLETE if ok else "ROLLBACK_FAILED"
        self.ledger.finish(name, status, sink, outputs={})
        return status

    def rollback_update(self, name: str, sink: Sink) -> str:
        """Restore what was updated in place, then delete what was created."""
        stack = self.ledger.require(name)
        previous = stack.previous
        if previous is None:  # nothing recorded: the update never started
            self.ledger.finish(name, UPDATE_ROLLBACK_COMPLETE, sink)
            return UPDATE_ROLLBACK_COMPLETE
        ok = self._restore(stack, previous, sink)
        self.ledger.set_status(name, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None, sink)
        kept = {row.seq for row in previous.rows}
        created = [row for row in self.ledger.rows(name) if row.seq not in kept]
        ok = self.provisioner.delete_all(stack, created, stack.template, sink) and ok
        self._delete_orphan_children(stack, sink)
        status = UPDATE_ROLLBACK_COMPLETE if ok else "UPDATE_ROLLBACK_FAILED"
        self.ledger.finish(name, status, sink, restore=previous)
        return status

    def _restore(self, stack: StackRecord, previous: Previous, sink: Sink) -> bool:
        """Each resource as it was before the update, in the old template's order."""
        rows = {row.seq: row for row in self.ledger.rows(stack.name)}
        old_order = {
            lid: i for i, lid in enumerate(parse_template(previous.template, stack.name).order)
        }
        ok = True
        for before in sorted(previous.rows, key=lambda r: old_order.get(r.logical_id, -1)):
            now = rows.get(before.seq)
            if now is None:
                continue
            if now.type == STACK_TYPE:
                ok = self._restore_child(stack, now, before, sink) and ok
            elif now.properties != before.properties:
                ok = self.provisioner.restore(stack, now, before, sink) and ok
            elif not now.current:
                self.ledger.make_current(stack.name, before.logical_id, before.seq)
        return ok

    def _restore_child(self, stack: StackRecord, now: Row, before: Row, sink: Sink) -> bool:
        """Roll back a child stack updated in this operation (its cleanup was deferred).

        A child whose update was never recorded by the parent (its process died
        in between) is rolled back too, since its own record says what it was.
        """
        child = self.ledger.stack(child_name(now.physical_id))
        if child is None or child.status not in (CLEANUP_IN_PROGRESS, *UPDATE_ROLLBACK_STATUSES):
            # Stable already; re-apply the old template if the parent had moved on.
            if now.properties == before.properties:
                return True
            return self.provisioner.restore(stack, now, before, sink)
        self.ledger.resource_event(
            stack.name, now.logical_id, now.type, "UPDATE_IN_PROGRESS", sink=sink
        )
        self.ledger.set_status(
            child.name, "UPDATE_ROLLBACK_IN_PROGRESS", "Parent stack rolling back", sink
        )
        status = self.rollback_update(child.name, sink)
        outputs = self.ledger.require(child.name).outputs
        done = Provisioned(now.physical_id, {f"Outputs.{k}": v for k, v in outputs.items()})
        self.provisioner.record_done(
            stack.name,
            now.logical_id,
            STACK_TYPE,
            done=done,
            record=lambda conn, done: write_row(conn, before.seq, done, before.properties),
            status="UPDATE_COMPLETE",
            sink=sink,
        )
        return status == UPDATE_ROLLBACK_COMPLETE

    def _delete_orphan_children(self, stack: StackRecord, sink: Sink) -> None:
        """Child stacks whose parent never recorded them (it failed or died mid-create)."""
        recorded = self.ledger.child_ids(stack.name)
        for name, stack_id in self.ledger.children(stack.name).items():
            if stack_id not in recorded:
                self.delete(name, sink)

    # Delete -----------------------------------------------------------------

    def delete(self, name: str, on_event: EventSink) -> None:
        """Delete the stack and its resources; a missing stack is not an error."""
        stack = self.ledger.stack(name)
        if stack is None:
            return
        sink = _as_sink(on_event)
        if stack.in_progress and stack.status != "DELETE_IN_PROGRESS":
            raise StackStateError(
                f"Stack {name} is in {stack.status} state and can not be deleted.", where=name
            )
        self.ledger.set_status(name, "DELETE_IN_PROGRESS", "User Initiated", sink, own=True)
        if not self.provisioner.delete_all(stack, self.ledger.rows(name), stack.template, sink):
            self.ledger.set_status(
                name, "DELETE_FAILED", "The following resource(s) failed to delete", sink
            )
            raise StackFailed(name, "DELETE_FAILED", sink.failures(name))
        self._delete_orphan_children(stack, sink)
        self.ledger.remove(stack, sink)

    # Recover ----------------------------------------------------------------

    def recover(self, on_event: EventSink) -> list[str]:
        """Finish or undo operations whose process died; returns the stacks recovered.

        Children first (deepest first), so that a parent's rollback or cleanup
        finds its children in a stable status.
        """
        stale = [
            s
            for s in self.ledger.in_progress()
            if not owner_alive(s) and not self._parent_decides(s)
        ]
        depth = {s.name: self._depth(s) for s in stale}
        recovered: list[str] = []
        for stack in sorted(stale, key=lambda s: -depth[s.name]):
            reason = (
                f"teal process {stack.owner_pid} stopped while the stack was {stack.status}; "
                "recovering"
            )
            self._resume(stack, reason, _as_sink(on_event))
            recovered.append(stack.name)
        return recovered

    def _parent_decides(self, stack: StackRecord) -> bool:
        """A child waiting for its parent's cleanup is cleaned up or rolled back by the parent."""
        if stack.status != CLEANUP_IN_PROGRESS or stack.parent is None:
            return False
        parent = self.ledger.stack(stack.parent)
        return parent is not None and parent.in_progress

    def _depth(self, stack: StackRecord) -> int:
        depth, parent = 0, stack.parent
        while parent is not None and depth < 10:
            found = self.ledger.stack(parent)
            parent = found.parent if found else None
            depth += 1
        return depth

    def _resume(self, stack: StackRecord, reason: str, sink: Sink) -> None:
        if not self.ledger.take_over(stack):
            return  # another command took it over first, and recovers it
        match stack.status:
            case status if status in CREATE_FAILED_STATUSES:
                self.ledger.set_status(stack.name, "ROLLBACK_IN_PROGRESS", reason, sink)
                self.rollback_create(stack.name, sink)
            case status if status in UPDATE_ROLLBACK_STATUSES:
                self.ledger.set_status(stack.name, "UPDATE_ROLLBACK_IN_PROGRESS", reason, sink)
                self.rollback_update(stack.name, sink)
            case "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS":
                self.ledger.set_status(stack.name, CLEANUP_IN_PROGRESS, reason, sink)
                self.cleanup(stack.name, sink)
            case "DELETE_IN_PROGRESS":
                self.delete(stack.name, sink)
            case other:
                raise OperationError(f"cannot recover stack status {other}", where=stack.name)
