"""Versions and aliases on AWS: where each function's alias points (GetAlias, against a
moto server), and a canary's figures (Lambda's metrics by ExecutedVersion, one
GetMetricData, stubbed: moto keeps no Lambda metrics)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.stub import ANY, Stubber

from aws_fakes import (  # noqa: F401
    StubbedCloud,
    aws_env,
    moto,
    moto_clients,
    moto_cloud,
    moto_endpoint,
    stubbed,
)
from teal.cloud.aws import AwsCloud
from teal.cloud.base import AliasState, VersionRef
from teal.template.versions import ALIAS_NAME


def _zip() -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as bundle:
        bundle.writestr("index.py", "def handler(event, context):\n    return {}\n")
    return data.getvalue()


def _function(endpoint: str, name: str) -> Any:
    session = boto3.Session(region_name="us-east-1")
    iam = session.client("iam", endpoint_url=endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))
    client = session.client("lambda", endpoint_url=endpoint)
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="index.handler",
        Code={"ZipFile": _zip()},
    )
    return client


def test_status_reads_each_alias_and_its_canary_split(moto: str, moto_cloud: AwsCloud) -> None:  # noqa: F811
    client = _function(moto, "shop-dev-app")
    one = client.publish_version(FunctionName="shop-dev-app")["Version"]
    client.update_function_configuration(FunctionName="shop-dev-app", MemorySize=512)
    two = client.publish_version(FunctionName="shop-dev-app")["Version"]
    client.create_alias(
        FunctionName="shop-dev-app",
        Name=ALIAS_NAME,
        FunctionVersion=one,
        RoutingConfig={"AdditionalVersionWeights": {two: 0.1}},
    )
    _function(moto, "shop-dev-other")  # no alias: left out
    found = moto_cloud.function_aliases(["shop-dev-app", "shop-dev-other"], ALIAS_NAME)
    assert found == {"shop-dev-app": AliasState(one, two, 10.0)}


def test_a_canary_reads_lambdas_numbers_of_the_new_versions_in_one_call(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    seen: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        seen.extend(params["MetricDataQueries"])

    stubbed.clients.cloudwatch.meta.events.register("provide-client-params.*.*", capture)
    now = datetime(2026, 1, 1, 12, 10, tzinfo=UTC)
    since = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    results = [
        {"Id": "n0", "Values": [30.0, 12.0]},
        {"Id": "e0", "Values": [1.0]},
        {"Id": "q0", "Values": [80.0, 120.0]},
        {"Id": "n1", "Values": [8.0]},
        {"Id": "e1", "Values": [2.0]},
        {"Id": "q1", "Values": [300.0]},
    ]
    with Stubber(stubbed.clients.cloudwatch) as cloudwatch:
        cloudwatch.add_response(
            "get_metric_data",
            {"MetricDataResults": results},
            {
                "MetricDataQueries": ANY,
                "StartTime": since.replace(second=0) + timedelta(minutes=1),
                "EndTime": now,
                "ScanBy": "TimestampDescending",
            },
        )
        versions = [
            VersionRef("shop-dev-app", "4", ALIAS_NAME),
            VersionRef("shop-dev-jobs", "7", ALIAS_NAME),
        ]
        traffic = stubbed.cloud._metrics.version_traffic_since(versions, since, now=now)
        cloudwatch.assert_no_pending_responses()
    assert (traffic.requests, traffic.errors, traffic.p99_ms) == (50, 3, 300.0)
    dimensions = [q["MetricStat"]["Metric"]["Dimensions"] for q in seen]
    assert dimensions[0] == [
        {"Name": "FunctionName", "Value": "shop-dev-app"},
        {"Name": "Resource", "Value": "shop-dev-app:live"},
        {"Name": "ExecutedVersion", "Value": "4"},
    ]
    assert {q["MetricStat"]["Metric"]["Namespace"] for q in seen} == {"AWS/Lambda"}
    assert {q["MetricStat"]["Metric"]["MetricName"] for q in seen} == {
        "Invocations",
        "Errors",
        "Duration",
    }
