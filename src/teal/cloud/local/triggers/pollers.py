"""Lambda's SQS pollers, run by the local gateway: a queue's messages to its consumers.

Every tick, for each enabled event source mapping from an SQS queue with no
batch in flight, the poller receives up to the mapping's batch size of the
queue's visible messages (:mod:`teal.cloud.local.triggers.queues`: hidden for the
queue's visibility timeout, their receive count up by one, moved to the
dead-letter queue past ``maxReceiveCount``) and invokes the function with
them as one event (:func:`teal.cloud.local.triggers.trigger_events.sqs_event`):

- the function returns: Lambda deletes the batch's messages;
- it fails (an exception, a timeout, a crash): the messages stay, and come
  back when their visibility timeout ends; each delivery counts toward the
  queue's redrive limit.

One batch per mapping at a time (Lambda scales its pollers out; locally one
is enough to see every behaviour above). Partial batch responses
(``ReportBatchItemFailures``) are not emulated: a failure returns the whole
batch, as without them.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from teal.cloud.local.functions.workers import InvocationError
from teal.cloud.local.model import FunctionSpec
from teal.cloud.local.triggers import queues, source_mappings
from teal.cloud.local.triggers.scheduler import Functions, Invoke
from teal.cloud.local.triggers.source_mappings import MappingRecord
from teal.cloud.local.triggers.trigger_events import sqs_event

log = logging.getLogger("teal.local.pollers")


@dataclass
class QueuePoller:
    """The batches in flight, one per mapping, and the invocations they make."""

    conn: sqlite3.Connection
    invoke: Invoke
    functions: Functions
    now_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    delivered: int = 0  # batches handed to functions, for the gateway's health answer
    _busy: set[str] = field(default_factory=set)
    _running: set[asyncio.Task[None]] = field(default_factory=set)

    def tick(self) -> None:
        for mapping in source_mappings.enabled_sqs_mappings(self.conn):
            if mapping.uuid in self._busy:
                continue
            spec = self.functions(mapping.function_arn)
            if spec is None:
                continue
            batch = self._receive(mapping)
            if batch is None:
                continue
            queue, messages = batch
            self._busy.add(mapping.uuid)
            self.delivered += 1
            task = asyncio.get_running_loop().create_task(
                self._deliver(mapping, spec, queue, messages)
            )
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _receive(
        self, mapping: MappingRecord
    ) -> tuple[queues.QueueRecord, list[queues.Message]] | None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            queue = queues.find_queue(self.conn, mapping.source_arn)
            messages = (
                queues.receive_messages(self.conn, queue, mapping.batch_size, self.now_ms())
                if queue is not None
                else []
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return (queue, messages) if queue is not None and messages else None

    async def _deliver(
        self,
        mapping: MappingRecord,
        spec: FunctionSpec,
        queue: queues.QueueRecord,
        messages: list[queues.Message],
    ) -> None:
        try:
            await self.invoke(spec, sqs_event(queue.arn, messages), str(uuid.uuid4()))
        except InvocationError as error:
            log.warning(
                "queue %s: function %s failed on a batch of %d; it comes back after the "
                "visibility timeout (%d s): %s",
                queue.name,
                spec.name,
                len(messages),
                queue.visibility_s,
                error,
            )
        except Exception:  # the poller must outlive any one invocation
            log.exception("queue %s: invoking %s failed", queue.name, spec.name)
        else:
            self._delete(queue, messages)
        finally:
            self._busy.discard(mapping.uuid)

    def _delete(self, queue: queues.QueueRecord, messages: list[queues.Message]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            queues.delete_messages(self.conn, queue.arn, messages)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    async def settled(self) -> None:
        """Once the invocations in flight have ended."""
        await asyncio.gather(*self._running, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
