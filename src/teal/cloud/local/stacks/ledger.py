"""The ledger: the stack engine's records of stacks, their resources and their events.

Everything the engine records of a stack goes through here: a stack's status
changes (each with its event, in one transaction), who owns an operation in
progress and whether that process still runs, and the events of resources.
The caller's sink gets an event once the transaction that wrote it is
committed. The rows themselves are read and written by
:mod:`teal.cloud.local.stacks.stack_tables`, which the gateway reads too
without loading the engine.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from teal import processes
from teal.cloud.base import StackEvent
from teal.cloud.local.stacks import stack_tables
from teal.cloud.local.stacks.records import Desired, Previous, Row, Sink, StackRecord
from teal.cloud.local.stacks.resources import Properties, Provisioned
from teal.cloud.local.store import Store
from teal.runtime.errors import OperationError

Clock = Callable[[], datetime]
STACK_TYPE = "AWS::CloudFormation::Stack"


def utc_now() -> datetime:
    return datetime.now(UTC)


class StackStateError(OperationError):
    """The stack's status does not allow the operation (AWS's ValidationError)."""


# Ownership: a stack in progress whose owner died is recovered. ------------------


def this_owner() -> tuple[int, str | None]:
    """This process as a stack's owner: its pid, and its start time as the record keeps it."""
    pid, started = processes.this_process()
    return pid, None if started is None else repr(started)


def owner_alive(stack: StackRecord) -> bool:
    """Whether the process recorded as the stack's owner still runs (not another on its pid)."""
    if stack.owner_pid is None:
        return False
    return processes.is_running(stack.owner_pid, _start_time(stack.owner_start))


def _start_time(recorded: str | None) -> float | None:
    """The owner's start time from its record; None when unknown (judged by the pid alone).

    teal records seconds since the epoch; an older teal recorded the kernel's
    clock ticks since boot, which are converted, so that its records are
    still judged by the start time too.
    """
    if recorded is None:
        return None
    if not recorded.isdigit():
        return float(recorded)
    try:
        ticks_per_second = os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return None
    return processes.boot_time() + int(recorded) / ticks_per_second


# Resource rows, written in the caller's transaction (with the provider's change) ---


def write_row(conn: sqlite3.Connection, seq: int, done: Provisioned, props: Properties) -> None:
    stack_tables.update_resource(
        conn, seq, physical_id=done.physical_id, properties=props, attributes=done.attributes
    )


def insert_row(
    conn: sqlite3.Connection,
    stack: str,
    logical_id: str,
    type_name: str,
    *,
    done: Provisioned,
    props: Properties,
    replacing: bool,
) -> Row:
    """Record a new physical resource as the current one of ``logical_id``.

    ``replacing``: the logical id has a current resource, which stops being current.
    """
    if replacing:
        stack_tables.retire_current(conn, stack, logical_id)
    seq = stack_tables.insert_resource(
        conn,
        stack,
        logical_id,
        type_name,
        physical_id=done.physical_id,
        properties=props,
        attributes=done.attributes,
    )
    return Row(seq, logical_id, type_name, done.physical_id, props, dict(done.attributes), True)


# The ledger ---------------------------------------------------------------------


