"""Fixtures and response shapes for the AWS cloud's tests.

A moto server on loopback serves S3 and API Gateway for real boto3 calls;
CloudFormation, which moto does not model faithfully, is driven through
botocore's Stubber with responses shaped like real ones.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from ports import free_port
from teal.cloud.aws import AwsCloud
from teal.cloud.aws.retry import Backoff
from teal.cloud.aws.session import AwsClients

REGION = "us-east-1"
ACCOUNT = "123456789012"
T0 = datetime(2026, 11, 26, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Fake credentials for the tests only, and no trace of the developer's AWS setup."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto(moto_endpoint: str, aws_env: None) -> str:
    """The moto server's URL, emptied for this test."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    return moto_endpoint


def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture(scope="session")
def moto_clients(moto_endpoint: str) -> AwsClients:
    """Clients on the moto server, made once: building boto3 clients is slow."""
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=moto_endpoint)  # type: ignore[call-overload]

    return AwsClients(
        account_id=ACCOUNT,
        region=REGION,
        endpoint_url=moto_endpoint,
        cloudformation=client("cloudformation"),
        s3=client("s3"),
        apigateway=client("apigateway"),
        logs=client("logs"),
        lambda_=client("lambda"),
        cloudwatch=client("cloudwatch"),
        apigatewayv2=client("apigatewayv2"),
    )


@pytest.fixture
def moto_cloud(moto: str, moto_clients: AwsClients) -> AwsCloud:
    return AwsCloud(moto_clients, sleep=no_sleep)


# --- CloudFormation through the Stubber -------------------------------------------------

FAST_POLL = Backoff(first=0.0, factor=1.0, cap=0.0)


@functools.cache
def _shared_session() -> boto3.Session:
    """One session for every stubbed test: its service models load once."""
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )


class StubbedCloud:
    """An AwsCloud whose CloudFormation client answers from a Stubber, never the network."""

    def __init__(self) -> None:
        session = _shared_session()
        self.clients = AwsClients(
            account_id=ACCOUNT,
            region=REGION,
            endpoint_url=None,
            cloudformation=session.client("cloudformation"),
            s3=session.client("s3"),
            apigateway=session.client("apigateway"),
            logs=session.client("logs"),
            lambda_=session.client("lambda"),
            cloudwatch=session.client("cloudwatch"),
            apigatewayv2=session.client("apigatewayv2"),
        )
        self.sleeps: list[float] = []
        self.cloud = AwsCloud(self.clients, sleep=self.sleeps.append, poll=FAST_POLL)
        self.cfn = Stubber(self.clients.cloudformation)
        self.s3 = Stubber(self.clients.s3)

    def __enter__(self) -> StubbedCloud:
        self.cfn.activate()
        self.s3.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cfn.deactivate()
        self.s3.deactivate()

    def done(self) -> None:
        self.cfn.assert_no_pending_responses()
        self.s3.assert_no_pending_responses()


@pytest.fixture
def stubbed() -> Iterator[StubbedCloud]:
    with StubbedCloud() as stubbed:
        yield stubbed


def stack_id(name: str, n: int = 1) -> str:
    suffix = f"{n:08d}-0000-0000-0000-000000000000"
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/{suffix}"


def stack(
    name: str,
    status: str,
    *,
    n: int = 1,
    outputs: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    reason: str | None = None,
    parent: str | None = None,
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "StackId": stack_id(name, n),
        "StackName": name,
        "StackStatus": status,
        "CreationTime": T0,
        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in (outputs or {}).items()],
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }
    if reason:
        raw["StackStatusReason"] = reason
    if parent:
        raw["ParentId"] = parent
        raw["RootId"] = parent
    return raw


def stacks(*raw: dict[str, Any]) -> dict[str, Any]:
    return {"Stacks": list(raw)}


def missing_stack(stubber: Stubber, name: str) -> None:
    stubber.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {name} does not exist",
        http_status_code=400,
    )


class EventLog:
    """Stack events for one stack, numbered in order, served newest first like AWS."""

    def __init__(self, name: str, n: int = 1) -> None:
        self.name = name
        self.stack_id = stack_id(name, n)
        self.events: list[dict[str, Any]] = []

    def add(
        self,
        logical_id: str,
        resource_type: str,
        status: str,
        reason: str | None = None,
        physical_id: str | None = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "StackId": self.stack_id,
            "EventId": f"{logical_id}-{status}-{len(self.events)}",
            "StackName": self.name,
            "LogicalResourceId": logical_id,
            "ResourceType": resource_type,
            "Timestamp": T0 + timedelta(seconds=len(self.events)),
            "ResourceStatus": status,
        }
        if reason:
            event["ResourceStatusReason"] = reason
        if physical_id:
            event["PhysicalResourceId"] = physical_id
        self.events.append(event)
        return event

    def stack_event(self, status: str, reason: str | None = None) -> dict[str, Any]:
        return self.add(
            self.name, "AWS::CloudFormation::Stack", status, reason, physical_id=self.stack_id
        )

    def page(self) -> dict[str, Any]:
        return {"StackEvents": list(reversed(self.events))}


def change_set_id(name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/teal-x/{name}"


def resource_change(
    action: str, logical_id: str, resource_type: str, replacement: str | None = None
) -> dict[str, Any]:
    change: dict[str, Any] = {
        "Action": action,
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "Scope": ["Properties"] if action == "Modify" else [],
        "Details": [],
    }
    if replacement is not None:
        change["Replacement"] = replacement
    return {"Type": "Resource", "ResourceChange": change}


def described_change_set(
    name: str,
    status: str,
    reason: str | None = None,
    changes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "ChangeSetName": "teal-x",
        "ChangeSetId": change_set_id(name),
        "StackId": stack_id(name),
        "StackName": name,
        "Status": status,
        "ExecutionStatus": "AVAILABLE" if status == "CREATE_COMPLETE" else "UNAVAILABLE",
        "Changes": changes or [],
    }
    if reason:
        response["StatusReason"] = reason
    return response


def template_body(template: dict[str, Any]) -> str:
    return json.dumps(template)


def payload_of(data: bytes) -> StreamingBody:
    """Lambda's Invoke ``Payload``, as botocore hands it over."""
    return StreamingBody(io.BytesIO(data), len(data))


def answering_warm_ups(clients: AwsClients) -> AwsClients:
    """Lambda's answer to each warm-up, which moto cannot run: a new execution environment
    for each (what teal's runtime answers, :mod:`teal.runtime.warmup`)."""
    made = itertools.count()

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = json.dumps({"warmed": True, "environment": f"[$LATEST]{next(made):032x}"})
        payload = payload_of(body.encode())
        return AWSResponse("", 200, {}, None), {"StatusCode": 200, "Payload": payload}

    clients.lambda_.meta.events.register("before-call.lambda.Invoke", answer)
    return clients
