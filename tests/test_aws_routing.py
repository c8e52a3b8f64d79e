"""Previews and watches on AWS, through botocore's Stubber (moto has no routing rules and
computes no percentiles): the exact calls for a domain's routing mode and its routing
rules, and the CloudWatch reads of a watch, one per minute."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from aws_fakes import T0, StubbedCloud, missing_stack, stubbed  # noqa: F401
from teal.cloud.base import RoutingRule, StageRef
from teal.ops.environments import find_preview, preview_rule
from teal.ops.watch import watch_traffic
from teal.project.config import DomainSpec
from teal.rules.watch_rules import WatchLimits, breach_of
from teal.runtime.errors import OperationError
from test_aws_observe import counted

DOMAIN = "api.example.com"
RULE_ID = "abc123"


@pytest.fixture
def apigw(stubbed: StubbedCloud) -> Iterator[Stubber]:  # noqa: F811
    with Stubber(stubbed.clients.apigateway) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def v2(stubbed: StubbedCloud) -> Iterator[Stubber]:  # noqa: F811
    with Stubber(stubbed.clients.apigatewayv2) as stub:
        yield stub
        stub.assert_no_pending_responses()


def answered_rule(rule: RoutingRule) -> dict[str, Any]:
    """A rule as API Gateway answers CreateRoutingRule and ListRoutingRules."""
    conditions: list[dict[str, Any]] = [
        {"MatchHeaders": {"AnyOf": [{"Header": h, "ValueGlob": v} for h, v in rule.headers]}}
    ]
    if rule.base_paths:
        conditions.append({"MatchBasePaths": {"AnyOf": list(rule.base_paths)}})
    return {
        "Actions": [
            {
                "InvokeApi": {
                    "ApiId": rule.api_id,
                    "Stage": rule.stage,
                    "StripBasePath": rule.strip_base_path,
                }
            }
        ],
        "Conditions": conditions,
        "Priority": rule.priority,
        "RoutingRuleArn": f"arn:aws:apigateway:us-east-1::/domainnames/{DOMAIN}/routingrules/x",
        "RoutingRuleId": RULE_ID,
    }


def test_rules_go_first_once_the_domains_routing_mode_says_so(
    stubbed: StubbedCloud,  # noqa: F811
    apigw: Stubber,
) -> None:
    apigw.add_response(
        "get_domain_name",
        {"domainName": DOMAIN, "routingMode": "BASE_PATH_MAPPING_ONLY"},
        {"domainName": DOMAIN},
    )
    apigw.add_response(
        "update_domain_name",
        {"domainName": DOMAIN, "routingMode": "ROUTING_RULE_THEN_BASE_PATH_MAPPING"},
        {
            "domainName": DOMAIN,
            "patchOperations": [
                {
                    "op": "replace",
                    "path": "/routingMode",
                    "value": "ROUTING_RULE_THEN_BASE_PATH_MAPPING",
                }
            ],
        },
    )
    calls = counted(stubbed.clients.apigateway)
    stubbed.cloud.allow_routing_rules(DOMAIN)
    apigw.add_response(
        "get_domain_name",
        {"domainName": DOMAIN, "routingMode": "ROUTING_RULE_THEN_BASE_PATH_MAPPING"},
        {"domainName": DOMAIN},
    )
    stubbed.cloud.allow_routing_rules(DOMAIN)  # already so: one read, no write
    assert calls == ["GetDomainName", "UpdateDomainName", "GetDomainName"]


@pytest.mark.parametrize("base_path", ["", "v1"])
def test_a_preview_rule_is_one_create_call_with_its_header_and_base_path(
    stubbed: StubbedCloud,  # noqa: F811
    v2: Stubber,
    base_path: str,
) -> None:
    rule = preview_rule(DomainSpec(DOMAIN, base_path), "green", "dev", "2", 100)
    conditions: list[dict[str, Any]] = [
        {"MatchHeaders": {"AnyOf": [{"Header": "teal-preview", "ValueGlob": "2"}]}}
    ]
    if base_path:
        conditions.append({"MatchBasePaths": {"AnyOf": ["v1"]}})
    v2.add_response(
        "create_routing_rule",
        answered_rule(rule),
        {
            "DomainName": DOMAIN,
            "Priority": 100,
            "Conditions": conditions,
            "Actions": [
                {"InvokeApi": {"ApiId": "green", "Stage": "dev", "StripBasePath": bool(base_path)}}
            ],
        },
    )
    calls = counted(stubbed.clients.apigatewayv2)
    created = stubbed.cloud.create_routing_rule(DOMAIN, rule)
    assert calls == ["CreateRoutingRule"]
    assert created == RoutingRule(**{**rule.__dict__, "id": RULE_ID})


def test_rules_are_listed_and_deleted_by_id(
    stubbed: StubbedCloud,  # noqa: F811
    v2: Stubber,
) -> None:
    ours = preview_rule(DomainSpec(DOMAIN), "green", "dev", "2", 100)
    theirs = {**answered_rule(RoutingRule(5, "blue", "dev")), "Conditions": []}
    theirs["RoutingRuleId"] = "zzz"
    v2.add_response(
        "list_routing_rules",
        {"RoutingRules": [answered_rule(ours), theirs]},
        {"DomainName": DOMAIN},
    )
    v2.add_response("delete_routing_rule", {}, {"DomainName": DOMAIN, "RoutingRuleId": RULE_ID})
    v2.add_client_error(
        "delete_routing_rule",
        "NotFoundException",
        "Invalid routing rule identifier specified",
        expected_params={"DomainName": DOMAIN, "RoutingRuleId": RULE_ID},
    )
    calls = counted(stubbed.clients.apigatewayv2)
    listed = stubbed.cloud.list_routing_rules(DOMAIN)
    assert [(r.priority, r.id) for r in listed] == [(5, "zzz"), (100, RULE_ID)]
    assert listed[1] == RoutingRule(**{**ours.__dict__, "id": RULE_ID})
    stubbed.cloud.delete_routing_rule(DOMAIN, RULE_ID)
    stubbed.cloud.delete_routing_rule(DOMAIN, RULE_ID)  # gone already: fine
    assert calls == ["ListRoutingRules", "DeleteRoutingRule", "DeleteRoutingRule"]


def test_a_refused_rule_is_an_operation_error_naming_the_call(
    stubbed: StubbedCloud,  # noqa: F811
    v2: Stubber,
) -> None:
    v2.add_client_error("create_routing_rule", "ConflictException", "priority taken")
    with pytest.raises(OperationError, match="AWS refused CreateRoutingRule: ConflictException"):
        stubbed.cloud.create_routing_rule(DOMAIN, RoutingRule(100, "green", "dev"))


def test_the_guard_reads_the_rules_of_domains_that_route_by_rules_only(
    stubbed: StubbedCloud,  # noqa: F811
    apigw: Stubber,
    v2: Stubber,
) -> None:
    """The apply guard asks which rules send to an API: a domain still routing by mappings
    only costs no call (and moto's, which knows no routing modes, none either)."""
    apigw.add_response(
        "get_domain_names",
        {
            "items": [
                {"domainName": "old.example.com"},
                {"domainName": "mapped.example.com", "routingMode": "BASE_PATH_MAPPING_ONLY"},
                {"domainName": DOMAIN, "routingMode": "ROUTING_RULE_THEN_BASE_PATH_MAPPING"},
            ]
        },
        {},
    )
    rule = preview_rule(DomainSpec(DOMAIN), "green", "dev", "2", 100)
    v2.add_response(
        "list_routing_rules", {"RoutingRules": [answered_rule(rule)]}, {"DomainName": DOMAIN}
    )
    found = stubbed.cloud.rules_of_api("green")
    assert [(domain, r.id) for domain, r in found] == [(DOMAIN, RULE_ID)]


def test_a_watch_on_aws_reads_cloudwatch_once_a_minute_one_call_each(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    """Five minutes watched: five GetMetricData calls, each over the minutes since the
    switch; a window off the minute comes back as two points, summed (p99: the larger)."""
    stage = StageRef("green", "blog-dev-2", "dev")
    clock = [0.0]

    def answer(minute: int) -> dict[str, Any]:
        return {
            "MetricDataResults": [
                {"Id": "n0", "Values": [40.0 * minute, 10.0]},
                {"Id": "e0", "Values": [0.0, 0.0]},
                {"Id": "p0", "Values": [20.0, 25.0]},
                {"Id": "q0", "Values": [90.0, 140.0]},
            ]
        }

    with Stubber(stubbed.clients.cloudwatch) as cloudwatch:
        calls = counted(stubbed.clients.cloudwatch)
        for minute in range(1, 6):
            cloudwatch.add_response(
                "get_metric_data",
                answer(minute),
                {
                    "MetricDataQueries": ANY,
                    "StartTime": ANY,
                    "EndTime": ANY,
                    "ScanBy": "TimestampDescending",
                },
            )

        def sleep(seconds: float) -> None:
            clock[0] += seconds

        result = watch_traffic(
            stubbed.cloud,
            stage,
            WatchLimits(300, 1.0, 200.0),
            since=0.0,
            live=lambda _: None,
            clock=lambda: clock[0],
            sleep=sleep,
        )
        cloudwatch.assert_no_pending_responses()
    assert calls == ["GetMetricData"] * 5
    assert (result.figures.requests, result.figures.p99_ms) == (210, 140.0)
    assert result.breach is None and breach_of(result.figures, WatchLimits(300, 1.0, 100.0))


def test_a_watch_counts_the_whole_minutes_that_began_after_the_switch(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    seen: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        seen.append(params)

    stubbed.clients.cloudwatch.meta.events.register("provide-client-params.*.*", capture)
    stage = StageRef("green", "blog-dev-2", "dev")
    switched = T0 + timedelta(seconds=40)
    with Stubber(stubbed.clients.cloudwatch) as cloudwatch:
        calls = counted(stubbed.clients.cloudwatch)
        cloudwatch.add_response("get_metric_data", {"MetricDataResults": []})
        later = T0 + timedelta(minutes=7)
        read = stubbed.cloud._metrics.traffic_since([stage], switched, now=later)
        # within the switch's own minute nothing whole began yet: no call at all
        early = stubbed.cloud._metrics.traffic_since([stage], switched, now=switched)
    assert calls == ["GetMetricData"]
    (params,) = seen
    start = T0 + timedelta(minutes=1)
    assert (params["StartTime"], params["EndTime"]) == (start, later)
    assert {q["MetricStat"]["Period"] for q in params["MetricDataQueries"]} == {60}
    assert read[0].window_s == 360 and early[0].requests == 0


@pytest.mark.parametrize("mode", [None, "BASE_PATH_MAPPING_ONLY"])
def test_a_domain_that_routes_by_mappings_only_has_no_preview_and_costs_no_rule_call(
    stubbed: StubbedCloud,  # noqa: F811
    apigw: Stubber,
    v2: Stubber,  # any call to it would fail: none is stubbed
    mode: str | None,
) -> None:
    """switch and status read a domain's preview: for a domain never previewed (moto's
    too, which knows no routing mode) that is the domain's read alone."""
    answer = {"domainName": DOMAIN, **({"routingMode": mode} if mode else {})}
    apigw.add_response("get_domain_name", answer, {"domainName": DOMAIN})
    missing_stack(stubbed.cfn, "teal-domain-api-example-com")
    calls = counted(stubbed.clients.apigatewayv2)
    assert find_preview(stubbed.cloud, "blog", DomainSpec(DOMAIN)) is None
    assert calls == []
