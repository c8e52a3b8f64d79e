"""``teal send`` on the local cloud: a message into a queue of an environment's stack.

The queue is named by its logical id in the stack (found by the CLI from the
stack's metadata) or by an ARN: a queue the local cloud holds under it (a
stand-in for a queue of a real account included).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.triggers import queues
from teal.runtime.errors import UserError


@dataclass(frozen=True)
class Sent:
    queue_url: str
    queue_arn: str
    message_id: str
    md5_of_body: str


def send_local(cloud: LocalCloud, stack: str, queue: str, body: str) -> Sent:
    """Send ``body`` to the queue (a logical id of ``stack``, or an ARN)."""
    arn = queue if queue.startswith("arn:") else _arn_in_stack(cloud, stack, queue)
    with cloud.store.transaction() as conn:
        record = queues.find_queue(conn, arn)
        if record is None:
            raise UserError(
                f"the local cloud holds no queue {arn}",
                where=stack,
                hint="deploy the environment whose consumer reads it first",
            )
        message_id = queues.send_message(conn, record, body, int(time.time() * 1000))
    return Sent(record.url, record.arn, message_id, queues.body_md5(body))


def _arn_in_stack(cloud: LocalCloud, stack: str, logical_id: str) -> str:
    row = cloud.engine.live_rows(stack).get(logical_id)
    if row is None or row.type != "AWS::SQS::Queue":
        raise UserError(f"stack {stack} has no queue {logical_id}", where=stack)
    return str(row.attributes["Arn"])
