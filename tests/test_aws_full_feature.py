"""The feature matrix's full app (every feature a teal App can have at once, the page
split included; as an env, not an extra, which never takes the domain) deployed
through teal's real AWS path on a moto server: boto3, the artifacts bucket,
nested pages uploaded and read back, change sets.

moto's CloudFormation does not model API Gateway, so the stacks are kept by
:mod:`aws_cfn_fake`, which makes the RestApi, its stage, the domain and the
queues real in moto. What CloudFormation received must be, fact for fact
(:mod:`template_facts`), what teal synthesized for the project, with the
stack's tags; a blue-green replacement behind the domain must change the
routes it was asked to change and nothing else, and leave the domain mapped
to the new API. moto runs no function behind an execute-api URL: the new
API's health check is answered for it (and the URL asked is checked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from aws_cfn_fake import FakeCloudFormation
from aws_fakes import FAST_POLL, aws_env, moto, moto_endpoint, no_sleep  # noqa: F401
from feature_matrix import WHEEL_NAME, full_app, project_of
from teal.cli.common import load_target
from teal.cloud.aws import AwsCloud
from teal.cloud.aws.session import open_session
from teal.cloud.base import DeployedStack
from teal.ops import bluegreen, checks
from teal.ops.checks import CheckResult
from teal.ops.decision import ReplacePolicy, package_for, with_layers
from teal.ops.deploy import deploy
from teal.project.config import Check, Target
from teal.project.loader import target_routes
from teal.template import synthesize
from template_facts import Fact, Facts
from test_aws_vendor import wheel


def ignore(_: object) -> None:
    return None


def faked_cloud(endpoint: str) -> tuple[AwsCloud, Any]:
    clients = open_session("us-east-1", None, endpoint)
    cloud = AwsCloud(clients, sleep=no_sleep, poll=FAST_POLL)
    own = open_session("us-east-1", None, endpoint)
    sqs = boto3.Session(region_name="us-east-1").client("sqs", endpoint_url=endpoint)
    FakeCloudFormation(own.apigateway, own.s3, sqs).attach(clients.cloudformation)
    return cloud, own.apigateway


def deployed_facts(stack: DeployedStack, target: Target, code_key: str) -> set[Fact]:
    rest_api = str(stack.template["Metadata"]["teal"]["rest_api_logical_id"])
    generation = rest_api.removeprefix("RestApi")
    replace = [(code_key, "{code}"), (target.environment, "{environment}")]
    if generation:
        replace.append((f"-g{generation}", ""))
    return Facts(
        "", stack.template, stack.nested_templates, tuple(replace), {rest_api: "{rest api}"}
    ).facts()


def synthesized_facts(target: Target) -> tuple[set[Fact], str]:
    package = package_for(target)
    target, key = with_layers(target, package), package.key  # as prepare() does
    synthesized = synthesize(target_routes(target), target, key)
    facts = Facts(
        "",
        synthesized.template,
        synthesized.nested_by_logical_id,
        ((key, "{code}"), (target.environment, "{environment}")),
        {synthesized.rest_api_logical_id: "{rest api}"},
    ).facts()
    return facts, key


@pytest.fixture
def full_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Target]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel(wheels, WHEEL_NAME, "1.0")
    # an extra environment never takes the domain: the env itself is deployed here
    features = tuple(f for f in full_app() if f.extra is None)
    project = project_of(features, wheels)
    project.write(tmp_path / "shop")
    _, target = load_target(tmp_path / "shop", project.env, project.extra, None)
    assert target.cloud == "aws" and target.domain is not None
    return tmp_path / "shop", target


def test_the_full_app_reaches_cloudformation_as_synthesized_and_a_replacement_keeps_it(
    moto: str,  # noqa: F811
    full_project: tuple[Path, Target],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, target = full_project
    asked: list[str] = []

    def answered(url: str, check: Check, **_: object) -> CheckResult:
        asked.append(url)
        return CheckResult(check, url, True, check.status, "answered", target.environment)

    monkeypatch.setattr(checks, "run_check", answered)
    monkeypatch.setattr(bluegreen, "run_check", answered)
    cloud, apigateway = faked_cloud(moto)
    expected, key = synthesized_facts(target)
    assert ("template", "API methods in nested stacks", "yes") in expected

    deploy(target, cloud, ReplacePolicy("auto"), on_event=ignore, progress=ignore, user="tester")
    stack = cloud.describe_stack(target.environment)
    assert stack is not None and stack.nested_templates
    assert deployed_facts(stack, target, key) == expected
    assert {"team": "blue", "tier": "1", "teal:env": "prod"}.items() <= stack.tags.items()
    api_id = stack.outputs["RestApiId"]
    (mapping,) = apigateway.get_base_path_mappings(domainName="api.example.com")["items"]
    assert (mapping["basePath"], mapping["restApiId"]) == ("v1", api_id)

    # a route renamed: the API is replaced behind the domain, and only that route changes
    app = root / "app.py"
    app.write_text(app.read_text().replace('"/posts/{post_id}"', '"/posts/{id}"'))
    report = deploy(
        target, cloud, ReplacePolicy("auto"), on_event=ignore, progress=ignore, user="tester"
    )
    assert report.api_replaced
    after = cloud.describe_stack(target.environment)
    assert after is not None
    renamed, key = synthesized_facts(target)
    found = deployed_facts(after, target, key)
    assert found ^ renamed == set()
    changed = {f for f in expected ^ found if "/posts" not in str(f)}
    assert changed == set()
    (mapping,) = apigateway.get_base_path_mappings(domainName="api.example.com")["items"]
    assert mapping["restApiId"] == after.outputs["RestApiId"] != api_id
    assert asked and all(url.startswith(after.outputs["Endpoint"]) for url in asked)
