"""The deploy policy is exactly what teal calls: every AWS operation teal's boto3 code
calls during an application's life cycle (deploy, replacement, plan, an extra env,
switch, rollback, status, logs, send, unlock, delete, a preview's routing rules, an
invocation and a guarded watch) is recorded with botocore's ``before-parameter-build``
hook on the clients teal builds, and compared with the policy's table both ways.

S3, API Gateway's mappings, SQS, CloudWatch and its Logs are a moto server;
CloudFormation is the fake that keeps teal's templates (``aws_cfn_fake``); routing
rules and Lambda's Invoke, which moto does not run, answer from botocore's Stubber
(the warm-ups of switches and re-points, from a handler in the client's place).

Then the CLI life cycle runs as an IAM user holding only the policy, with moto's IAM
enforcement on: every call moto serves is authorized (S3's and SQS's against their
resources; moto names no resource of API Gateway, Logs and CloudWatch, so theirs are
checked by action), and taking one action out makes a named step fail. What moto
does not serve under enforcement stays out of that run: CloudFormation is the fake
(CloudFormation's own calls as the caller are not checked), routing rules, Invoke and
the watch's alarms are the first test's only.
"""

from __future__ import annotations

import ast
import json
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore import xform_name
from botocore.stub import Stubber
from moto.iam import access_control

from aws_cfn_fake import FakeCloudFormation
from aws_fakes import (  # noqa: F401
    FAST_POLL,
    answering_warm_ups,
    aws_env,
    moto,
    moto_endpoint,
    no_sleep,
    payload_of,
)
from e2e import REPO, Run
from runtime_here import RUNTIME
from teal.cloud.aws import AwsCloud, queues
from teal.cloud.aws.policy import TEAL_CALLS, Scope, deploy_policy
from teal.cloud.aws.session import AwsClients, open_session
from teal.cloud.base import RoutingRule, StageRef
from teal.ops import bluegreen, checks
from teal.ops.checks import CheckResult
from teal.project.config import Check, DomainSpec
from teal.rules.watch_rules import WatchedStage, WatchGuard, WatchLimits

REGION = "us-east-1"
DOMAIN = "shop.example.com"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
# Operations in the table that the life cycle below cannot reach, and why.
UNREACHED = {
    # an upload of 8 MB or more goes in parts (moto would take it; a test app is small)
    ("s3", "CreateMultipartUpload"): "a code zip of 8 MB or more",
    ("s3", "UploadPart"): "a code zip of 8 MB or more",
    ("s3", "CompleteMultipartUpload"): "a code zip of 8 MB or more",
    # a project whose teal.toml refers to parameters and secrets (test_secrets.py makes
    # these calls on a moto server)
    ("ssm", "DescribeParameters"): "references to Parameter Store",
    ("secretsmanager", "DescribeSecret"): "references to Secrets Manager",
}
TOML = f"""\
[app]
name = "shop"
runtime = "{RUNTIME}"
cloud = "aws"

[aws]
region = "{REGION}"

[domain]
name = "{DOMAIN}"
certificate_arn = "{CERTIFICATE}"
"""
APP = """\
from teal import App

app = App()


@app.route("/items/{id}")
def item(request, id):
    return {"id": id}


@app.on_sqs_message(queue="jobs")
def work(event, context):
    pass
"""


class CallLog:
    """(service, operation) of every call the clients it is attached to make."""

    def __init__(self) -> None:
        self.calls: set[tuple[str, str]] = set()

    def attach(self, client: Any) -> Any:
        # first: before the fake CloudFormation or a Stubber answers the call
        client.meta.events.register_first("before-parameter-build", self._seen)
        return client

    def _seen(self, model: Any, **_: Any) -> None:
        self.calls.add((model.service_model.service_name, model.name))


def clients_of(clients: AwsClients) -> list[Any]:
    return [
        clients.cloudformation,
        clients.s3,
        clients.apigateway,
        clients.logs,
        clients.lambda_,
        clients.cloudwatch,
        clients.apigatewayv2,
    ]


