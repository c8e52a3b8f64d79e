"""CORS, authorizers and API keys on the AWS path: S3 and API Gateway on a moto server,
CloudFormation answered by the fake that keeps teal's templates (moto's own does not
model API Gateway faithfully; see ``aws_cfn_fake``)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from aws_cfn_fake import FakeCloudFormation
from aws_fakes import FAST_POLL, aws_env, moto, moto_endpoint, no_sleep  # noqa: F401
from teal.cloud.aws import AwsCloud
from teal.cloud.aws.session import open_session
from teal.ops.bluegreen import status
from teal.ops.decision import ReplacePolicy, prepare
from teal.ops.deploy import deploy
from teal.plan.changeset import compare_change_set
from teal.project.config import load_project, resolve_target

ACCESS_TYPES = {
    "AWS::ApiGateway::Authorizer",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
}
APP = """
from teal import App, allow

app = App()


@app.authorizer("{name}", ttl=60)
def check(event, context):
    return allow("user")


@app.route("/orders", authorizer="{name}")
def orders(request):
    return {{}}


@app.route("/stock", api_key_required=True)
def stock(request):
    return {{}}
"""


def write_app(root: Path, authorizer: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "teal.toml").write_text(
        textwrap.dedent(
            """\
            [app]
            name = "shop"
            entry = "app:app"
            runtime = "python3.11"
            cloud = "aws"

            [aws]
            region = "us-east-1"

            [cors]
            allow_origins = ["https://app.example.com"]
            """
        )
    )
    (root / "app.py").write_text(textwrap.dedent(APP.format(name=authorizer)))
    return root


def ignore(_: object) -> None:
    return None


@pytest.fixture
def aws(moto: str) -> AwsCloud:  # noqa: F811
    clients = open_session("us-east-1", None, moto)
    cloud = AwsCloud(clients, sleep=no_sleep, poll=FAST_POLL)
    session = open_session("us-east-1", None, moto)
    FakeCloudFormation(session.apigateway, session.s3).attach(clients.cloudformation)
    return cloud


def test_the_plan_on_aws_shows_the_new_resources_and_cloudformations_change_set(
    aws: AwsCloud, tmp_path: Path
) -> None:
    root = write_app(tmp_path / "shop", "jwt")
    target = resolve_target(load_project(root), cloud="aws")
    first = prepare(target, aws, ignore).plan
    assert first.action == "create"
    assert {c.type for c in first.changes.added} >= ACCESS_TYPES

    deploy(target, aws, ReplacePolicy("auto"), on_event=ignore, progress=ignore, user="tester")
    (row,) = status(target, aws, ()).environments
    key = row.to_json()["api_key"]
    assert key["value"] is None  # teal reads no secret it has no need of
    assert f"aws apigateway get-api-key --api-key {key['id']} --include-value" in key["source"]

    write_app(root, "token")  # the authorizer renamed
    prepared = prepare(target, aws, ignore)
    plan = prepared.plan
    assert not plan.replace
    assert any(n.startswith("authorizer 'jwt' is renamed 'token'") for n in plan.notes)
    preview = compare_change_set(aws, target, plan.chosen, plan.changes, stack_exists=True)
    assert preview is not None and preview.rows
    rows = {(r.action, r.resource_type, r.teal) for r in preview.rows}
    assert ("Add", "AWS::ApiGateway::Authorizer", "add") in rows
    assert ("Remove", "AWS::ApiGateway::Authorizer", "remove") in rows
    assert ("Modify", "AWS::ApiGateway::Method", "modify") in rows


def test_the_deployed_template_holds_the_access_resources(aws: AwsCloud, tmp_path: Path) -> None:
    root = write_app(tmp_path / "shop", "jwt")
    target = resolve_target(load_project(root), cloud="aws")
    deploy(target, aws, ReplacePolicy("auto"), on_event=ignore, progress=ignore, user="tester")
    stack: Any = aws.describe_stack(target.environment)
    assert {r["Type"] for r in stack.template["Resources"].values()} >= ACCESS_TYPES
    assert stack.outputs["ApiKeyId"]
