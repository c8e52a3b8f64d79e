"""The local stack engine: CloudFormation's create, update, rollback and delete.

An operation runs in stages, each leaving a state the next command can
continue from if this process dies (see :meth:`Engine.recover`):

1. check the template (:mod:`stack_template`) and the stack's status;
2. mark the stack ``*_IN_PROGRESS`` with this process as owner and the
   resources as they were (``previous``), in one transaction;
3. forward: resources in dependency waves: created, updated in place, or
   replaced (created anew while the old one still exists) when a create-only
   property's *resolved* value changed;
4. on success, cleanup: replaced and removed resources deleted in reverse
   dependency order of the old template;
5. on failure, rollback: updated resources restored, new ones deleted.

Resource operations are committed a batch at a time (a wave, a cleanup, a
teardown: :meth:`Engine.each_batched`), each one all or nothing within it, so
the commits of an operation do not grow with the number of its resources.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

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
    Template,
)
from teal.cloud.local.ledger import (
    STACK_TYPE,
    Clock,
    Ledger,
    StackStateError,
    owner_alive,
    utc_now,
)
from teal.cloud.local.model import LOCAL_ACCOUNT_ID, LOCAL_REGION
from teal.cloud.local.resources import (
    Provisioned,
    ResourceContext,
    ResourceProvider,
)
from teal.cloud.local.resources.registry import providers
from teal.cloud.local.stack_records import (
    Desired,
    ForwardFailure,
    Previous,
    Row,
    Sink,
    StackRecord,
    make_current,
    teardown_order,
    write_row,
)
from teal.cloud.local.stack_run import ForwardRun, NestedChildren, child_name, failure_reason
from teal.cloud.local.stack_template import parse_template
from teal.cloud.local.store import Store
from teal.errors import OperationError, UserError

# Resource operations committed together: enough that commits cost little next
# to the operations, few enough that the write lock is held well under a second.
BATCH_SIZE = 500
T = TypeVar("T")
STACK_NAME = re.compile(r"^[A-Za-z][-A-Za-z0-9]{0,127}$")
CREATE_FAILED_STATUSES = ("CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS")
CLEANUP_IN_PROGRESS = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
UPDATE_ROLLBACK_STATUSES = (
    "UPDATE_IN_PROGRESS",
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
)


def _row_type(row: Row) -> str:
    return row.type


def check_stack_name(name: str) -> None:
    if not STACK_NAME.match(name):
        raise UserError(
            f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "[a-zA-Z][-a-zA-Z0-9]* and be at most 128 characters",
            where=name,
        )


# The engine -------------------------------------------------------------------


class Engine:
    """Applies templates to the store's stacks with CloudFormation's semantics."""

    def __init__(
        self,
        store: Store,
        clock: Clock = utc_now,
        region: str = LOCAL_REGION,
        account_id: str = LOCAL_ACCOUNT_ID,
    ) -> None:
        self.store = store
        self.clock = clock
        self.region = region
        self.account_id = account_id
        self.providers = providers()
        self.ledger = Ledger(store, clock)

    # Reads, for LocalCloud ----------------------------------------------------

    def stack(self, name: str) -> StackRecord | None:
        return self.ledger.stack(name)

    def stacks(self) -> list[StackRecord]:
        return self.ledger.stacks()

    def live_rows(self, name: str) -> dict[str, Row]:
        return self.ledger.live_rows(name)

    def events(self, name: str) -> list[StackEvent]:
        return self.ledger.events(name)

    # Apply ------------------------------------------------------------------

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
        check_stack_name(request.name)
        where = f"stack {request.name}"
        parsed = parse_template(request.template, where)
        desired = Desired(
            request.name,
            parsed,
            parsed.effective_parameters(request.parameters, where),
            dict(request.tags),
        )
        sink = Sink(on_event)
        existing = self.ledger.stack(request.name)
        if existing is None:
            return self._create(desired, sink, parent)
        self._check_updatable(existing)
        unchanged = (
            existing.template == request.template
            and existing.parameters == desired.parameters
            and existing.tags == desired.tags
        )
        if unchanged:
            raise NoUpdates(request.name)
        return self._update(existing, desired, sink, defer_cleanup=defer_cleanup)

    def _check_updatable(self, stack: StackRecord) -> None:
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

    def _create(self, desired: Desired, sink: Sink, parent: str | None) -> StackResult:
        name = desired.name
        record = self._begin_create(desired, sink, parent)
        try:
            outputs = ForwardRun(self, record, desired, sink, {}).forward()
        except ForwardFailure as failure:
            self.ledger.set_status(name, "ROLLBACK_IN_PROGRESS", failure.reason, sink)
            status = self.rollback_create(name, sink)
            raise StackFailed(name, status, sink.failures(name)) from None
        self.ledger.finish(name, CREATE_COMPLETE, sink, outputs=outputs)
        return StackResult(name, CREATE_COMPLETE, outputs, tuple(sink.events))

    def _begin_create(self, desired: Desired, sink: Sink, parent: str | None) -> StackRecord:
        """Record the new stack, in progress and owned by this process; returns its record."""
        stack_id = (
            f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{desired.name}/"
            f"{uuid.uuid4()}"
        )
        return self.ledger.begin_create(desired, stack_id, parent, sink)

    def _update(
        self, stack: StackRecord, desired: Desired, sink: Sink, *, defer_cleanup: bool
    ) -> StackResult:
        live = self.ledger.live_rows(stack.name)
        self._begin_update(stack, desired, live, sink)
        record = self.ledger.require(stack.name)
        try:
            outputs = ForwardRun(self, record, desired, sink, live).forward()
        except ForwardFailure as failure:
            self.ledger.set_status(stack.name, "UPDATE_ROLLBACK_IN_PROGRESS", failure.reason, sink)
            status = self.rollback_update(stack.name, sink)
            raise StackFailed(stack.name, status, sink.failures(stack.name)) from None
        self.ledger.set_status(stack.name, CLEANUP_IN_PROGRESS, None, sink, outputs=outputs)
        if defer_cleanup:
            return StackResult(stack.name, CLEANUP_IN_PROGRESS, outputs, tuple(sink.events))
        self.cleanup(stack.name, sink)
        return StackResult(stack.name, UPDATE_COMPLETE, outputs, tuple(sink.events))

    def _begin_update(
        self, stack: StackRecord, desired: Desired, live: dict[str, Row], sink: Sink
    ) -> None:
        """Record the stack as it is (for rollback) and mark it in progress, at once."""
        previous = Previous(
            stack.template, stack.parameters, stack.tags, stack.outputs, tuple(live.values())
        )
        self.ledger.begin_update(stack, desired, previous, sink)

    # Cleanup and rollback (also used to recover from a dead process) --------

    def cleanup(self, name: str, sink: Sink) -> None:
        """Clean up child stacks, delete replaced and removed resources, then UPDATE_COMPLETE."""
        stack = self.ledger.require(name)
        for child in self._children_awaiting(stack, (CLEANUP_IN_PROGRESS,)):
            self.cleanup(child.name, sink)
        old_template = stack.previous.template if stack.previous else stack.template
        wanted = set(stack.template.get("Resources") or {})
        stale = [
            row for row in self.ledger.rows(name) if not row.current or row.logical_id not in wanted
        ]
        self.each_batched(
            teardown_order(stale, old_template),
            _row_type,
            sink,
            lambda row: self._delete_row(stack, row, sink, tolerate=True),
        )
        self.ledger.finish(name, UPDATE_COMPLETE, sink)

    def rollback_create(self, name: str, sink: Sink) -> str:
        stack = self.ledger.require(name)
        ok = self._delete_all(stack, self.ledger.rows(name), stack.template, sink)
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
        ok = self._delete_all(stack, created, stack.template, sink) and ok
        self._delete_orphan_children(stack, sink)
        status = UPDATE_ROLLBACK_COMPLETE if ok else "UPDATE_ROLLBACK_FAILED"
        self.ledger.finish(name, status, sink, restore=previous)
        return status

    def _restore(self, stack: StackRecord, previous: Previous, sink: Sink) -> bool:
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
                ok = self._restore_row(stack, now, before, sink) and ok
            elif not now.current:
                with self.store.transaction() as conn:
                    make_current(conn, stack.name, before.logical_id, before.seq)
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
            return self._restore_row(stack, now, before, sink)
        self.ledger.resource_event(
            stack.name, now.logical_id, now.type, "UPDATE_IN_PROGRESS", sink=sink
        )
        self.ledger.set_status(
            child.name, "UPDATE_ROLLBACK_IN_PROGRESS", "Parent stack rolling back", sink
        )
        status = self.rollback_update(child.name, sink)
        with self.store.transaction() as conn:
            done = Provisioned(
                now.physical_id,
                {f"Outputs.{k}": v for k, v in self.ledger.require(child.name).outputs.items()},
            )
            write_row(conn, before.seq, done, before.properties)
            event = self._done_event(
                conn,
                stack,
                now.logical_id,
                self.providers[STACK_TYPE],
                status="UPDATE_COMPLETE",
                done=done,
            )
        sink(event)
        return status == UPDATE_ROLLBACK_COMPLETE

    def _children_awaiting(
        self, stack: StackRecord, statuses: tuple[str, ...]
    ) -> list[StackRecord]:
        children = []
        for row in self.ledger.live_rows(stack.name).values():
            child = (
                self.ledger.stack(child_name(row.physical_id)) if row.type == STACK_TYPE else None
            )
            if child is not None and child.status in statuses:
                children.append(child)
        return children

    def _restore_row(self, stack: StackRecord, now: Row, before: Row, sink: Sink) -> bool:
        provider = self.providers[now.type]
        self.ledger.resource_event(
            stack.name, now.logical_id, now.type, "UPDATE_IN_PROGRESS", sink=sink
        )

        def call(ctx: ResourceContext) -> Provisioned:
            return provider.update(ctx, now.provisioned, now.properties, before.properties)

        def record(conn: sqlite3.Connection, done: Provisioned) -> None:
            write_row(conn, before.seq, done, before.properties)
            make_current(conn, stack.name, before.logical_id, before.seq)

        try:
            self.provision(
                stack,
                now.logical_id,
                provider,
                call=call,
                record=record,
                sink=sink,
                done_status="UPDATE_COMPLETE",
            )
        except Exception as exc:  # a rollback goes on past a failed resource
            self.ledger.resource_event(
                stack.name,
                now.logical_id,
                now.type,
                "UPDATE_FAILED",
                reason=failure_reason(exc),
                sink=sink,
            )
            return False
        return True

    def _delete_all(
        self, stack: StackRecord, rows: list[Row], template: Template, sink: Sink
    ) -> bool:
        failed: list[Row] = []

        def delete(row: Row) -> None:
            if not self._delete_row(stack, row, sink, tolerate=False):
                failed.append(row)

        self.each_batched(teardown_order(rows, template), _row_type, sink, delete)
        return not failed

    def _delete_row(self, stack: StackRecord, row: Row, sink: Sink, *, tolerate: bool) -> bool:
        """Delete one physical resource; ``tolerate`` drops the record even if that fails."""
        provider = self.providers[row.type]
        self.ledger.resource_event(
            stack.name,
            row.logical_id,
            row.type,
            "DELETE_IN_PROGRESS",
            sink=sink,
            physical_id=row.physical_id,
        )

        def call(ctx: ResourceContext) -> Provisioned:
            provider.delete(ctx, row.provisioned, row.properties)
            return row.provisioned

        def record(conn: sqlite3.Connection, done: Provisioned) -> None:
            conn.execute("DELETE FROM resources WHERE seq = ?", (row.seq,))

        try:
            self.provision(
                stack,
                row.logical_id,
                provider,
                call=call,
                record=record,
                sink=sink,
                done_status="DELETE_COMPLETE",
            )
        except Exception as exc:  # a rollback or delete goes on past a failed resource
            self.ledger.resource_event(
                stack.name,
                row.logical_id,
                row.type,
                "DELETE_FAILED",
                reason=failure_reason(exc),
                sink=sink,
                physical_id=row.physical_id,
            )
            if tolerate:
                with self.store.transaction() as conn:
                    conn.execute("DELETE FROM resources WHERE seq = ?", (row.seq,))
            return False
        return True

    def _delete_orphan_children(self, stack: StackRecord, sink: Sink) -> None:
        """Child stacks whose parent never recorded them (it failed or died mid-create)."""
        known = self.ledger.child_ids(stack.name)
        children = self.ledger.children(stack.name).items()
        for name, stack_id in children:
            if stack_id not in known:
                self.delete(name, sink)

    # Delete -----------------------------------------------------------------

    def delete(self, name: str, on_event: EventSink) -> None:
        """Delete the stack and its resources; a missing stack is not an error."""
        stack = self.ledger.stack(name)
        if stack is None:
            return
        sink = on_event if isinstance(on_event, Sink) else Sink(on_event)
        if stack.in_progress and stack.status != "DELETE_IN_PROGRESS":
            raise StackStateError(
                f"Stack {name} is in {stack.status} state and can not be deleted.", where=name
            )
        self.ledger.set_status(name, "DELETE_IN_PROGRESS", "User Initiated", sink, own=True)
        if not self._delete_all(stack, self.ledger.rows(name), stack.template, sink):
            self.ledger.set_status(
                name, "DELETE_FAILED", "The following resource(s) failed to delete", sink
            )
            raise StackFailed(name, "DELETE_FAILED", sink.failures(name))
        self._delete_orphan_children(stack, sink)
        self.ledger.remove(stack, sink)

    # Recovery ---------------------------------------------------------------

    def recover(self, on_event: EventSink) -> list[str]:
        """Finish or undo operations whose process died; returns the stacks recovered."""
        stale = [
            s
            for s in self.ledger.in_progress()
            if not owner_alive(s) and not self._parent_decides(s)
        ]
        depth = {s.name: self._depth(s) for s in stale}
        recovered: list[str] = []
        for stack in sorted(stale, key=lambda s: -depth[s.name]):
            sink = on_event if isinstance(on_event, Sink) else Sink(on_event)
            reason = (
                f"teal process {stack.owner_pid} stopped while the stack was {stack.status}; "
                "recovering"
            )
            self._resume(stack, reason, sink)
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
                self.ledger.set_status(
                    stack.name, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", reason, sink
                )
                self.cleanup(stack.name, sink)
            case "DELETE_IN_PROGRESS":
                self.delete(stack.name, sink)
            case other:
                raise OperationError(f"cannot recover stack status {other}", where=stack.name)

    # Resource operations: each all or nothing, committed in batches -----------

    @contextmanager
    def batch(self, sink: Sink) -> Iterator[None]:
        """Many resource operations in one transaction: one commit for all of them.

        Each operation is still all or nothing (a nested transaction is a
        savepoint), their events reach the caller once committed, and a process
        killed inside leaves the state before the batch, which the next command
        recovers from as from any other point.
        """
        with sink.held(), self.store.transaction():
            yield

    def each_batched(
        self,
        items: Iterable[T],
        type_of: Callable[[T], str],
        sink: Sink,
        action: Callable[[T], object],
    ) -> None:
        """``action`` on each item in order, runs of transactional resources in batches.

        A nested stack manages its own transactions, so it runs on its own. A
        batch holds at most :data:`BATCH_SIZE` items, so that other writers
        (another deploy, a switch) never wait long for the database.
        """
        runs = itertools.groupby(
            items, key=lambda item: self.providers[type_of(item)].transactional
        )
        for transactional, run in runs:
            if not transactional:
                for item in run:
                    action(item)
                continue
            while chunk := list(itertools.islice(run, BATCH_SIZE)):
                with self.batch(sink):
                    for item in chunk:
                        action(item)

    def context(
        self, conn: sqlite3.Connection, stack: StackRecord, logical_id: str, sink: Sink
    ) -> ResourceContext:
        return ResourceContext(
            conn=conn,
            store=self.store,
            stack_name=stack.name,
            logical_id=logical_id,
            region=self.region,
            account_id=self.account_id,
            nested=NestedChildren(self, stack, sink),
        )

    def provision(
        self,
        stack: StackRecord,
        logical_id: str,
        provider: ResourceProvider,
        *,
        call: Callable[[ResourceContext], Provisioned],
        record: Callable[[sqlite3.Connection, Provisioned], None],
        sink: Sink,
        done_status: str,
    ) -> Provisioned:
        """Run a provider and record its result (and the event) atomically.

        A nested stack provider runs many transactions of its own, so only its
        record is atomic; a crash in between leaves an orphan child stack,
        which the parent's rollback deletes.
        """
        if provider.transactional:
            with self.store.transaction() as conn:
                done = call(self.context(conn, stack, logical_id, sink))
                record(conn, done)
                event = self._done_event(
                    conn, stack, logical_id, provider, status=done_status, done=done
                )
        else:
            done = call(self.context(self.store.connection, stack, logical_id, sink))
            with self.store.transaction() as conn:
                record(conn, done)
                event = self._done_event(
                    conn, stack, logical_id, provider, status=done_status, done=done
                )
        sink(event)
        return done

    def _done_event(
        self,
        conn: sqlite3.Connection,
        stack: StackRecord,
        logical_id: str,
        provider: ResourceProvider,
        *,
        status: str,
        done: Provisioned,
    ) -> StackEvent:
        return self.ledger.insert_event(
            conn, stack.name, logical_id, provider.type_name, status, physical_id=done.physical_id
        )
