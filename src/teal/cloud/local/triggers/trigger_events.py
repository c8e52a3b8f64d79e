"""The events EventBridge and Lambda's SQS poller hand a function, shaped as AWS shapes them.

- a scheduled event: EventBridge's ``Scheduled Event`` from ``aws.events``,
  the rule's ARN in ``resources``, the scheduled time (UTC, to the second);
- an SQS batch: ``Records``, one per message, each with its id, receipt
  handle, body, MD5 of the body, attributes (receive count, timestamps in ms
  as strings) and the queue's ARN.

``teal invoke`` can hand a function either shape to fire it now.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from teal.cloud.local.model import LOCAL_ACCOUNT_ID, LOCAL_REGION
from teal.cloud.local.triggers.queues import Message

SENDER_ID = "AIDAIENQZJOLO23YVJ4VO"  # the sender AWS reports for a message (a fixed id)


def arn_region_account(arn: str) -> tuple[str, str]:
    """The region and account an ARN names (``arn:aws:<service>:<region>:<account>:...``):
    an event says where its source lives, which is where the stack made it."""
    parts = arn.split(":")
    if len(parts) < 6 or not parts[3]:
        return LOCAL_REGION, LOCAL_ACCOUNT_ID
    return parts[3], parts[4] or LOCAL_ACCOUNT_ID


def scheduled_event(rule_arn: str, when: datetime) -> dict[str, Any]:
    """EventBridge's event for a rule's schedule firing at ``when``."""
    region, account_id = arn_region_account(rule_arn)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def sqs_event(queue_arn: str, messages: Sequence[Message]) -> dict[str, Any]:
    """Lambda's event for a batch of messages from one queue."""
    region, _ = arn_region_account(queue_arn)
    return {"Records": [_record(queue_arn, message, region) for message in messages]}


def _record(queue_arn: str, message: Message, region: str) -> dict[str, Any]:
    return {
        "messageId": message.id,
        "receiptHandle": message.receipt,
        "body": message.body,
        "attributes": {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(message.sent_ms),
            "SenderId": SENDER_ID,
            "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms),
        },
        "messageAttributes": {},
        "md5OfBody": message.md5,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
