"""SQS's SendMessage on the local cloud (``teal send``): a message into a queue the store holds.

The queue is named by its ARN: a queue the local cloud holds under it (a
stand-in for a queue of a real account included).
"""

from __future__ import annotations

import time

from teal.cloud.base import SentMessage
from teal.cloud.local.store import Store
from teal.cloud.local.triggers import queues
from teal.runtime.errors import UserError


def send_message(store: Store, stack: str, arn: str, body: str) -> SentMessage:
    """Send ``body`` to the queue ``arn`` (``stack`` is the one the user named)."""
    with store.transaction() as conn:
        record = queues.find_queue(conn, arn)
        if record is None:
            raise UserError(
                f"the local cloud holds no queue {arn}",
                where=stack,
                hint="deploy the environment whose consumer reads it first",
            )
        message_id = queues.send_message(conn, record, body, int(time.time() * 1000))
    return SentMessage(record.url, message_id, queues.body_md5(body))
