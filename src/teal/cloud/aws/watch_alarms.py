"""The alarms that guard a watched switch on AWS, whether or not its command still runs.

While ``teal switch --watch`` runs it judges the switch itself, by CloudWatch's
numbers. So that a killed command (or a closed laptop) does not leave a broken
environment live unguarded, the switch also arms CloudWatch alarms on the watched
stage, each with the domain's guard function as its action
(:mod:`teal.cloud.aws.watch_guard_function`, deployed in the domain's stack):

- the **error rate**: ``IF(e >= MIN_ERRORS, 100 * e / IF(n < MIN_REQUESTS,
  MIN_REQUESTS, n), 0)`` over one minute, above ``max_error_rate``: the watch's
  own rule (:func:`teal.rules.watch_rules.breach_of`), per minute where the
  command judges the minutes since the switch together;
- the **p99 latency**, when the watch has a limit for it: ``IF(n >=
  MIN_REQUESTS, p99, 0)`` above ``max_p99_ms``.

Missing data does not breach. The command removes the alarms when its watch
ends; one that died leaves them, and the function ignores them after the
watch's deadline (the next command that sees the orphaned watch removes them).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from teal.cloud.aws.domains import watch_alarm_prefix as alarm_prefix
from teal.cloud.aws.metrics import NAMESPACE
from teal.cloud.aws.retry import Retrier
from teal.rules.watch_rules import MIN_ERRORS, MIN_REQUESTS, WatchGuard

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import (
        DimensionTypeDef,
        MetricDataQueryTypeDef,
        MetricStatTypeDef,
    )

PERIOD_S = 60


def alarm_names(guard: WatchGuard) -> list[str]:
    names = [alarm_prefix(guard.domain) + "errors"]
    if guard.limits.max_p99_ms is not None:
        names.append(alarm_prefix(guard.domain) + "p99")
    return names


def alarm_description(guard: WatchGuard) -> str:
    """What the guard function needs, in the alarm itself (at most 1,024 characters)."""
    return json.dumps(
        {
            "domain": guard.domain,
            "base_path": guard.base_path,
            "api_id": guard.watched.api_id,
            "stage": guard.watched.stage,
            "back_api_id": guard.back_to.api_id,
            "back_stage": guard.back_to.stage,
            "deadline": guard.deadline,
        },
        separators=(",", ":"),
    )


class WatchAlarms:
    def __init__(self, client: CloudWatchClient, retry: Retrier) -> None:
        self.client = client
        self.retry = retry

    def arm(self, guard: WatchGuard, action: str) -> None:
        """Put the watch's alarms, acting through ``action`` (the guard function's ARN)."""
        for name in alarm_names(guard):
            self.retry(self.client.put_metric_alarm, **self._alarm(name, guard, action))

    def disarm(self, guard: WatchGuard) -> None:
        self.retry(self.client.delete_alarms, AlarmNames=alarm_names(guard))

    def _alarm(self, name: str, guard: WatchGuard, action: str) -> dict[str, Any]:
        errors = name.endswith("errors")
        limits = guard.limits
        return {
            "AlarmName": name,
            "AlarmDescription": alarm_description(guard),
            "ActionsEnabled": True,
            "AlarmActions": [action],
            "Metrics": _error_rate(guard) if errors else _p99(guard),
            "Threshold": limits.max_error_rate if errors else float(limits.max_p99_ms or 0),
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "TreatMissingData": "notBreaching",
        }


def _stat(query_id: str, metric: str, guard: WatchGuard, stat: str) -> MetricDataQueryTypeDef:
    dimensions: list[DimensionTypeDef] = [
        {"Name": "ApiName", "Value": guard.watched.environment},
        {"Name": "Stage", "Value": guard.watched.stage},
    ]
    measured: MetricStatTypeDef = {
        "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
        "Period": PERIOD_S,
        "Stat": stat,
    }
    return {"Id": query_id, "MetricStat": measured, "ReturnData": False}


def _error_rate(guard: WatchGuard) -> list[MetricDataQueryTypeDef]:
    judged = f"IF(n < {MIN_REQUESTS}, {MIN_REQUESTS}, n)"
    return [
        _stat("n", "Count", guard, "SampleCount"),
        _stat("e", "5XXError", guard, "Sum"),
        {
            "Id": "rate",
            "Expression": f"IF(e >= {MIN_ERRORS}, 100 * e / {judged}, 0)",
            "Label": "5xx in percent of the requests",
            "ReturnData": True,
        },
    ]


def _p99(guard: WatchGuard) -> list[MetricDataQueryTypeDef]:
    return [
        _stat("n", "Count", guard, "SampleCount"),
        _stat("l", "Latency", guard, "p99"),
        {
            "Id": "p99",
            "Expression": f"IF(n >= {MIN_REQUESTS}, l, 0)",
            "Label": "p99 latency (ms)",
            "ReturnData": True,
        },
    ]
