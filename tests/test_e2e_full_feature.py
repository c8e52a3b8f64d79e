"""An app with every feature at once, deployed to the local cloud through the CLI, each
feature checked by what it does, then replaced blue-green behind its domain while a
client keeps calling, and every feature checked again.

The features are those of :mod:`feature_matrix`, with handlers that answer:
routes (teal, raw, greedy), function and app settings and variables, [cors] and
a route's own CORS and cors=False, Lambda (TOKEN), Cognito and IAM authorizers,
an API key, a schedule, consumers of a teal queue and of a [resources] queue,
[resources] outputs, binary media types, requirements (a local wheel), a custom
domain with a base path, and an env's overrides (``--env prod``). What the local
cloud does not emulate (layers, VPC, IAM policies, reserved concurrency) is
checked to deploy and to be named by the deploy; the template's side of every
feature, alone and in pairs, is :mod:`test_feature_matrix`'s. Then a manual
switch of the domain to a parallel copy (``--extra green``), under a steady
client too. The tests run in order on one deployment (versions 1, 2, 3).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e import LocalCloudEnv, SteadyClient, free_port
from feature_matrix import LAYER, WHEEL_NAME
from teal.cloud.local.triggers.scheduler import SPEED_VARIABLE
from test_aws_vendor import wheel
from test_e2e_access import jwt, send
from test_e2e_schedules_queues import log_lines, wait_for

APP_ORIGIN = "https://app.example.com"
DOCS_ORIGIN = "https://docs.example.com"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123"
POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01"
ENVIRONMENT = "full-prod"
PROD = {"TEAL_ENV": "prod", SPEED_VARIABLE: "60"}  # rate(1 minute) fires each second

APP = f"""
import os

import {WHEEL_NAME}
from teal import App, CognitoAuthorizer, CORSConfig, Response, allow, deny

VERSION = "1"
app = App()


@app.authorizer("token", ttl=0, function="check_token")
def check_token(event, context):
    token = event["authorizationToken"]
    if token == "allow":
        return allow("ann")
    if token == "deny":
        return deny("bob")
    raise Exception("Unauthorized")


@app.route("/health", function="app")
def health(request):
    return {{"version": VERSION, "lib": {WHEEL_NAME}.VERSION}}


@app.route("/settings", function="app")
def settings(request):
    names = ("LOG_LEVEL", "FEATURE_FLAG", "STAGE", "PostsTable", "DB_URL")
    return {{name: os.environ.get(name) for name in names}}


@app.route("/posts/{{post_id}}", methods=["GET", "POST"], function="posts")
def post(request):
    return {{"post": request.path_params["post_id"]}}


@app.route("/hooks/{{source}}", methods=["POST"], raw=True, function="hooks")
def hook(event, context):
    return {{"statusCode": 202, "body": "raw " + event["pathParameters"]["source"]}}


@app.route("/files/{{path+}}", function="files")
def files(request):
    return {{"path": request.path_params["path"]}}


@app.route("/public", cors=CORSConfig("{DOCS_ORIGIN}"), function="public")
def public(request):
    return {{"public": True}}


@app.route("/internal", cors=False, function="internal")
def internal(request):
    return {{"internal": True}}


@app.route("/private", authorizer="token", function="private")
def private(request):
    return {{"user": request.event["requestContext"]["authorizer"]["principalId"]}}


@app.route("/members", authorizer=CognitoAuthorizer("members", ["{POOL}"]), function="members")
def members(request):
    return {{"email": request.event["requestContext"]["authorizer"]["claims"]["email"]}}


@app.route("/admin", authorizer="aws_iam", function="admin")
def admin(request):
    return {{"key": request.event["requestContext"]["identity"]["accessKey"]}}


@app.route("/metered", api_key_required=True, function="metered")
def metered(request):
    return {{"metered": True}}


@app.route("/echo", methods=["POST"], function="echo")
def echo(request):
    return Response(request.body, headers={{"Content-Type": "image/png"}})


@app.schedule("rate(1 minute)", function="tick")
def tick(event, context):
    print("TICK " + event["source"])


@app.on_sqs_message(queue="jobs", batch_size=5, function="work")
def work(event, context):
    for record in event["Records"]:
        print("GOT " + record["body"])


@app.on_sqs_message(queue="Inbox", function="inbox")
def inbox(event, context):
    for record in event["Records"]:
        print("INBOX " + record["body"])
"""

TOML = f"""
[app]
name = "full"
entry = "app:app"
runtime = "python3.11"
binary_media_types = ["image/png"]
policies = ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]
tags = {{ team = "blue" }}

[app.environment]
LOG_LEVEL = "debug"
DB_URL = {{ ssm = "/full/db-url" }}

[functions.app]
memory = 1024
timeout = 30
layers = ["{LAYER}"]
reserved_concurrency = 5
policies = [{{ effect = "Allow", actions = ["ses:SendEmail"], resources = ["*"] }}]

[functions.app.environment]
FEATURE_FLAG = "on"

