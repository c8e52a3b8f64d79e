"""Warming on AWS: N warm-ups at once make N execution environments, counted by the log
stream each answers, sent again with a longer hold when fewer landed; a function that
fails to start is answered, a missing one refused; the live peak is CloudWatch's
ConcurrentExecutions per function name.

moto runs no Lambda code without Docker, so Lambda's placement is a typed fake with
threads (an invocation takes an idle execution environment, or makes one); the one
call teal makes is checked against botocore's model with the Stubber; the peak is read
from moto's CloudWatch.
"""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.response import StreamingBody
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
from teal.cloud.aws.warming import Warming, WarmUp, invoke_warm_up
from teal.cloud.base import FunctionNotFound
from teal.runtime.warmup import WARM_UP_KEY


def payload(data: Any) -> StreamingBody:
    raw = json.dumps(data).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


class FakeLambda:
    """Lambda's placement of synchronous invocations of one function: an idle execution
    environment if there is one, else a new one (busy with its init first); each is busy
    until its invocation returns. The runtime's warm-up holds it ``hold_s``."""

    def __init__(self, *, init_s: float = 0.05, failure: dict[str, str] | None = None) -> None:
        self.init_s = init_s
        self.failure = failure
        self.lock = threading.Lock()
        self.idle: list[str] = []
        self.made = 0
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **call: Any) -> dict[str, Any]:
        event = json.loads(call["Payload"])
        with self.lock:
            self.calls.append(call)
            cold = not self.idle
            if cold:
                self.made += 1
            environment = f"2026/05/01/[$LATEST]{self.made:032x}" if cold else self.idle.pop()
        if cold:
            time.sleep(self.init_s)
        try:
            if self.failure is not None:
                return {
                    "StatusCode": 200,
                    "FunctionError": "Unhandled",
                    "Payload": payload(self.failure),
                }
            time.sleep(event[WARM_UP_KEY]["hold_s"])
            return {
                "StatusCode": 200,
                "Payload": payload({"warmed": True, "environment": environment}),
            }
        finally:
            with self.lock:
                self.idle.append(environment)


def test_n_warm_ups_at_once_make_n_execution_environments() -> None:
    lambda_ = FakeLambda()
    warmed = Warming(lambda_, hold_s=1.0).warm("blog-dev-posts", 5)  # type: ignore[arg-type]

    assert (warmed.asked, warmed.ready, warmed.error) == (5, 5, None)
    assert lambda_.made == 5 and len(lambda_.calls) == 5  # one round was enough
    assert all(c["FunctionName"] == "blog-dev-posts" for c in lambda_.calls)
    assert all(json.loads(c["Payload"]) == {WARM_UP_KEY: {"hold_s": 1.0}} for c in lambda_.calls)


def test_a_qualifier_reaches_the_invocation() -> None:
    lambda_ = FakeLambda()
    Warming(lambda_, hold_s=0.2).warm("blog-dev-posts", 1, qualifier="live")  # type: ignore[arg-type]
    assert lambda_.calls[0]["Qualifier"] == "live"


def test_fewer_environments_than_asked_send_them_again_holding_longer() -> None:
    """Lambda placing the warm-ups slower than the hold: the earliest environments are
    free again when the later ones arrive, so a round reaches fewer. Modelled: a hold
    shorter than the spread of arrivals reuses the first environment."""
    spread_s, holds = 0.3, []

    def invoke(_client: Any, name: str, hold_s: float, qualifier: str | None) -> WarmUp:
        holds.append(hold_s)
        n = len([h for h in holds if h == hold_s])  # the n-th of its round
        return WarmUp(f"env-{n if hold_s >= spread_s else 1}")

    warmed = Warming(None, hold_s=0.1, rounds=3, invoke=invoke).warm("f", 4)  # type: ignore[arg-type]

    assert warmed.ready == 4
    assert sorted(set(holds)) == [0.1, 0.2, 0.4]  # twice the hold each round, until all landed


def test_the_rounds_end_and_say_how_many_were_reached() -> None:
    warmed = Warming(None, hold_s=0.1, rounds=2, invoke=lambda *_: WarmUp("the-only-one")).warm(
        "f", 3
    )  # type: ignore[arg-type]
    assert (warmed.ready, warmed.error) == (1, None)


def test_a_function_that_fails_to_start_answers_its_error() -> None:
    failure = {"errorType": "RuntimeError", "errorMessage": "DATABASE_URL is not set"}
    warmed = Warming(FakeLambda(failure=failure), hold_s=0.1).warm("blog-dev-posts", 2)  # type: ignore[arg-type]
    assert warmed.ready == 0 and warmed.error is not None
    assert (warmed.error.type, warmed.error.message) == ("RuntimeError", "DATABASE_URL is not set")


def test_the_warm_up_call_as_botocore_models_it(stubbed: StubbedCloud) -> None:  # noqa: F811
    client = stubbed.clients.lambda_
    with Stubber(client) as lambda_stub:
        answer = {"warmed": True, "environment": "2026/05/01/[$LATEST]abc"}
        lambda_stub.add_response(
            "invoke",
            {"StatusCode": 200, "Payload": payload(answer)},
            {"FunctionName": "blog-dev-posts", "Payload": ANY, "Qualifier": "live"},
        )
        lambda_stub.add_client_error(
            "invoke", "ResourceNotFoundException", "Function not found", http_status_code=404
        )
        landed = invoke_warm_up(client, "blog-dev-posts", 2.0, "live")
        with pytest.raises(FunctionNotFound):
            invoke_warm_up(client, "blog-dev-gone", 2.0)
    assert landed == WarmUp("2026/05/01/[$LATEST]abc")


def test_the_peak_is_the_highest_concurrent_executions_of_each_function(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    points = {"blog-dev-posts": [3, 7, 2], "blog-dev-home": [1]}
    moto_cloud.clients.cloudwatch.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "ConcurrentExecutions",
                "Dimensions": [{"Name": "FunctionName", "Value": name}],
                "Timestamp": now - timedelta(minutes=5 + i),
                "Value": float(value),
            }
            for name, values in points.items()
            for i, value in enumerate(values)
        ],
    )
    names = ["blog-dev-posts", "blog-dev-home", "blog-dev-never-ran"]
    peaks = moto_cloud.peak_concurrency(names, 3600)
    assert peaks == {"blog-dev-posts": 7, "blog-dev-home": 1, "blog-dev-never-ran": 0}
