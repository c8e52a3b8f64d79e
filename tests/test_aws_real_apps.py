"""Real apps' resources on AWS: ``teal plan --cloud aws`` against moto shows them all, a
plan against a deployed stack (the CloudFormation fake) says what changes mean, and
``teal send`` puts a message into a stack's queue (moto's SQS, which is faithful)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws_cfn_fake import FakeCloudFormation
from aws_fakes import FAST_POLL, aws_env, moto, moto_endpoint, no_sleep  # noqa: F401
from e2e import Run
from runtime_here import RUNTIME
from teal.cli.plan import print_plan
from teal.cloud.aws import AwsCloud
from teal.cloud.aws.session import open_session
from teal.ops.decision import Decision, ReplacePolicy, prepare
from teal.ops.deploy import deploy
from teal.ops.environments import stack_queue
from teal.project.config import load_project, resolve_target

APP = """\
from teal import App

app = App()


@app.route("/")
def home(request):
    return {"ok": True}


@app.schedule("SCHEDULE")
def tick(event, context):
    pass


@app.on_sqs_message(queue="jobs", batch_size=5)
def work(event, context):
    pass
"""

TOML = f"""\
[app]
name = "shop"
runtime = "{RUNTIME}"
cloud = "aws"
policies = [{{ effect = "Allow", actions = ["dynamodb:GetItem"], resources = ["${{Orders.Arn}}"] }}]

[aws]
region = "us-east-1"

[functions.work]
layers = ["arn:aws:lambda:us-east-1:123456789012:layer:pillow:3"]

[queues.jobs]
max_receive_count = 4

[resources]
template = "resources.yaml"
"""

RESOURCES = """\
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
Outputs:
  OrdersTable:
    Value: !Ref Orders
"""


def write_project(root: Path, schedule: str = "rate(5 minutes)") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(APP.replace("SCHEDULE", schedule))
    (root / "teal.toml").write_text(TOML)
    (root / "resources.yaml").write_text(RESOURCES)
    return root


def test_plan_on_aws_shows_the_new_resources(
    moto: str,  # noqa: F811
    tmp_path: Path,
    teal_cli: Callable[..., Run],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = write_project(tmp_path / "shop")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    shown = teal_cli("plan", "--project", str(root), "--json")
    assert shown.code == 0, shown.err
    plan = shown.json()
    assert plan["action"] == "create"
    added = {c["type"] for c in plan["changes"]["added"]}
    assert {
        "AWS::Events::Rule",
        "AWS::Lambda::Permission",
        "AWS::Lambda::EventSourceMapping",
        "AWS::SQS::Queue",
        "AWS::DynamoDB::Table",
    } <= added
    assert "function tick will run on the schedule rate(5 minutes)" in plan["notes"]
    assert "function work will consume queue jobs (batches of up to 5)" in plan["notes"]
    assert "queue jobs-dead-letter will be created" in plan["notes"]
    text = teal_cli("plan", "--project", str(root))
    assert text.code == 0, text.err
    for kind in ("AWS::Events::Rule", "AWS::Lambda::EventSourceMapping", "AWS::DynamoDB::Table"):
        assert kind in text.out
    assert "• queue jobs will be created" in text.out


def faked_cloud(endpoint: str) -> tuple[AwsCloud, Any]:
    clients = open_session("us-east-1", None, endpoint)
    cloud = AwsCloud(clients, sleep=no_sleep, poll=FAST_POLL)
    own = open_session("us-east-1", None, endpoint)
    sqs = boto3.Session(region_name="us-east-1").client("sqs", endpoint_url=endpoint)
    FakeCloudFormation(own.apigateway, own.s3, sqs).attach(clients.cloudformation)
    return cloud, sqs


def deploy_to(cloud: AwsCloud, root: Path) -> Decision:
    target = resolve_target(load_project(root), cloud="aws")
    report = deploy(
        target,
        cloud,
        ReplacePolicy("auto"),
        on_event=lambda _event: None,
        progress=lambda _line: None,
        user="tester",
    )
    return report.decision


def test_a_plan_against_the_deployed_stack_explains_a_new_schedule(
    moto: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cloud, _ = faked_cloud(moto)
    root = write_project(tmp_path / "shop")
    assert deploy_to(cloud, root) is Decision.CREATE
    write_project(root, schedule="cron(0 6 * * ? *)")

    prepared = prepare(resolve_target(load_project(root), cloud="aws"), cloud)

    plan = prepared.plan
    assert not plan.replace and not plan.changes.replaced
    # the code changed (every function with it, and its alias to the new version) and the
    # rule in place
    modified = {c.type for c in plan.changes.modified}
    assert modified == {"AWS::Events::Rule", "AWS::Lambda::Function", "AWS::Lambda::Alias"}
    print_plan(plan)
    out = capsys.readouterr().out
    assert "the schedule of function tick changes: rate(5 minutes) -> cron(0 6 * * ? *)" in out


def test_send_puts_a_message_into_the_stacks_queue(
    moto: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    cloud, sqs = faked_cloud(moto)
    root = write_project(tmp_path / "shop")
    deploy_to(cloud, root)
    target = resolve_target(load_project(root), cloud="aws")

    logical_id = stack_queue(cloud, target, "jobs")
    url, message_id, md5 = astuple(cloud.send_message(target.environment, logical_id, '{"n": 1}'))

    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [(m["MessageId"], json.loads(m["Body"])) for m in received] == [(message_id, {"n": 1})]
    assert received[0]["MD5OfBody"] == md5


def test_send_to_a_queue_arn_goes_to_its_url(
    moto: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    cloud, sqs = faked_cloud(moto)
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sent_to = cloud.send_message("any-stack", arn, "hello").queue_url
    assert sent_to.endswith("/123456789012/orders")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hello"


def test_the_queue_url_of_an_arn() -> None:
    from teal.cloud.aws.queues import queue_url_of_arn

    assert queue_url_of_arn("arn:aws:sqs:eu-west-1:123456789012:jobs") == (
        "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"
    )