[functions.app.vpc]
subnets = ["subnet-0abc1234"]
security_groups = ["sg-0abc1234"]

[queues.jobs]
max_receive_count = 3

[cors]
allow_origins = ["{APP_ORIGIN}"]

[resources]
template = "resources.yaml"

[domain]
name = "api.full.test"
base_path = "v1"

[env.prod]
memory = 512
environment = {{ STAGE = "prod" }}
"""

RESOURCES = """\
Resources:
  Posts:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Inbox:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 120
Outputs:
  PostsTable:
    Value: !Ref Posts
"""


@dataclass
class Deployed:
    cloud: LocalCloudEnv
    endpoint: str
    domain: str
    key: str
    environment: str = ENVIRONMENT

    def key_of(self, environment: str) -> str:
        """The API key ``teal status`` gives for one of the app's environments."""
        rows = self.teal("status", "--json")["environments"]
        assert isinstance(rows, list)
        (row,) = [row for row in rows if row["name"] == environment]
        return str(row["api_key"]["value"])

    def teal(self, *args: str) -> dict[str, object]:
        done = self.cloud.teal(*args, env=PROD)
        assert done.code == 0, done.err
        answer: dict[str, object] = json.loads(done.out) if "--json" in args else {}
        return answer


# Lines of teal.toml the last release could not read (tests/fixtures/last_release.py): the
# project it deployed had none of them.
AFTER_THE_LAST_RELEASE = ('DB_URL = { ssm = "/full/db-url" }\n',)


def write_full_project(root: Path, *, as_the_last_release: bool = False) -> Path:
    """The full app's project under ``root`` (its requirement's wheel beside it); with
    ``as_the_last_release``, in the words the last release read."""
    wheels = root / "wheels"
    wheels.mkdir()
    wheel(wheels, WHEEL_NAME, "1.0")
    project = root / "full"
    project.mkdir()
    (project / "app.py").write_text(textwrap.dedent(APP))
    toml = textwrap.dedent(TOML)
    for line in AFTER_THE_LAST_RELEASE if as_the_last_release else ():
        assert line in toml, line
        toml = toml.replace(line, "")
    (project / "teal.toml").write_text(toml)
    (project / "resources.yaml").write_text(RESOURCES)
    (project / "requirements.txt").write_text(f"--find-links {wheels}\n{WHEEL_NAME}==1.0\n")
    return project


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    root = tmp_path_factory.mktemp("full")
    project = write_full_project(root)
    cloud = LocalCloudEnv(root / "teal-home", free_port(), project)
    try:
        cloud.teal_ok("secrets", "set", "ssm:/full/db-url", "postgres://full")
        deployed = cloud.teal("deploy", "--json", env=PROD)
        assert deployed.code == 0, deployed.err
        # what the local cloud does not emulate, it says, once
        (ignored,) = [
            line for line in deployed.err.splitlines() if "ignores the functions'" in line
        ]
        assert all(word in ignored for word in ("layers", "reserved concurrency", "VPC"))
        assert "does not enforce IAM" in deployed.err
        report = deployed.json()
        (status,) = cloud.teal("status", "--json", env=PROD).json()["environments"]
        key = status["api_key"]["value"]
        yield Deployed(cloud, report["endpoint"], report["domain"]["url"], key)
    finally:
        cloud.teal("local", "stop")
        shutil.rmtree(root, ignore_errors=True)


def cors_of(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("access-control-")}


