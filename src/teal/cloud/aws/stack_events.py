"""Following a stack's events live, each shown once, only this operation's.

CloudFormation lists events newest first, paged. Before an operation starts
we remember the newest event; each poll then reads pages until it meets an
event already seen, and hands the new ones on oldest first.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from teal.cloud.aws.retry import Retrier
from teal.cloud.base import StackEvent

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

STACK_TYPE = "AWS::CloudFormation::Stack"


def to_stack_event(raw: Any) -> StackEvent:
    return StackEvent(
        timestamp=raw["Timestamp"],
        stack_name=str(raw["StackName"]),
        logical_id=str(raw.get("LogicalResourceId", "")),
        resource_type=str(raw.get("ResourceType", "")),
        status=str(raw.get("ResourceStatus", "")),
        reason=raw.get("ResourceStatusReason"),
        physical_id=raw.get("PhysicalResourceId"),
    )


def is_stack_level(raw: Any, stack_id: str) -> bool:
    """Whether an event is about the stack itself rather than one of its resources."""
    return bool(raw.get("ResourceType") == STACK_TYPE and raw.get("PhysicalResourceId") == stack_id)


class EventTail:
    """The new events of one stack since :meth:`mark`, each returned once."""

    def __init__(self, cfn: CloudFormationClient, stack_id: str, retry: Retrier) -> None:
        self._cfn = cfn
        self.stack_id = stack_id
        self._retry = retry
        self._seen: set[str] = set()
        self.stack_level: list[StackEvent] = []

    def mark(self) -> None:
        """Remember the events that exist now: they belong to earlier operations."""
        response = self._retry(self._cfn.describe_stack_events, StackName=self.stack_id)
        self._seen.update(raw["EventId"] for raw in response.get("StackEvents", []))

    def poll(self) -> list[StackEvent]:
        """The events since the last poll, oldest first (a throttled read starts over)."""
        accepted: list[StackEvent] = self._retry(self._read_new)
        return accepted

    def _read_new(self) -> list[StackEvent]:
        fresh: list[Any] = []
        pages = self._cfn.get_paginator("describe_stack_events").paginate(StackName=self.stack_id)
        for page in pages:  # newest first: stop at the first event seen before
            for raw in page.get("StackEvents", []):
                if raw["EventId"] in self._seen:
                    return self._accept(fresh)
                fresh.append(raw)
        return self._accept(fresh)

    def _accept(self, fresh: list[Any]) -> list[StackEvent]:
        fresh.reverse()
        self._seen.update(raw["EventId"] for raw in fresh)
        events = [to_stack_event(raw) for raw in fresh]
        self.stack_level.extend(
            event
            for raw, event in zip(fresh, events, strict=True)
            if is_stack_level(raw, self.stack_id)
        )
        return events


def failures_since(
    cfn: CloudFormationClient, stack_id: str, since: datetime, retry: Retrier
) -> list[StackEvent]:
    """Failed events of a (nested) stack since ``since``, oldest first: one page at most."""
    response = retry(cfn.describe_stack_events, StackName=stack_id)
    events = [to_stack_event(raw) for raw in response.get("StackEvents", [])]
    failed = [e for e in events if e.failed and e.timestamp >= since]
    failed.reverse()
    return failed
