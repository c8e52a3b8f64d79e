"""What functions do, on AWS: CloudWatch Logs (moto), Lambda's Invoke and CloudWatch's
metrics (botocore's Stubber: moto runs no Lambda code without Docker and computes no
percentiles), with the calls they cost counted."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from aws_fakes import (  # noqa: F401
    T0,
    StubbedCloud,
    aws_env,
    moto,
    moto_clients,
    moto_cloud,
    moto_endpoint,
    stack,
    stacks,
    stubbed,
    template_body,
)
from teal.cloud.aws import AwsCloud
from teal.cloud.base import FunctionNotFound, StageRef
from teal.ops.invoke import invoke
from teal.ops.logs import read_logs
from test_template_support import make_target

GROUP = "/aws/lambda/blog-dev"
NOW_MS = int(datetime.now(UTC).timestamp() * 1000)
R = "8a3c2f10-0000-4000-8000-{:012d}"


def counted(client: Any) -> list[str]:
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    client.meta.events.register_first("before-call.*.*", count)
    return calls


# ---------------------------------------------------------------- logs, on moto


def write_invocation(cloud: AwsCloud, function: str, n: int, *output: str) -> str:
    """One invocation of ``function`` in its own log stream, as Lambda writes it."""
    logs = cloud.clients.logs
    stream = f"2026/05/01/{function}[$LATEST]{n:032x}"
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    request_id = R.format(n)
    messages = [
        f"START RequestId: {request_id} Version: $LATEST\n",
        *(line + "\n" for line in output),
        f"END RequestId: {request_id}\n",
        f"REPORT RequestId: {request_id}\tDuration: 1.50 ms\tBilled Duration: 2 ms\n",
    ]
    events = [
        {"timestamp": NOW_MS - 60_000 + n * 10 + i, "message": m} for i, m in enumerate(messages)
    ]
    logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)
    return request_id


def test_the_environments_logs_cost_one_call_per_page_whatever_its_functions(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    moto_cloud.clients.logs.create_log_group(logGroupName=GROUP)
    functions = ["blog-dev-home", "blog-dev-posts", "blog-dev-users", "blog-dev-tags"]
    for n, function in enumerate(functions):
        write_invocation(moto_cloud, function, n, f"hello from {function}")
    # after a replacement: the new generation's functions write to the same group
    replaced = write_invocation(moto_cloud, "blog-dev-posts-g1", 9, "hello from g1")
    calls = counted(moto_cloud.clients.logs)

    report = read_logs(moto_cloud, "blog-dev", NOW_MS - 600_000)

    assert calls == ["FilterLogEvents"]
    said = {(line.function, line.message) for line in report.lines}
    assert ("posts", "hello from blog-dev-posts") in said
    assert ("posts", "hello from g1") in said  # one stream across generations
    assert {line.function for line in report.lines} == {"home", "posts", "users", "tags"}
    (g1,) = [line for line in report.lines if line.message == "hello from g1"]
    assert (g1.request_id, g1.function_name) == (replaced, "blog-dev-posts-g1")


def test_a_log_group_that_does_not_exist_has_no_lines(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    report = read_logs(moto_cloud, "blog-dev", NOW_MS - 600_000)
    assert report.lines == ()


def test_more_pages_cost_one_call_each(stubbed: StubbedCloud) -> None:  # noqa: F811
    logs = Stubber(stubbed.clients.logs)
    calls = counted(stubbed.clients.logs)

    def page(n: int, token: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "events": [
                {
                    "logStreamName": f"2026/05/01/blog-dev-f{i}[$LATEST]{i:032x}",
                    "timestamp": NOW_MS - 1_000 + n * 100 + i,
                    "message": f"page {n} function {i}\n",
                    "eventId": f"{n}-{i}",
                    "ingestionTime": NOW_MS,
                }
                for i in range(6)
            ]
        }
        if token:
            body["nextToken"] = token
        return body

    since = NOW_MS - 600_000
    logs.add_response(
        "filter_log_events", page(0, "t1"), {"logGroupName": GROUP, "startTime": since}
    )
    logs.add_response(
        "filter_log_events",
        page(1, None),
        {"logGroupName": GROUP, "startTime": since, "nextToken": "t1"},
    )
    with logs:
        report = read_logs(stubbed.cloud, "blog-dev", since)
    assert calls == ["FilterLogEvents", "FilterLogEvents"]  # two pages, six functions
    assert len(report.lines) == 12
    assert len({line.function for line in report.lines}) == 6
    logs.assert_no_pending_responses()


# ---------------------------------------------------------------- invoke, through the Stubber


def deployed_template() -> dict[str, Any]:
    return {
        "Metadata": {"teal": {"functions": {"posts": "blog-dev-posts-g1"}}},
        "Resources": {"RestApi1": {"Type": "AWS::ApiGateway::RestApi"}},
    }


def expect_stack(s: StubbedCloud) -> None:
    tags = {"teal:app": "blog", "teal:env": "dev"}
    s.cfn.add_response("describe_stacks", stacks(stack("blog-dev", "UPDATE_COMPLETE", tags=tags)))
    s.cfn.add_response("get_template", {"TemplateBody": template_body(deployed_template())})


@pytest.fixture
def lambda_stub(stubbed: StubbedCloud) -> Iterator[Stubber]:  # noqa: F811
    with Stubber(stubbed.clients.lambda_) as stub:
        yield stub
        stub.assert_no_pending_responses()


def invoke_answer(payload: Any, log: str, error: str | None = None) -> dict[str, Any]:
    data = json.dumps(payload).encode()
    answer: dict[str, Any] = {
        "StatusCode": 200,
        "LogResult": base64.b64encode(log.encode()).decode(),
        "Payload": StreamingBody(io.BytesIO(data), len(data)),
        "ExecutedVersion": "$LATEST",
    }
    if error:
        answer["FunctionError"] = error
    return answer


INVOKED = {
    "FunctionName": "blog-dev-posts-g1",
    "InvocationType": "RequestResponse",
    "LogType": "Tail",
    "Payload": ANY,
}


def test_invoke_calls_the_current_generation_and_returns_result_and_log_tail(
    stubbed: StubbedCloud,  # noqa: F811
    lambda_stub: Stubber,
) -> None:
    expect_stack(stubbed)
    request_id = R.format(1)
    log = (
        f"START RequestId: {request_id} Version: $LATEST\nmarker\nEND RequestId: {request_id}\n"
        f"REPORT RequestId: {request_id}\tDuration: 12.34 ms\tBilled Duration: 13 ms\n"
    )
    lambda_stub.add_response(
        "invoke", invoke_answer({"statusCode": 200, "body": "hi"}, log), INVOKED
    )

    report = invoke(stubbed.cloud, make_target(cloud="aws"), "posts", {"path": "/posts"})

    assert report.to_json() == {
        "function": "posts",
        "function_name": "blog-dev-posts-g1",
        "request_id": request_id,
        "result": {"statusCode": 200, "body": "hi"},
        "error": None,
        "duration_ms": 12.34,
        "logs": log,
        "failed": False,
    }
    stubbed.done()


def test_invoke_reports_the_functions_error(
    stubbed: StubbedCloud,  # noqa: F811
    lambda_stub: Stubber,
) -> None:
    expect_stack(stubbed)
    error = {"errorType": "ZeroDivisionError", "errorMessage": "division by zero", "stackTrace": []}
    lambda_stub.add_response("invoke", invoke_answer(error, "[ERROR] ...", "Unhandled"), INVOKED)

    report = invoke(stubbed.cloud, make_target(cloud="aws"), "posts", {})

    assert report.to_json()["error"] == {"type": "ZeroDivisionError", "message": "division by zero"}
    assert report.to_json()["result"] is None


def test_invoking_a_function_lambda_does_not_know_is_bad_input(
    stubbed: StubbedCloud,  # noqa: F811
    lambda_stub: Stubber,
) -> None:
    expect_stack(stubbed)
    lambda_stub.add_client_error(
        "invoke", "ResourceNotFoundException", "Function not found", http_status_code=404
    )
    with pytest.raises(FunctionNotFound, match="blog-dev-posts-g1 is not deployed"):
        invoke(stubbed.cloud, make_target(cloud="aws"), "posts", {})


# ---------------------------------------------------------------- traffic, through the Stubber


def test_traffic_of_every_stage_is_one_call(stubbed: StubbedCloud) -> None:  # noqa: F811
    stages = [StageRef(f"api{i}", f"blog-dev-{i}", "dev") for i in range(3)]
    now = T0 + timedelta(hours=1)
    results = [
        {"Id": "n0", "Values": [120.0]},
        {"Id": "e0", "Values": [3.0]},
        {"Id": "p0", "Values": [21.5]},
        {"Id": "q0", "Values": [180.0]},
        {"Id": "n1", "Values": []},  # no requests: CloudWatch has no data points
    ]
    with Stubber(stubbed.clients.cloudwatch) as cloudwatch:
        calls = counted(stubbed.clients.cloudwatch)
        cloudwatch.add_response(
            "get_metric_data",
            {"MetricDataResults": results},
            {
                "MetricDataQueries": ANY,
                "StartTime": now - timedelta(seconds=300),
                "EndTime": now,
                "ScanBy": "TimestampDescending",
            },
        )
        found = stubbed.cloud._metrics.traffic(stages, 300, now=now)
        cloudwatch.assert_no_pending_responses()
    assert calls == ["GetMetricData"]
    assert [t.to_json() for t in found] == [
        {"window_s": 300, "requests": 120, "errors": 3, "p50_ms": 21.5, "p99_ms": 180.0},
        {"window_s": 300, "requests": 0, "errors": 0, "p50_ms": None, "p99_ms": None},
        {"window_s": 300, "requests": 0, "errors": 0, "p50_ms": None, "p99_ms": None},
    ]


def test_traffic_queries_name_the_rest_apis_dimensions(stubbed: StubbedCloud) -> None:  # noqa: F811
    seen: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        seen.extend(params["MetricDataQueries"])

    stubbed.clients.cloudwatch.meta.events.register("provide-client-params.*.*", capture)
    with Stubber(stubbed.clients.cloudwatch) as cloudwatch:
        cloudwatch.add_response("get_metric_data", {"MetricDataResults": []})
        stubbed.cloud.traffic([StageRef("abc", "blog-dev", "dev")], 300)
    stats = {(q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"]) for q in seen}
    assert stats == {
        ("Count", "SampleCount"),
        ("5XXError", "Sum"),
        ("Latency", "p50"),
        ("Latency", "p99"),
    }
    for query in seen:
        metric = query["MetricStat"]["Metric"]
        assert metric["Namespace"] == "AWS/ApiGateway"
        assert metric["Dimensions"] == [
            {"Name": "ApiName", "Value": "blog-dev"},
            {"Name": "Stage", "Value": "dev"},
        ]
        assert query["MetricStat"]["Period"] == 300


def test_status_shows_the_rest_when_cloudwatch_refuses(
    stubbed: StubbedCloud,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    from teal.ops.bluegreen import _traffic
    from teal.ops.environments import Environment

    environment = Environment("blog-dev", "dev", None, "UPDATE_COMPLETE", "abc", "dev", None)
    with Stubber(stubbed.clients.cloudwatch) as cloudwatch:
        cloudwatch.add_client_error("get_metric_data", "AccessDenied", "not allowed")
        with caplog.at_level("WARNING", logger="teal.warnings"):
            assert _traffic(stubbed.cloud, [environment]) == {}
    assert "traffic numbers unavailable: AWS refused GetMetricData" in caplog.text
