"""API Gateway's traffic numbers from CloudWatch: one GetMetricData for many stages.

A REST API publishes ``Count``, ``5XXError`` and ``Latency`` in the
``AWS/ApiGateway`` namespace under the dimensions ``ApiName`` and ``Stage``.
Four queries per stage, over one period as long as the window: the request
count (``SampleCount`` of Count, as API Gateway's documentation reads it),
the 5xx answers (``Sum`` of 5XXError) and the latency's p50 and p99. One call
holds up to 500 queries, so 125 stages; botocore's paginator follows
``NextToken`` if CloudWatch splits the answer.

CloudWatch rounds the start down to the minute, so a window that does not
start on a whole minute comes back as two data points: the counts are their
sum, a percentile the larger of the two (percentiles do not add up; the
larger is the safe side for a watch's limit).

API Gateway publishes these metrics per minute, and a minute's numbers often
arrive a minute or two after it ended (CloudWatch's "late data"): what a
watch allows for (:data:`CLOUDWATCH_TIMING`).

Lambda's ``ConcurrentExecutions`` per function name (the Maximum of each
minute) says how many execution environments a live environment has been
using: a switch warms its target to the peak (:meth:`Metrics.peak_concurrency`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from teal.cloud.aws.retry import Retrier
from teal.cloud.base import StageRef, Traffic, TrafficTiming, VersionRef

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

NAMESPACE = "AWS/ApiGateway"
LAMBDA_NAMESPACE = "AWS/Lambda"
QUERIES_PER_CALL = 500
_STATISTICS = (("n", "Count", "SampleCount"), ("e", "5XXError", "Sum"))
_PERCENTILES = (("p", "p50"), ("q", "p99"))
STAGES_PER_CALL = QUERIES_PER_CALL // (len(_STATISTICS) + len(_PERCENTILES))
_SUMMED = tuple(key for key, _, _ in _STATISTICS)
# One-minute periods, which may come in up to two minutes late: a watch on AWS is at
# least 5 minutes long, and reads CloudWatch once a minute.
CLOUDWATCH_TIMING = TrafficTiming(period_s=60, delay_s=120)


class Metrics:
    def __init__(self, client: CloudWatchClient, retry: Retrier) -> None:
        self.client = client
        self.retry = retry

    def traffic(
        self, stages: Sequence[StageRef], window_s: int, now: datetime | None = None
    ) -> list[Traffic]:
        end = (now or datetime.now(UTC)).replace(microsecond=0)
        period = max(60, math.ceil(window_s / 60) * 60)  # CloudWatch's periods: whole minutes
        return self._read(stages, end - timedelta(seconds=period), end, period, window_s)

    def peak_concurrency(
        self, names: Sequence[str], window_s: int, now: datetime | None = None
    ) -> dict[str, int]:
        """Each function's highest ``ConcurrentExecutions`` (``AWS/Lambda``, per
        ``FunctionName``, the Maximum of each minute) over the last ``window_s`` seconds:
        one query per function, 500 to a call."""
        end = (now or datetime.now(UTC)).replace(microsecond=0)
        start = end - timedelta(seconds=max(60, window_s))
        values: dict[str, float] = {}
        for first in range(0, len(names), QUERIES_PER_CALL):
            batch = names[first : first + QUERIES_PER_CALL]
            queries = [_concurrency_query(i, name) for i, name in enumerate(batch, first)]
            values.update(self._values(queries, start, end))
        return {name: int(values.get(f"c{i}", 0)) for i, name in enumerate(names)}

    def traffic_since(
        self, stages: Sequence[StageRef], since: datetime, now: datetime | None = None
    ) -> list[Traffic]:
        """The minutes that began at ``since`` or later, each a data point (summed): a
        minute that began before it is left out whole, as CloudWatch cannot split it."""
        end = (now or datetime.now(UTC)).replace(microsecond=0)
        start = _next_minute(since)
        covered = max(0, int((end - start).total_seconds()))
        return self._read(stages, start, end, 60, covered)

    def version_traffic_since(
        self,
        versions: Sequence[VersionRef],
        since: datetime,
        now: datetime | None = None,
    ) -> Traffic:
        """The versions' invocations, errors and p99 (the largest of theirs) in the minutes
        that began at ``since`` or later: one GetMetricData."""
        end = (now or datetime.now(UTC)).replace(microsecond=0)
        start = _next_minute(since)
        covered = max(0, int((end - start).total_seconds()))
        if end <= start or not versions:
            return Traffic(covered, 0, 0, None, None)
        values = self._values(version_queries(versions, 60), start, end)
        each = [_traffic(i, covered, values) for i in range(len(versions))]
        p99s = [t.p99_ms for t in each if t.p99_ms is not None]
        return Traffic(
            covered,
            sum(t.requests for t in each),
            sum(t.errors for t in each),
            None,
            max(p99s) if p99s else None,
        )

    def _read(
        self,
        stages: Sequence[StageRef],
        start: datetime,
        end: datetime,
        period: int,
        window_s: int,
    ) -> list[Traffic]:
        """One GetMetricData per 125 stages (none when the window is empty)."""
        values: dict[str, float] = {}
        for first in range(0, len(stages) if end > start else 0, STAGES_PER_CALL):
            batch = stages[first : first + STAGES_PER_CALL]
            queries = [q for i, s in enumerate(batch, first) for q in _queries(i, s, period)]
            values.update(self._values(queries, start, end))
        return [_traffic(i, window_s, values) for i in range(len(stages))]

    def _values(self, queries: list[Any], start: datetime, end: datetime) -> dict[str, float]:
        pages = self.client.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampDescending"
        )
        points: dict[str, list[float]] = {}
        for page in self.retry(list, pages):  # a query's points may be split across pages
            for result in page.get("MetricDataResults", []):
                values = [float(v) for v in result.get("Values", [])]
                points.setdefault(str(result["Id"]), []).extend(values)
        return {
            key: sum(values) if key.startswith(_SUMMED) else max(values)
            for key, values in points.items()
            if values
        }


def _concurrency_query(index: int, name: str) -> dict[str, Any]:
    dimensions = [{"Name": "FunctionName", "Value": name}]
    metric = {"Namespace": LAMBDA_NAMESPACE, "MetricName": "ConcurrentExecutions"}
    return {
        "Id": f"c{index}",  # not a summed key: the largest of the minutes' maxima
        "MetricStat": {
            "Metric": {**metric, "Dimensions": dimensions},
            "Period": 60,
            "Stat": "Maximum",
        },
        "ReturnData": True,
    }


def version_queries(versions: Sequence[VersionRef], period: int) -> list[dict[str, Any]]:
    """Lambda's numbers of each version invoked through its alias (the ``ExecutedVersion``
    dimension): invocations, function errors and the duration's p99, per version."""
    queries: list[dict[str, Any]] = []
    for index, ref in enumerate(versions):
        dimensions = [
            {"Name": "FunctionName", "Value": ref.function},
            {"Name": "Resource", "Value": f"{ref.function}:{ref.alias}"},
            {"Name": "ExecutedVersion", "Value": ref.version},
        ]
        for key, metric, stat in (
            ("n", "Invocations", "Sum"),
            ("e", "Errors", "Sum"),
            ("q", "Duration", "p99"),
        ):
            queries.append(
                {
                    "Id": f"{key}{index}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": LAMBDA_NAMESPACE,
                            "MetricName": metric,
                            "Dimensions": dimensions,
                        },
                        "Period": period,
                        "Stat": stat,
                    },
                    "ReturnData": True,
                }
            )
    return queries


def _next_minute(when: datetime) -> datetime:
    """``when`` if it is a whole minute, else the next whole minute."""
    floor = when.replace(second=0, microsecond=0)
    return floor if floor == when else floor + timedelta(minutes=1)


def _queries(index: int, stage: StageRef, period: int) -> list[dict[str, Any]]:
    dimensions = [
        {"Name": "ApiName", "Value": stage.api_name},
        {"Name": "Stage", "Value": stage.stage},
    ]

    def query(key: str, metric: str, stat: str) -> dict[str, Any]:
        return {
            "Id": f"{key}{index}",
            "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
                "Period": period,
                "Stat": stat,
            },
            "ReturnData": True,
        }

    return [query(k, m, s) for k, m, s in _STATISTICS] + [
        query(k, "Latency", p) for k, p in _PERCENTILES
    ]


def _traffic(index: int, window_s: int, values: dict[str, float]) -> Traffic:
    requests = int(values.get(f"n{index}", 0))
    return Traffic(
        window_s=window_s,
        requests=requests,
        errors=int(values.get(f"e{index}", 0)),
        p50_ms=values.get(f"p{index}") if requests else None,
        p99_ms=values.get(f"q{index}") if requests else None,
    )