@pytest.fixture
def recorded(
    moto: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[CallLog, Callable[[], AwsCloud]]:
    """Every AwsCloud teal opens (the CLI's too) records its calls into one log."""
    log = CallLog()
    own = open_session(REGION, None, moto)  # the fake's own: not teal's calls
    sqs = boto3.Session(region_name=REGION).client("sqs", endpoint_url=moto)
    fake = FakeCloudFormation(own.apigateway, own.s3, sqs)

    def from_settings(
        cls: type[AwsCloud], region: str | None, profile: str | None, url: str | None = None
    ) -> AwsCloud:
        clients = answering_warm_ups(open_session(region, profile, url))
        fake.attach(clients.cloudformation)
        for client in clients_of(clients):
            log.attach(client)
        return cls(clients, sleep=no_sleep, poll=FAST_POLL)

    make_sqs = queues._sqs
    # moto serves no API's endpoint: every check passes (this test is about AWS's calls)
    for module in (checks, bluegreen):
        monkeypatch.setattr(module, "run_check", passing_check)
    monkeypatch.setattr(AwsCloud, "from_settings", classmethod(from_settings))
    monkeypatch.setattr(queues, "_sqs", lambda clients: log.attach(make_sqs(clients)))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    return log, lambda: AwsCloud.from_settings(REGION, None, moto)


def passing_check(base_url: str, check: Check, *_: Any, **__: Any) -> CheckResult:
    return CheckResult(check, checks.join_url(base_url, check.path), True, 200, "status 200")


def life_cycle(root: Path, teal: Callable[..., Run]) -> None:
    """The commands a team runs, through the CLI, each as it must end."""

    def ok(*args: str) -> Run:
        run = teal(*args, "--project", str(root))
        assert run.code == 0, (args, run.err[-800:])
        return run

    ok("deploy", "--yes", "--json")
    ok("plan", "--json")
    (root / "app.py").write_text(APP.replace("{id}", "{item_id}").replace(", id)", ", item_id)"))
    (root / "app.py").write_text(
        (root / "app.py").read_text().replace('{"id": id}', '{"id": item_id}')
    )
    assert ok("plan", "--json").json()["api"]["replace"] is True
    ok("deploy", "--yes", "--json")  # side by side, re-point, remove the old API
    ok("deploy", "--extra", "2", "--yes", "--json")
    ok("switch", "--to", "2", "--skip-checks", "--no-watch", "--json")
    ok("rollback", "--json")
    ok("status", "--json")
    ok("logs", "--json")
    ok("send", "jobs", "hello", "--json")
    ok("unlock", "--json")
    ok("delete", "--extra", "2", "--yes", "--json")
    ok("delete", "--force", "--yes", "--json")  # the live one: its mapping goes first


def preview_invoke_and_watch(cloud: AwsCloud) -> None:
    """What moto does not run, answered by Stubbers; the watch's alarms on moto."""
    clients = cloud.clients
    rule = {
        "Actions": [{"InvokeApi": {"ApiId": "a1", "Stage": "dev", "StripBasePath": False}}],
        "Conditions": [{"MatchHeaders": {"AnyOf": [{"Header": "teal-preview", "ValueGlob": "2"}]}}],
        "Priority": 1,
        "RoutingRuleArn": "arn:aws:apigateway:us-east-1:123456789012:/routingrules/r1",
        "RoutingRuleId": "r1",
    }
    with Stubber(clients.apigateway) as gateway, Stubber(clients.apigatewayv2) as v2:
        gateway.add_response("get_domain_name", {"domainName": DOMAIN})
        gateway.add_response("update_domain_name", {"domainName": DOMAIN})
        v2.add_response("create_routing_rule", rule)
        v2.add_response("list_routing_rules", {"RoutingRules": [rule]})
        v2.add_response("delete_routing_rule", {})
        cloud.allow_routing_rules(DOMAIN)
        cloud.create_routing_rule(DOMAIN, RoutingRule(1, "a1", "dev", (("teal-preview", "2"),)))
        assert cloud.list_routing_rules(DOMAIN)[0].id == "r1"
        cloud.delete_routing_rule(DOMAIN, "r1")
    with Stubber(clients.lambda_) as functions:
        functions.add_response("invoke", {"StatusCode": 200, "Payload": payload_of(b"{}")})
        cloud.invoke_function("shop-dev-item", {})
    now = datetime.now(UTC)
    cloud.traffic_since([StageRef("a1", "shop-dev-2", "dev")], now - timedelta(minutes=5))
    guard = WatchGuard(
        domain=DOMAIN,
        base_path="",
        watched=WatchedStage("shop-dev-2", "a2", "dev"),
        back_to=WatchedStage("shop-dev", "a1", "dev"),
        since=now.timestamp(),
        limits=WatchLimits(seconds=300, max_error_rate=1.0, max_p99_ms=500),
        host="ci",
        pid=1,
        process_started=None,
        lock_key=f"domain:{DOMAIN}",
    )
    cloud.guard_watch(DomainSpec(DOMAIN, "", CERTIFICATE), guard)
    cloud.unguard_watch(guard)


def test_the_policy_grants_what_the_life_cycle_calls_and_nothing_more(
    recorded: tuple[CallLog, Callable[[], AwsCloud]],
    tmp_path: Path,
    teal_cli: Callable[..., Run],
) -> None:
    log, open_cloud = recorded
    root = tmp_path / "shop"
    root.mkdir()
    (root / "teal.toml").write_text(TOML)
    (root / "app.py").write_text(APP)
    life_cycle(root, teal_cli)
    preview_invoke_and_watch(open_cloud())

    missing = log.calls - set(TEAL_CALLS)
    assert not missing, f"teal called these, and the policy does not grant them: {missing}"
    never = set(TEAL_CALLS) - log.calls - set(UNREACHED)
    assert not never, f"the policy grants these, and teal never called them: {never}"
    # each recorded call's IAM action is in the policy, on resources of this app
    policy = deploy_policy(Scope("shop", REGION, "123456789012", domains=(DOMAIN,)))
    granted = {a for s in policy.statements if s.sid.startswith("Teal") for a in s.actions}
    assert granted == {call.action for call in TEAL_CALLS.values()}


def test_every_operation_teals_code_names_is_in_the_policy_table() -> None:
    """Read from the source, so a call no life cycle reaches yet is caught as well: each
    name of an operation of the services teal uses, as an attribute or a paginator."""
    loader = botocore.session.get_session()
    services = {service for service, _ in TEAL_CALLS} | {"sts"}
    operations: dict[str, set[tuple[str, str]]] = {}
    for service in services:
        model = loader.get_service_model(service)
        for name in model.operation_names:
            operations.setdefault(xform_name(name), set()).add((service, name))
    named: set[str] = set()
    for path in sorted((REPO / "src" / "teal" / "cloud" / "aws").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                named.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                named.add(node.value)
    called = {name for name in named if name in operations}
    table = {xform_name(op) for _, op in TEAL_CALLS}
    # the guard function's own calls run as its role (the domain stack grants them)
    own_role = {"get_base_path_mapping", "update_base_path_mapping"}
    # sts:GetCallerIdentity proves the credentials: AWS answers it whatever the policy says
    assert called - table - own_role == {"get_caller_identity"}


# --- the life cycle as an IAM user holding only the policy --------------------------------

# AWS answers sts:GetCallerIdentity whatever a policy says; moto asks for a grant.
ANSWERED_TO_EVERYONE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}],
}
ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def user_keys(iam: Any, name: str, documents: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """A user holding exactly ``documents`` (managed policies), and its access key."""
    iam.create_user(UserName=name)
    for policy_name, document in documents.items():
        arn = iam.create_policy(
            PolicyName=f"{name}-{policy_name}", PolicyDocument=json.dumps(document)
        )["Policy"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


# The services whose requests moto authorizes against the resource "*" (it names no
# resource of theirs): a statement of theirs is checked for its actions only.
MOTO_NAMES_NO_RESOURCE = ("apigateway", "logs", "cloudwatch", "lambda", "cloudformation")


def in_motos_words(statement: dict[str, Any]) -> dict[str, Any]:
    """moto authorizes a request by its operation's name (s3:HeadBucket,
    apigateway:GetBasePathMapping), where IAM has its own words (s3:ListBucket,
    apigateway:GET): each action of the statement becomes the operations teal calls
    with it, as the policy's table says."""
    operations: dict[str, set[str]] = {}
    for (_, operation), call in TEAL_CALLS.items():
        prefix = call.action.split(":")[0]
        operations.setdefault(call.action, {call.action}).add(f"{prefix}:{operation}")
    actions = {a for action in statement["Action"] for a in operations.get(action, {action})}
    service = statement["Action"][0].split(":")[0]
    resource = "*" if service in MOTO_NAMES_NO_RESOURCE else statement["Resource"]
    return {**statement, "Action": sorted(actions), "Resource": resource}


def split(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """teal's own calls and CloudFormation's, as two managed policies (each under
    IAM's 6,144 characters)."""
    parts: dict[str, dict[str, Any]] = {}
    for statement in policy["Statement"]:
        kind = "teal" if statement["Sid"].startswith("Teal") else "stacks"
        parts.setdefault(kind, {"Version": "2012-10-17", "Statement": []})
        parts[kind]["Statement"].append(in_motos_words(statement))
    return parts


def authorize_every_call(endpoint: str, on: bool) -> None:
    """moto's IAM enforcement, for the requests after this one (off: as before)."""
    body = b"0" if on else b"inf"
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain"},  # moto reads the count from the raw body
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


@pytest.fixture
def enforced(
    moto: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Run the next commands as a user holding the given policy, moto checking each call."""
    iam = boto3.Session(region_name=REGION).client("iam", endpoint_url=moto)
    admin = user_keys(iam, "harness", {"all": ADMIN})
    harness = boto3.Session(
        aws_access_key_id=admin[0], aws_secret_access_key=admin[1], region_name=REGION
    )
    iam = harness.client("iam", endpoint_url=moto)  # users are made with auth on
    fake = FakeCloudFormation(
        harness.client("apigateway", endpoint_url=moto),
        harness.client("s3", endpoint_url=moto),
        harness.client("sqs", endpoint_url=moto),
    )
    users = iter(range(100))

    def as_user_holding(policy: dict[str, Any]) -> None:
        documents = {**split(policy), "sts": ANSWERED_TO_EVERYONE}
        key, secret = user_keys(iam, f"deployer{next(users)}", documents)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)

    def from_settings(
        cls: type[AwsCloud], region: str | None, profile: str | None, url: str | None = None
    ) -> AwsCloud:
        clients = answering_warm_ups(open_session(region, profile, url))
        fake.attach(clients.cloudformation)
        return cls(clients, sleep=no_sleep, poll=FAST_POLL)

    monkeypatch.setattr(AwsCloud, "from_settings", classmethod(from_settings))
    for module in (checks, bluegreen):
        monkeypatch.setattr(module, "run_check", passing_check)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    signed = access_control.IAMRequestBase._create_aws_request
    monkeypatch.setattr(
        access_control.IAMRequestBase, "_create_aws_request", lambda r: bodiless(r, signed)
    )
    authorize_every_call(moto, True)
    try:
        yield as_user_holding
    finally:
        authorize_every_call(moto, False)


def bodiless(request: Any, signed: Callable[[Any], Any]) -> Any:
    """moto re-signs a request without a body (API Gateway's GETs) with its parsed
    parameters as the payload, so no signature matches: re-sign it with none."""
    remade = signed(request)
    if request._method in ("GET", "HEAD", "DELETE") and not request._body:
        remade.data = b""
    return remade


def enforced_life_cycle(
    root: Path, teal: Callable[..., Run], *, first_failure: bool = False
) -> list[str]:
    """The CLI life cycle; the commands that failed, with their errors (or the first)."""
    failed: list[str] = []
    for args in (
        ("deploy", "--yes", "--json"),
        ("deploy", "--extra", "2", "--yes", "--json"),
        ("switch", "--to", "2", "--skip-checks", "--no-watch", "--json"),
        ("rollback", "--json"),
        ("plan", "--json"),
        ("status", "--json"),
        ("logs", "--json"),
        ("send", "jobs", "hello", "--json"),
        ("unlock", "--json"),
        ("delete", "--extra", "2", "--yes", "--json"),
        ("delete", "--force", "--yes", "--json"),
    ):
        run = teal(*args, "--project", str(root))
        if run.code != 0:
            failed.append(f"teal {' '.join(args)}: {run.err.strip().splitlines()[-2:]}")
            if first_failure:
                break
    return failed


def test_a_user_holding_only_the_policy_runs_the_life_cycle(
    enforced: Callable[[dict[str, Any]], None],
    tmp_path: Path,
    teal_cli: Callable[..., Run],
) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "teal.toml").write_text(TOML)
    (root / "app.py").write_text(APP)
    policy = deploy_policy(Scope("shop", REGION, "123456789012", domains=(DOMAIN,)))
    enforced(policy.document())
    assert enforced_life_cycle(root, teal_cli) == []


@pytest.mark.parametrize(
    ("taken", "first_failure"),
    [
        ("s3:DeleteObject", "teal deploy --yes --json"),  # the lock's release
        ("apigateway:PATCH", "teal switch --to 2"),  # the mapping's re-point
        ("sqs:SendMessage", "teal send jobs hello"),
    ],
)
def test_without_one_action_a_named_step_fails(
    enforced: Callable[[dict[str, Any]], None],
    tmp_path: Path,
    teal_cli: Callable[..., Run],
    taken: str,
    first_failure: str,
) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "teal.toml").write_text(TOML)
    (root / "app.py").write_text(APP)
    document = deploy_policy(Scope("shop", REGION, "123456789012", domains=(DOMAIN,))).document()
    for statement in document["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != taken] or [
            "sts:GetCallerIdentity"
        ]
    enforced(document)
    failed = enforced_life_cycle(root, teal_cli, first_failure=True)
    assert failed and failed[0].startswith(first_failure), failed


def test_another_apps_policy_does_not_deploy_this_app(
    enforced: Callable[[dict[str, Any]], None],
    tmp_path: Path,
    teal_cli: Callable[..., Run],
) -> None:
    """The resources are scoped (moto matches S3's and SQS's): the policy of app `other`
    lets no deploy of `shop` take its lock."""
    root = tmp_path / "shop"
    root.mkdir()
    (root / "teal.toml").write_text(TOML)
    (root / "app.py").write_text(APP)
    enforced(deploy_policy(Scope("other", REGION, "123456789012", domains=(DOMAIN,))).document())
    run = teal_cli("deploy", "--yes", "--json", "--project", str(root))
    assert run.code == 1
    assert "AWS refused PutObject: AccessDenied" in run.json()["error"]["what"]
