"""CloudWatch Logs: a log group's events, one FilterLogEvents call per page.

botocore's paginator drives ``nextToken``; pages are read lazily, so a reader
that has enough stops the calls (a throttled call is retried by botocore's
standard retry mode, which every client has). A log group that does not
exist (an environment deployed before it had one) has no events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from teal.cloud.aws.retry import error_code
from teal.cloud.base import LogPage, LogQuery
from teal.rules.lambda_logs import LogEvent

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

MISSING_GROUP = "ResourceNotFoundException"


class CloudWatchLogs:
    def __init__(self, client: CloudWatchLogsClient) -> None:
        self.client = client

    def read(self, query: LogQuery) -> Iterator[LogPage]:
        params: dict[str, Any] = {"logGroupName": query.group, "startTime": query.start_ms}
        if query.end_ms is not None:
            params["endTime"] = query.end_ms - 1  # FilterLogEvents' end is inclusive
        pages = iter(self.client.get_paginator("filter_log_events").paginate(**params))
        while True:
            try:
                page = next(pages, None)
            except ClientError as error:
                if error_code(error) == MISSING_GROUP:
                    return
                raise
            if page is None:
                return
            yield LogPage(tuple(_event(query.group, raw) for raw in page.get("events", [])))


def _event(group: str, raw: Any) -> LogEvent:
    return LogEvent(
        timestamp_ms=int(raw.get("timestamp", 0)),
        group=group,
        stream=str(raw.get("logStreamName", "")),
        message=str(raw.get("message", "")).replace("\r", "\n").rstrip("\n"),
        id=str(raw.get("eventId", "")),
    )