class Ledger:
    """The engine's stack records in the store, stamped by ``clock``."""

    def __init__(self, store: Store, clock: Clock = utc_now) -> None:
        self.store = store
        self.clock = clock

    # Reads ------------------------------------------------------------------

    def stack(self, name: str) -> StackRecord | None:
        with self.store.reading() as conn:
            row = stack_tables.stack_row(conn, name)
        return None if row is None else StackRecord.from_db(row)

    def require(self, name: str) -> StackRecord:
        stack = self.stack(name)
        if stack is None:
            raise OperationError(f"Stack with id {name} does not exist", where=name)
        return stack

    def stack_id(self, name: str) -> str:
        """The stack's ARN, without reading the rest of its record."""
        with self.store.reading() as conn:
            found = stack_tables.stack_id(conn, name)
        if found is None:
            raise OperationError(f"Stack with id {name} does not exist", where=name)
        return found

    def stacks(self) -> list[StackRecord]:
        with self.store.reading() as conn:
            found = stack_tables.stack_rows(conn)
        return [StackRecord.from_db(row) for row in found]

    def in_progress(self) -> list[StackRecord]:
        with self.store.reading() as conn:
            found = stack_tables.stacks_in_progress(conn)
        return [StackRecord.from_db(row) for row in found]

    def children(self, parent: str) -> dict[str, str]:
        """The child stacks recorded with ``parent`` as their parent: name -> stack id."""
        with self.store.reading() as conn:
            return stack_tables.child_stacks(conn, parent)

    def child_ids(self, name: str) -> set[str]:
        """The stack ids of the nested stacks the stack's resources record (any generation)."""
        with self.store.reading() as conn:
            return stack_tables.physical_ids(conn, name, STACK_TYPE)

    def rows(self, name: str) -> list[Row]:
        with self.store.reading() as conn:
            found = stack_tables.resource_rows(conn, name)
        return [Row.from_db(r) for r in found]

    def live_rows(self, name: str) -> dict[str, Row]:
        return {row.logical_id: row for row in self.rows(name) if row.current}

    def events(self, name: str) -> list[StackEvent]:
        with self.store.reading() as conn:
            found = stack_tables.event_rows(conn, name)
        return [
            StackEvent(
                datetime.fromisoformat(r["time"]),
                r["stack"],
                r["logical_id"],
                r["type"],
                r["status"],
                r["reason"],
                r["physical_id"],
            )
            for r in found
        ]

    # An operation's start, its status changes, its end -----------------------

    def begin_create(
        self, desired: Desired, stack_id: str, parent: str | None, sink: Sink
    ) -> StackRecord:
        """Record the new stack, in progress and owned by this process; returns its record."""
        name = desired.name
        pid, started = this_owner()
        with self.store.transaction() as conn:
            if stack_tables.stack_exists(conn, name):
                raise StackStateError(f"Stack [{name}] already exists", where=name)
            record = StackRecord(
                name=name,
                stack_id=stack_id,
                status="CREATE_IN_PROGRESS",
                status_reason=None,
                template=desired.parsed.template,
                parameters=desired.parameters,
                tags=desired.tags,
                outputs={},
                parent=parent,
                owner_pid=pid,
                owner_start=started,
                previous=None,
                updated_at=self.clock(),
            )
            stack_tables.insert_stack(
                conn,
                name,
                stack_id=stack_id,
                status=record.status,
                template=record.template,
                parameters=record.parameters,
                tags=record.tags,
                parent=parent,
                owner=(pid, started),
                updated_at=record.updated_at.isoformat(),
            )
            event = self._stack_event(conn, name, "CREATE_IN_PROGRESS", "User Initiated")
        sink(event)
        return record

    def begin_update(
        self, stack: StackRecord, desired: Desired, previous: Previous, sink: Sink
    ) -> None:
        """Record the stack as it was (for rollback) and mark it in progress, at once.

        Only if its status is still the one read: another command may have
        started an operation on it meanwhile.
        """
        with self.store.transaction() as conn:
            changed = stack_tables.start_update(
                conn,
                stack.name,
                seen_status=stack.status,
                template=desired.parsed.template,
                parameters=desired.parameters,
                tags=desired.tags,
                previous=previous.to_json(),
                owner=this_owner(),
                updated_at=self.clock().isoformat(),
            )
            if not changed:
                raise StackStateError(
                    f"Stack:{stack.stack_id} changed while this update started", where=stack.name
                )
            event = self._stack_event(conn, stack.name, "UPDATE_IN_PROGRESS", "User Initiated")
        sink(event)

    def set_status(
        self,
        name: str,
        status: str,
        reason: str | None,
        sink: Sink,
        *,
        outputs: Mapping[str, str] | None = None,
        own: bool = False,
    ) -> None:
        """A new status (and its event); ``own`` makes this process the stack's owner."""
        with self.store.transaction() as conn:
            stack_tables.set_status(conn, name, status, reason, self.clock().isoformat())
            if outputs is not None:
                stack_tables.set_outputs(conn, name, outputs)
            if own:
                stack_tables.set_owner(conn, name, this_owner())
            event = self._stack_event(conn, name, status, reason)
        sink(event)

    def finish(
        self,
        name: str,
        status: str,
        sink: Sink,
        *,
        outputs: Mapping[str, str] | None = None,
        restore: Previous | None = None,
    ) -> None:
        """End the operation: final status, no owner, nothing left to roll back.

        ``restore``: the stack's template, parameters, tags and outputs go back
        to what they were before the update (its rollback is complete).
        """
        with self.store.transaction() as conn:
            stack_tables.end_operation(conn, name, status, self.clock().isoformat())
            if outputs is not None:
                stack_tables.set_outputs(conn, name, outputs)
            if restore is not None:
                stack_tables.restore(
                    conn,
                    name,
                    template=restore.template,
                    parameters=restore.parameters,
                    tags=restore.tags,
                    outputs=restore.outputs,
                )
            event = self._stack_event(conn, name, status, None)
        sink(event)

    def make_current(self, name: str, logical_id: str, seq: int) -> None:
        """The resource ``seq`` is again the one ``logical_id`` names (an undone replacement)."""
        with self.store.transaction() as conn:
            stack_tables.make_current(conn, name, logical_id, seq)

    def take_over(self, stack: StackRecord) -> bool:
        """Claim a dead owner's stack; compare-and-set, so only one command recovers it."""
        with self.store.transaction() as conn:
            return stack_tables.claim(
                conn,
                stack.name,
                this_owner(),
                seen_owner=(stack.owner_pid, stack.owner_start),
                seen_status=stack.status,
            )

    def remove(self, stack: StackRecord, sink: Sink) -> None:
        """The stack is deleted: its records go, with DELETE_COMPLETE as its last event."""
        with self.store.transaction() as conn:
            event = self._stack_event(conn, stack.name, "DELETE_COMPLETE", None, stack.stack_id)
            stack_tables.delete_stack(conn, stack.name)
        sink(event)

    # Events -----------------------------------------------------------------

    def resource_event(
        self,
        stack: str,
        logical_id: str,
        type_name: str,
        status: str,
        *,
        sink: Sink,
        reason: str | None = None,
        physical_id: str | None = None,
    ) -> None:
        """An event of one resource, in a transaction of its own (or the caller's batch)."""
        with self.store.transaction() as conn:
            event = self.insert_event(
                conn, stack, logical_id, type_name, status, reason=reason, physical_id=physical_id
            )
        sink(event)

    def insert_event(
        self,
        conn: sqlite3.Connection,
        stack: str,
        logical_id: str,
        type_name: str,
        status: str,
        *,
        reason: str | None = None,
        physical_id: str | None = None,
    ) -> StackEvent:
        """Write an event in the caller's transaction; the caller passes it on once committed."""
        event = StackEvent(self.clock(), stack, logical_id, type_name, status, reason, physical_id)
        stack_tables.insert_event(
            conn,
            stack,
            logical_id,
            time=event.timestamp.isoformat(),
            type_name=type_name,
            status=status,
            reason=reason,
            physical_id=physical_id,
        )
        return event

    def _stack_event(
        self,
        conn: sqlite3.Connection,
        name: str,
        status: str,
        reason: str | None,
        stack_id: str | None = None,
    ) -> StackEvent:
        if stack_id is None:
            stack_id = stack_tables.stack_id(conn, name)
        return self.insert_event(
            conn, name, name, STACK_TYPE, status, reason=reason, physical_id=stack_id
        )
