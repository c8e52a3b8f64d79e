"""The provisioner: resource operations, each a provider's call recorded with its event.

A provider changes its physical resource inside the transaction that records
the change in the ledger, with the operation's event, so the resource and
the record never disagree after a crash. The operations of a wave, a cleanup
or a teardown share a transaction per batch (:meth:`Provisioner.each_batched`),
each still all or nothing within it (a savepoint), so the commits of an
operation do not grow with the number of its resources. A nested stack runs
whole stack operations of its own (through :mod:`nested`), outside any batch.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

from teal.cloud.base import (
    StackEvent,
)
from teal.cloud.local.model import HostSettings
from teal.cloud.local.stacks import stack_tables
from teal.cloud.local.stacks.intrinsics import ResolveError
from teal.cloud.local.stacks.ledger import Ledger, write_row
from teal.cloud.local.stacks.nested import ChildStacks, NestedChildren
from teal.cloud.local.stacks.records import Row, Sink, StackRecord, teardown_order
from teal.cloud.local.stacks.resources import (
    Provisioned,
    ResourceContext,
    ResourceFailed,
    ResourceProvider,
)
from teal.cloud.local.store import Store
from teal.template.types import Template

# Resource operations committed together: enough that commits cost little next
# to the operations, few enough that the write lock is held well under a second.
BATCH_SIZE = 500
T = TypeVar("T")
Call = Callable[[ResourceContext], Provisioned]
Record = Callable[[sqlite3.Connection, Provisioned], None]


def failure_reason(exc: Exception) -> str:
    """The status reason of a failed resource operation."""
    if isinstance(exc, ResourceFailed):
        return exc.reason
    if isinstance(exc, ResolveError):
        return str(exc)
    return f"Internal Failure: {type(exc).__name__}: {exc}"


def _row_type(row: Row) -> str:
    return row.type


class Provisioner:
    """Runs the providers on a stack's resources and records each outcome in the ledger."""

    def __init__(
        self,
        ledger: Ledger,
        providers: Mapping[str, ResourceProvider],
        children: ChildStacks,
        *,
        account_id: str,
        host: HostSettings | None = None,
    ) -> None:
        self.ledger = ledger
        self.providers = providers
        self.children = children
        self.account_id = account_id
        self.host = host

    @property
    def store(self) -> Store:
        return self.ledger.store

    # Batches ----------------------------------------------------------------

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

    # One operation ----------------------------------------------------------

    def provision(
        self,
        stack: StackRecord,
        logical_id: str,
        provider: ResourceProvider,
        *,
        call: Call,
        record: Record,
        sink: Sink,
        done_status: str,
    ) -> Provisioned:
        """Run a provider and record its result (and the event) atomically.

        A nested stack provider runs many transactions of its own, so only its
        record is atomic; a crash in between leaves an orphan child stack,
        which the parent's rollback deletes.
        """
        if not provider.transactional:
            done = call(self._context(self.store.connection, stack, logical_id, sink))
            self.record_done(
                stack.name,
                logical_id,
                provider.type_name,
                done=done,
                record=record,
                status=done_status,
                sink=sink,
            )
            return done
        with self.store.transaction() as conn:
            done = call(self._context(conn, stack, logical_id, sink))
            event = self._record(
                conn,
                stack.name,
                logical_id,
                provider.type_name,
                done=done,
                record=record,
                status=done_status,
            )
        sink(event)
        return done

    def record_done(
        self,
        stack: str,
        logical_id: str,
        type_name: str,
        *,
        done: Provisioned,
        record: Record,
        status: str,
        sink: Sink,
    ) -> None:
        """Record what an operation did, with its event, in a transaction of their own."""
        with self.store.transaction() as conn:
            event = self._record(
                conn, stack, logical_id, type_name, done=done, record=record, status=status
            )
        sink(event)

    def _record(
        self,
        conn: sqlite3.Connection,
        stack: str,
        logical_id: str,
        type_name: str,
        *,
        done: Provisioned,
        record: Record,
        status: str,
    ) -> StackEvent:
        record(conn, done)
        return self.ledger.insert_event(
            conn, stack, logical_id, type_name, status, physical_id=done.physical_id
        )

    def _context(
        self, conn: sqlite3.Connection, stack: StackRecord, logical_id: str, sink: Sink
    ) -> ResourceContext:
        return ResourceContext(
            conn=conn,
            store=self.store,
            stack_name=stack.name,
            logical_id=logical_id,
            region=stack.region,
            account_id=self.account_id,
            nested=NestedChildren(self.children, self.ledger, stack, sink),
            host=self.host,
        )

    # Going back: restoring and deleting, past failures ------------------------

    def restore(self, stack: StackRecord, now: Row, before: Row, sink: Sink) -> bool:
        """Update a resource back to its properties ``before``; False if that failed."""
        provider = self.providers[now.type]
        self.ledger.resource_event(
            stack.name, now.logical_id, now.type, "UPDATE_IN_PROGRESS", sink=sink
        )

        def call(ctx: ResourceContext) -> Provisioned:
            return provider.update(ctx, now.provisioned, now.properties, before.properties)

        def record(conn: sqlite3.Connection, done: Provisioned) -> None:
            write_row(conn, before.seq, done, before.properties)
            stack_tables.make_current(conn, stack.name, before.logical_id, before.seq)

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

    def delete_all(
        self,
        stack: StackRecord,
        rows: list[Row],
        template: Template,
        sink: Sink,
        *,
        tolerate: bool = False,
    ) -> bool:
        """Delete ``rows`` in reverse dependency order of ``template``; False if any failed."""
        failed: list[Row] = []

        def delete(row: Row) -> None:
            if not self.delete(stack, row, sink, tolerate=tolerate):
                failed.append(row)

        self.each_batched(teardown_order(rows, template), _row_type, sink, delete)
        return not failed

    def delete(self, stack: StackRecord, row: Row, sink: Sink, *, tolerate: bool) -> bool:
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
            stack_tables.delete_resource(conn, row.seq)

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
                    stack_tables.delete_resource(conn, row.seq)
            return False
        return True