def answer(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> object:
    status, _, body = send(url, method, headers)
    assert status < 300, (url, status, body)
    return json.loads(body)


def check_every_feature(
    full: Deployed,
    base: str,
    version: str,
    key: str = "",
    *,
    db_url: str | None = "postgres://full",
) -> None:
    """Each feature, by what it does, at ``base`` (the stage's URL or the domain's);
    ``db_url``: the parameter's value the app sees (None: a project without it)."""
    assert answer(base + "health") == {"version": version, "lib": "1.0"}
    # variables: [app.environment] (a value, and a parameter's), [functions.app.environment],
    # [env.prod], [resources]
    variables = answer(base + "settings")
    assert isinstance(variables, dict) and variables.pop("PostsTable")
    assert variables == {
        "LOG_LEVEL": "debug",
        "FEATURE_FLAG": "on",
        "STAGE": "prod",
        "DB_URL": db_url,
    }
    # routes: a teal route, a raw one, a greedy one
    assert answer(base + "posts/7") == {"post": "7"}
    status, _, body = send(base + "hooks/github", "POST")
    assert (status, body) == (202, b"raw github")
    assert answer(base + "files/a/b.txt") == {"path": "a/b.txt"}
    check_cors(base)
    check_access(base, key or full.key)
    # binary media types: the PNG's bytes travel both ways as they are
    png = {"Content-Type": "image/png", "Accept": "image/png"}
    status, _, body = send_bytes(base + "echo", PNG, png)
    assert (status, body) == (200, PNG)


def check_cors(base: str) -> None:
    preflight = {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "GET"}
    status, headers, _ = send(base + "health", "OPTIONS", preflight)
    assert status == 200 and cors_of(headers)["access-control-allow-origin"] == APP_ORIGIN
    _, headers, _ = send(base + "health", headers={"Origin": APP_ORIGIN})
    assert cors_of(headers)["access-control-allow-origin"] == APP_ORIGIN
    docs = {**preflight, "Origin": DOCS_ORIGIN}
    status, headers, _ = send(base + "public", "OPTIONS", docs)
    assert status == 200 and cors_of(headers)["access-control-allow-origin"] == DOCS_ORIGIN
    _, headers, _ = send(base + "internal", headers={"Origin": APP_ORIGIN})
    assert cors_of(headers) == {}
    # API Gateway's own answers carry [cors] too
    status, headers, _ = send(base + "private", headers={"Origin": APP_ORIGIN})
    assert status == 401 and cors_of(headers)["access-control-allow-origin"] == APP_ORIGIN


def check_access(base: str, key: str) -> None:
    assert send(base + "private")[0] == 401
    assert send(base + "private", headers={"Authorization": "deny"})[0] == 403
    assert answer(base + "private", headers={"Authorization": "allow"}) == {"user": "ann"}
    assert send(base + "members")[0] == 401
    token = jwt({"iss": ISSUER, "token_use": "id", "exp": 4102444800, "email": "a@b.c"})
    assert answer(base + "members", headers={"Authorization": token}) == {"email": "a@b.c"}
    assert send(base + "admin")[0] == 403
    signed = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/"
        "execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "X-Amz-Date": "20260101T000000Z",
    }
    assert answer(base + "admin", headers=signed) == {"key": "AKIDEXAMPLE"}
    assert send(base + "metered")[0] == 403
    assert answer(base + "metered", headers={"x-api-key": key}) == {"metered": True}


def send_bytes(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        connection.request("POST", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def logged(
    cloud: LocalCloudEnv, function: str, prefix: str, environment: str = ENVIRONMENT
) -> list[str]:
    """The function's lines starting with ``prefix``, in either generation of its name
    (a replaced API's functions, schedules' and consumers' too, take a ``-g1`` suffix)."""
    names = (f"{environment}-{function}", f"{environment}-{function}-g1")
    return [line for name in names for line in log_lines(cloud, name, prefix, environment)]


def check_triggers(full: Deployed, word: str, extra: str | None = None) -> None:
    """The schedule fires again, and a message reaches each queue's consumer."""
    cloud, where = full.cloud, f"{ENVIRONMENT}-{extra}" if extra else ENVIRONMENT
    flags = ("--extra", extra) if extra else ()
    ticks = len(logged(cloud, "tick", "TICK", where))
    assert wait_for(lambda: len(logged(cloud, "tick", "TICK", where)) > ticks, 20)
    full.teal("send", "jobs", f"job-{word}", *flags)
    full.teal("send", "Inbox", f"mail-{word}", *flags)
    assert wait_for(lambda: bool(logged(cloud, "work", f"GOT job-{word}", where)), 15)
    assert wait_for(lambda: bool(logged(cloud, "inbox", f"INBOX mail-{word}", where)), 15)


def test_every_feature_answers_on_the_stage_and_through_the_domain(full: Deployed) -> None:
    check_every_feature(full, full.endpoint, "1")
    assert full.domain.endswith("/v1/")
    check_every_feature(full, full.domain, "1")
    check_triggers(full, "first")


def test_a_replacement_behind_the_domain_fails_no_request_and_keeps_every_feature(
    full: Deployed,
) -> None:
    full.cloud.edit_app('"/posts/{post_id}"', '"/posts/{id}"')
    full.cloud.edit_app('path_params["post_id"]', 'path_params["id"]')
    full.cloud.edit_app('VERSION = "1"', 'VERSION = "2"')
    with SteadyClient(full.domain + "health") as client:
        report = full.teal("deploy", "--json")
    assert report["api_replaced"] is True
    assert client.sent > 0 and client.failures == []
    (status,) = full.teal("status", "--json")["environments"]  # type: ignore[misc]
    assert status["api_key"]["value"] == full.key  # type: ignore[index]
    check_every_feature(full, full.domain, "2")
    check_every_feature(full, str(report["endpoint"]), "2")
    check_triggers(full, "after")


def test_a_manual_switch_to_a_parallel_copy_fails_no_request_and_keeps_every_feature(
    full: Deployed,
) -> None:
    full.cloud.edit_app('VERSION = "2"', 'VERSION = "3"')
    with SteadyClient(full.domain + "health") as client:
        green = full.teal("deploy", "--extra", "green", "--json")
        green_key = full.key_of(f"{ENVIRONMENT}-green")
        check_every_feature(full, str(green["endpoint"]), "3", green_key)
        switched = full.teal("switch", "--to", "green", "--json")
    assert (switched["from"], switched["to"]) == (ENVIRONMENT, f"{ENVIRONMENT}-green")
    assert client.sent > 0 and client.failures == []
    check_every_feature(full, full.domain, "3", green_key)
    check_triggers(full, "green", extra="green")
