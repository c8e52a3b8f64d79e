"""A watched switch on AWS is guarded beyond its command: alarms on the watched stage
(on a moto server) whose action is the domain's guard function, and that function
putting the mapping back through API Gateway's API (moto), only when it should."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from aws_fakes import aws_env, moto, moto_clients, moto_cloud, moto_endpoint, no_sleep  # noqa: F401
from teal.cloud.aws import AwsCloud, domain_template
from teal.cloud.aws.domains import WATCH_GUARD_OUTPUT, watch_guard_source
from teal.cloud.aws.retry import Retrier
from teal.cloud.aws.watch_alarms import WatchAlarms, alarm_names
from teal.cloud.aws.watch_guard_function import repoint
from teal.cloud.base import BasePathMapping, HistoryEntry
from teal.ops.watch import orphaned_watches
from teal.project.config import DomainSpec
from teal.rules.watch_rules import WatchedStage, WatchGuard, WatchLimits, watch_in_progress
from test_aws_domains import DOMAIN, domain, rest_api
from test_oplog import ended_pid

GUARD_ARN = "arn:aws:lambda:us-east-1:123456789012:function:teal-domain-guard"


def guard(blue: str, green: str, *, p99: float | None = None, since: float = 1000.0) -> WatchGuard:
    return WatchGuard(
        domain=DOMAIN,
        base_path="",
        watched=WatchedStage("blog-prod-2", green, "live"),
        back_to=WatchedStage("blog-prod", blue, "live"),
        since=since,
        limits=WatchLimits(seconds=300, max_error_rate=1.0, max_p99_ms=p99),
        host="laptop",
        pid=4242,
        process_started=None,
        lock_key=f"domain:{DOMAIN}",
    )


def alarm_event(watch: WatchGuard, state: str = "ALARM") -> dict[str, Any]:
    """What CloudWatch sends a Lambda alarm action (the parts the function reads)."""
    from teal.cloud.aws.watch_alarms import alarm_description

    return {
        "source": "aws.cloudwatch",
        "alarmData": {
            "alarmName": alarm_names(watch)[0],
            "state": {"value": state, "reason": "Threshold Crossed: 1 datapoint [12.5]"},
            "configuration": {"description": alarm_description(watch)},
        },
    }


def test_the_domain_stack_holds_a_guard_that_may_only_repoint_this_domain() -> None:
    template = domain_template(DomainSpec(DOMAIN, certificate_arn="arn:cert"))
    resources = template["Resources"]
    code = resources["WatchGuardFunction"]["Properties"]["Code"]["ZipFile"]
    assert len(code) < 4096  # CloudFormation's limit for inline code
    compile(code, "index.py", "exec")
    [statement] = resources["WatchGuardRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    assert statement["Action"] == ["apigateway:GET", "apigateway:PATCH"]
    assert f"/domainnames/{DOMAIN}/basepathmappings/*" in statement["Resource"]["Fn::Sub"]
    permission = resources["WatchGuardPermission"]["Properties"]
    assert permission["Principal"] == "lambda.alarms.cloudwatch.amazonaws.com"
    assert "alarm:teal-watch-api-example-com-*" in permission["SourceArn"]["Fn::Sub"]
    assert WATCH_GUARD_OUTPUT in template["Outputs"]
    assert "import boto3" in watch_guard_source()


@pytest.mark.parametrize("p99", [None, 800.0])
def test_arming_puts_alarms_that_invoke_the_guard_and_disarming_removes_them(
    moto_cloud: AwsCloud,  # noqa: F811
    p99: float | None,
) -> None:
    alarms = WatchAlarms(moto_cloud.clients.cloudwatch, Retrier(sleep=no_sleep))
    watch = guard("blue", "green", p99=p99)
    alarms.arm(watch, GUARD_ARN)
    found = moto_cloud.clients.cloudwatch.describe_alarms(AlarmNamePrefix="teal-watch-")
    by_name = {a["AlarmName"]: a for a in found["MetricAlarms"]}
    assert sorted(by_name) == sorted(alarm_names(watch))
    errors = by_name["teal-watch-api-example-com-errors"]
    assert errors["AlarmActions"] == [GUARD_ARN]
    assert (errors["Threshold"], errors["TreatMissingData"]) == (1.0, "notBreaching")
    expression = next(m["Expression"] for m in errors["Metrics"] if "Expression" in m)
    assert expression == "IF(e >= 2, 100 * e / IF(n < 20, 20, n), 0)"
    dimensions = next(m for m in errors["Metrics"] if m["Id"] == "e")["MetricStat"]["Metric"]
    assert {d["Name"]: d["Value"] for d in dimensions["Dimensions"]} == {
        "ApiName": "blog-prod-2",
        "Stage": "live",
    }
    assert json.loads(errors["AlarmDescription"])["back_api_id"] == "blue"
    if p99 is not None:
        assert by_name["teal-watch-api-example-com-p99"]["Threshold"] == 800.0

    alarms.disarm(watch)
    left = moto_cloud.clients.cloudwatch.describe_alarms(AlarmNamePrefix="teal-watch-")
    assert left["MetricAlarms"] == []


def test_the_guard_function_puts_the_mapping_back_on_an_alarm(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    domain(moto_cloud)
    blue, green = rest_api(moto_cloud, "blog-prod"), rest_api(moto_cloud, "blog-prod-2")
    moto_cloud.create_mapping(BasePathMapping(DOMAIN, "", green, "live"))
    watch = guard(blue, green)
    client = moto_cloud.clients.apigateway

    assert repoint(alarm_event(watch, "OK"), client, 1010.0)["acted"] is False
    assert repoint(alarm_event(watch), client, watch.deadline + 1)["acted"] is False
    assert moto_cloud.get_mapping(DOMAIN, "") == BasePathMapping(DOMAIN, "", green, "live")

    assert repoint(alarm_event(watch), client, 1010.0)["acted"] is True
    assert moto_cloud.get_mapping(DOMAIN, "") == BasePathMapping(DOMAIN, "", blue, "live")


def test_the_guard_function_leaves_a_domain_another_switch_moved(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    domain(moto_cloud)
    blue, green = rest_api(moto_cloud, "blog-prod"), rest_api(moto_cloud, "blog-prod-2")
    third = rest_api(moto_cloud, "blog-prod-3")
    moto_cloud.create_mapping(BasePathMapping(DOMAIN, "", third, "live"))
    answer = repoint(alarm_event(guard(blue, green)), moto_cloud.clients.apigateway, 1010.0)
    assert answer == {"acted": False, "why": "the domain no longer serves the watched stage"}
    assert moto_cloud.get_mapping(DOMAIN, "") == BasePathMapping(DOMAIN, "", third, "live")


def test_a_watch_whose_command_died_is_said_then_closed_after_its_deadline(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    """Any command reads the history first: it says what guards the watch, and once the
    deadline passed it removes the alarms and gives the entry its verdict."""
    pid, started = ended_pid()
    watch = replace(guard("blue", "green"), host=socket.gethostname(), pid=pid)
    watch = replace(watch, process_started=started)
    entry = HistoryEntry(
        time=datetime.now(UTC),
        user="ana",
        action="switch",
        environment="blog-prod-2",
        from_="blog-prod",
        to="blog-prod-2",
        details={"domain": DOMAIN, "watch": watch.to_json()},
    )
    moto_cloud.record_history("blog", entry)
    WatchAlarms(moto_cloud.clients.cloudwatch, Retrier(sleep=no_sleep)).arm(watch, GUARD_ARN)

    [during] = orphaned_watches(moto_cloud, "blog", now=watch.since + 10)
    assert "lost its command" in during and "CloudWatch alarms on its 5xx rate" in during
    assert watch_in_progress(moto_cloud.read_history("blog")[-1].details) is not None

    [after] = orphaned_watches(moto_cloud, "blog", now=watch.deadline + 1)
    assert "they are removed now" in after
    assert moto_cloud.clients.cloudwatch.describe_alarms()["MetricAlarms"] == []
    closed = moto_cloud.read_history("blog")[-1].details["watch"]
    assert closed["verdict"] == "interrupted" and "alarms guarded" in closed["note"]
    assert orphaned_watches(moto_cloud, "blog", now=watch.deadline + 2) == []
