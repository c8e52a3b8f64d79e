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

The fake makes every resource of a type moto serves real in moto
(:class:`aws_cfn_fake.MotoServices`), so after each deploy every resource the
stacks declare (the environment's, its nested pages', the domain's) is asked
of moto by its physical id, with the describe or get call of its type
(:data:`FOUND_BY`); a type moto cannot describe is listed in
:data:`NOT_IN_MOTO` with the reason, and a type in neither table fails the
test, so a new resource type forces a decision. The replacement keeps a
counterpart of each resource of every type, each found in moto too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aws_cfn_fake import FakeCloudFormation, FakeStack, MotoServices
from aws_fakes import (  # noqa: F401
    FAST_POLL,
    answering_warm_ups,
    aws_env,
    moto,
    moto_endpoint,
    no_sleep,
)
from feature_matrix import LAYER, SHARED_QUEUE, WHEEL_NAME, full_app, project_of
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


@dataclass(frozen=True)
class Moto:
    """The fake's own clients on the moto server (not teal's: nothing here is teal's call)."""

    apigateway: Any
    s3: Any
    sqs: Any
    iam: Any
    services: MotoServices


def moto_clients_at(endpoint: str) -> Moto:
    own = open_session("us-east-1", None, endpoint)
    session = boto3.Session(region_name="us-east-1")

    def client(name: str) -> Any:
        return session.client(name, endpoint_url=endpoint)  # type: ignore[call-overload]

    services = MotoServices(own.lambda_, own.logs, client("events"), client("dynamodb"))
    return Moto(own.apigateway, own.s3, client("sqs"), client("iam"), services)


def faked_cloud(endpoint: str) -> tuple[AwsCloud, Moto, FakeCloudFormation]:
    # moto runs no function: Lambda's answers to the warm-ups of a re-point, as teal's
    # runtime gives them
    clients = answering_warm_ups(open_session("us-east-1", None, endpoint))
    cloud = AwsCloud(clients, sleep=no_sleep, poll=FAST_POLL)
    found = moto_clients_at(endpoint)
    fake = FakeCloudFormation(found.apigateway, found.s3, found.sqs, found.iam, found.services)
    fake.attach(clients.cloudformation)
    return cloud, found, fake


def what_the_app_expects(found: Moto) -> None:
    """What the app names and does not make: the shared queue, and version 3 of the layer."""
    found.sqs.create_queue(QueueName=SHARED_QUEUE.rsplit(":", 1)[1])
    name, version = LAYER.split(":")[-2:]
    for _ in range(int(version)):
        found.services.lambda_.publish_layer_version(
            LayerName=name, Content={"ZipFile": b"PK\x05\x06" + b"\x00" * 18}
        )


# ---------------------------------------------------------------- every resource, in moto

Props = dict[str, Any]
# How moto is asked for a resource of each type: by its physical id, the describe or get
# call of the type; properties (resolved as CloudFormation resolved them) name the API,
# function or usage plan a sub-resource belongs to.
FOUND_BY: dict[str, Callable[[Moto, str, Props], object]] = {
    "AWS::ApiGateway::RestApi": lambda m, pid, p: m.apigateway.get_rest_api(restApiId=pid),
    "AWS::ApiGateway::Resource": lambda m, pid, p: m.apigateway.get_resource(
        restApiId=p["RestApiId"], resourceId=pid
    ),
    # a method's physical id is CloudFormation's own name: API Gateway knows it by its
    # resource and verb
    "AWS::ApiGateway::Method": lambda m, pid, p: m.apigateway.get_method(
        restApiId=p["RestApiId"], resourceId=p["ResourceId"], httpMethod=p["HttpMethod"]
    ),
    "AWS::ApiGateway::Authorizer": lambda m, pid, p: m.apigateway.get_authorizer(
        restApiId=p["RestApiId"], authorizerId=pid
    ),
    # likewise a gateway response: API Gateway knows it by its type
    "AWS::ApiGateway::GatewayResponse": lambda m, pid, p: m.apigateway.get_gateway_response(
        restApiId=p["RestApiId"], responseType=p["ResponseType"]
    ),
    "AWS::ApiGateway::Deployment": lambda m, pid, p: m.apigateway.get_deployment(
        restApiId=p["RestApiId"], deploymentId=pid
    ),
    "AWS::ApiGateway::Stage": lambda m, pid, p: m.apigateway.get_stage(
        restApiId=p["RestApiId"], stageName=pid
    ),
    "AWS::ApiGateway::ApiKey": lambda m, pid, p: m.apigateway.get_api_key(apiKey=pid),
    "AWS::ApiGateway::UsagePlan": lambda m, pid, p: m.apigateway.get_usage_plan(usagePlanId=pid),
    "AWS::ApiGateway::UsagePlanKey": lambda m, pid, p: m.apigateway.get_usage_plan_key(
        usagePlanId=p["UsagePlanId"], keyId=pid
    ),
    "AWS::ApiGateway::DomainName": lambda m, pid, p: m.apigateway.get_domain_name(domainName=pid),
    "AWS::IAM::Role": lambda m, pid, p: m.iam.get_role(RoleName=pid),
    "AWS::Lambda::Function": lambda m, pid, p: m.services.lambda_.get_function(FunctionName=pid),
    # a version's physical id is its qualified ARN, an alias's its ARN
    "AWS::Lambda::Version": lambda m, pid, p: m.services.lambda_.get_function(FunctionName=pid),
    "AWS::Lambda::Alias": lambda m, pid, p: m.services.lambda_.get_alias(
        FunctionName=pid.split(":")[-2], Name=pid.split(":")[-1]
    ),
    # moto lacks GetLayerVersionByArn: the ARN's name and number
    "AWS::Lambda::LayerVersion": lambda m, pid, p: m.services.lambda_.get_layer_version(
        LayerName=pid.split(":")[-2], VersionNumber=int(pid.split(":")[-1])
    ),
    "AWS::Lambda::Permission": lambda m, pid, p: _statement(m, p["FunctionName"], pid),
    "AWS::Lambda::EventSourceMapping": lambda m, pid, p: (
        m.services.lambda_.get_event_source_mapping(UUID=pid)
    ),
    "AWS::Events::Rule": lambda m, pid, p: m.services.events.describe_rule(Name=pid),
    "AWS::Logs::LogGroup": lambda m, pid, p: _log_group(m, pid),
    "AWS::SQS::Queue": lambda m, pid, p: m.sqs.get_queue_attributes(QueueUrl=pid),
    "AWS::DynamoDB::Table": lambda m, pid, p: m.services.dynamodb.describe_table(TableName=pid),
}
# Types the stacks declare that moto cannot be asked for, and why.
NOT_IN_MOTO = {
    "AWS::CloudFormation::Stack": "a nested page is a stack of the fake CloudFormation (moto's "
    "does not model API Gateway), not moto's; every resource in it is asked of moto here",
}


def _statement(found: Moto, function: str, statement_id: str) -> dict[str, Any]:
    policy = json.loads(found.services.lambda_.get_policy(FunctionName=function)["Policy"])
    (statement,) = [s for s in policy["Statement"] if s["Sid"] == statement_id]
    return dict(statement)


def _log_group(found: Moto, name: str) -> dict[str, Any]:
    groups = found.services.logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    (group,) = [g for g in groups if g["logGroupName"] == name]
    return dict(group)


@dataclass(frozen=True)
class Declared:
    """One resource a live stack declares, and whether moto has it."""

    stack: str
    logical_id: str
    kind: str
    physical: str
    in_moto: bool | None  # None: a type of NOT_IN_MOTO


def declared_resources(fake: FakeCloudFormation, found: Moto) -> Iterator[Declared]:
    """Every resource of every live stack (the environment's, its pages', the domain's),
    asked of moto by its physical id."""
    for stack in fake.stacks:
        if stack.status == "DELETE_COMPLETE":
            continue
        for logical_id, body in stack.template.get("Resources", {}).items():
            kind, physical = body["Type"], stack.physical[logical_id]
            yield Declared(
                stack.name,
                logical_id,
                kind,
                physical,
                _in_moto(fake, found, stack, kind, physical, body),
            )


def _in_moto(
    fake: FakeCloudFormation, found: Moto, stack: FakeStack, kind: str, physical: str, body: Props
) -> bool | None:
    if kind in NOT_IN_MOTO:
        return None
    assert kind in FOUND_BY, (
        f"{stack.name}/{kind}: a resource type neither asked of moto (FOUND_BY) nor "
        "listed with a reason (NOT_IN_MOTO)"
    )
    try:
        FOUND_BY[kind](found, physical, fake.value(stack, body.get("Properties", {})))
    except (ClientError, ValueError):  # ValueError: an answer without the statement or group
        return False
    return True


def every_resource_in_moto(fake: FakeCloudFormation, found: Moto) -> Counter[str]:
    """The resources of each type the live stacks declare, each found in moto."""
    declared = list(declared_resources(fake, found))
    missing = [d for d in declared if d.in_moto is False]
    assert missing == [], "declared, but not in moto:\n" + "\n".join(map(str, missing[:20]))
    return Counter(d.kind for d in declared)


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


def hold_the_referenced_values(endpoint: str) -> None:
    """The parameter and the secret the secret-references feature names: a deploy checks
    that they exist before it changes anything."""
    session = boto3.Session(region_name="us-east-1")
    ssm = session.client("ssm", endpoint_url=endpoint)
    ssm.put_parameter(Name="/shop/db-url", Value="postgres://shop", Type="SecureString")
    secrets = session.client("secretsmanager", endpoint_url=endpoint)
    secrets.create_secret(Name="shop/api", SecretString='{"token": "t0ken"}')


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
    cloud, served, fake = faked_cloud(moto)
    what_the_app_expects(served)
    hold_the_referenced_values(moto)
    apigateway = served.apigateway
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
    kinds = every_resource_in_moto(fake, served)
    assert set(kinds) - set(NOT_IN_MOTO) == set(FOUND_BY)  # no row of the tables is idle

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
    # every resource of every type has its counterpart after the replacement, in moto
    assert every_resource_in_moto(fake, served) == kinds
    with pytest.raises(ClientError):  # and the retired API is gone
        apigateway.get_rest_api(restApiId=api_id)
