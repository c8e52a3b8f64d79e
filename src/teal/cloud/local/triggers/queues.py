"""SQS's queues in the store: send, receive with a visibility timeout, delete, redrive.

The rules, as SQS has them (its developer guide: "visibility timeout",
"dead-letter queues", "message retention"):

- a message sent is visible after the queue's ``DelaySeconds``;
- a message received is hidden for the queue's ``VisibilityTimeout``, and its
  receive count grows by one; deleting it with its latest receipt handle is
  the only way it leaves before its retention ends; if it is not deleted
  (the function failed), it is visible again when its timeout ends;
- with a ``RedrivePolicy``, a message already received ``maxReceiveCount``
  times moves to the dead-letter queue instead of being received again;
  without one, it comes back until its ``MessageRetentionPeriod`` ends, and
  is then dropped.

Every operation takes a connection inside the caller's transaction and the
time in milliseconds, so the gateway's poller and ``teal send`` share them
and a test may choose the clock.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from teal.cloud.local.store import from_json, to_json

DEFAULT_VISIBILITY_S = 30
DEFAULT_RETENTION_S = 345600  # four days


@dataclass(frozen=True)
class QueueRecord:
    arn: str
    url: str
    name: str
    attributes: Mapping[str, Any]

    @property
    def visibility_s(self) -> int:
        return int(self.attributes.get("VisibilityTimeout", DEFAULT_VISIBILITY_S))

    @property
    def retention_s(self) -> int:
        return int(self.attributes.get("MessageRetentionPeriod", DEFAULT_RETENTION_S))

    @property
    def delay_s(self) -> int:
        return int(self.attributes.get("DelaySeconds", 0))

    @property
    def redrive(self) -> tuple[str, int] | None:
        """(dead-letter queue ARN, maxReceiveCount), when the queue has a redrive policy."""
        policy = self.attributes.get("RedrivePolicy")
        if not isinstance(policy, dict):
            return None
        return str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"])


@dataclass(frozen=True)
class Message:
    """A message as a receive hands it out."""

    id: str
    body: str
    receipt: str
    sent_ms: int
    receive_count: int
    first_receive_ms: int

    @property
    def md5(self) -> str:
        return body_md5(self.body)


def body_md5(body: str) -> str:
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def queue_url(region: str, account_id: str, name: str) -> str:
    return f"https://sqs.{region}.amazonaws.com/{account_id}/{name}"


def queue_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account_id}:{name}"


def name_of_arn(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def create_queue(conn: sqlite3.Connection, record: QueueRecord, *, stand_in: bool = False) -> None:
    conn.execute(
        "INSERT INTO queues (arn, url, name, attributes, stand_in) VALUES (?, ?, ?, ?, ?)",
        (record.arn, record.url, record.name, to_json(dict(record.attributes)), int(stand_in)),
    )


def update_queue(conn: sqlite3.Connection, arn: str, attributes: Mapping[str, Any]) -> None:
    conn.execute(
        "UPDATE queues SET attributes = ?, stand_in = 0 WHERE arn = ?",
        (to_json(dict(attributes)), arn),
    )


def delete_queue(conn: sqlite3.Connection, arn: str) -> None:
    """The queue and the messages in it (SQS deletes them with it)."""
    conn.execute("DELETE FROM queue_messages WHERE queue_arn = ?", (arn,))
    conn.execute("DELETE FROM queues WHERE arn = ?", (arn,))


def is_stand_in(conn: sqlite3.Connection, arn: str) -> bool:
    """Whether the queue of ``arn`` is a stand-in a consumer made for a queue of another
    account, which a stack defining a queue of that ARN may take over."""
    row = conn.execute("SELECT stand_in FROM queues WHERE arn = ?", (arn,)).fetchone()
    return row is not None and bool(row[0])


def find_queue(conn: sqlite3.Connection, arn_or_url: str) -> QueueRecord | None:
    row = conn.execute(
        "SELECT arn, url, name, attributes FROM queues WHERE arn = ? OR url = ?",
        (arn_or_url, arn_or_url),
    ).fetchone()
    if row is None:
        return None
    return QueueRecord(row[0], row[1], row[2], from_json(row[3]))


def send_message(conn: sqlite3.Connection, queue: QueueRecord, body: str, now_ms: int) -> str:
    """Put a message in the queue; its id."""
    message_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO queue_messages (id, queue_arn, body, sent_ms, visible_ms) "
        "VALUES (?, ?, ?, ?, ?)",
        (message_id, queue.arn, body, now_ms, now_ms + queue.delay_s * 1000),
    )
    return message_id


def receive_messages(
    conn: sqlite3.Connection, queue: QueueRecord, limit: int, now_ms: int
) -> list[Message]:
    """Up to ``limit`` visible messages, hidden for the visibility timeout from now on.

    Expired messages are dropped first; a message past its redrive limit moves
    to the dead-letter queue and is not counted.
    """
    conn.execute(
        "DELETE FROM queue_messages WHERE queue_arn = ? AND sent_ms < ?",
        (queue.arn, now_ms - queue.retention_s * 1000),
    )
    received: list[Message] = []
    redrive = queue.redrive
    dead_letter = find_queue(conn, redrive[0]) if redrive is not None else None
    while len(received) < limit:
        rows = conn.execute(
            "SELECT seq, id, body, sent_ms, receive_count, first_receive_ms FROM queue_messages "
            "WHERE queue_arn = ? AND visible_ms <= ? ORDER BY seq LIMIT ?",
            (queue.arn, now_ms, limit - len(received)),
        ).fetchall()
        if not rows:
            break
        for row in rows:
            if redrive is not None and dead_letter is not None and row[4] >= redrive[1]:
                _move(conn, row[0], dead_letter, now_ms)  # received maxReceiveCount times
                continue
            received.append(_hide(conn, queue, row, now_ms))
    return received


def _hide(conn: sqlite3.Connection, queue: QueueRecord, row: Any, now_ms: int) -> Message:
    """Hand a message out: hidden for the visibility timeout, a new receipt handle."""
    seq, message_id, body, sent_ms, count, first = row
    receipt = uuid.uuid4().hex
    first_ms = first if first is not None else now_ms
    conn.execute(
        "UPDATE queue_messages SET receive_count = ?, first_receive_ms = ?, visible_ms = ?, "
        "receipt = ? WHERE seq = ?",
        (count + 1, first_ms, now_ms + queue.visibility_s * 1000, receipt, seq),
    )
    return Message(message_id, body, receipt, sent_ms, count + 1, first_ms)


def _move(conn: sqlite3.Connection, seq: int, dead_letter: QueueRecord, now_ms: int) -> None:
    """To the dead-letter queue: the same message (id, body, sent time), received afresh."""
    conn.execute(
        "UPDATE queue_messages SET queue_arn = ?, visible_ms = ?, receive_count = 0, "
        "first_receive_ms = NULL, receipt = NULL WHERE seq = ?",
        (dead_letter.arn, now_ms, seq),
    )


def delete_messages(conn: sqlite3.Connection, queue_arn: str, messages: list[Message]) -> int:
    """Delete messages by their latest receipt handles; how many were deleted."""
    deleted = 0
    for message in messages:
        deleted += conn.execute(
            "DELETE FROM queue_messages WHERE queue_arn = ? AND id = ? AND receipt = ?",
            (queue_arn, message.id, message.receipt),
        ).rowcount
    return deleted


def count_messages(conn: sqlite3.Connection, queue_arn: str) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM queue_messages WHERE queue_arn = ?", (queue_arn,)
    ).fetchone()
    return int(row[0])
