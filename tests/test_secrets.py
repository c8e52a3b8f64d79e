"""Secrets and parameters by reference: teal.toml, the template, the local cloud's store
and workers, the runtime's calls to AWS (on a moto server), and no value written down."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from aws_fakes import aws_env, moto, moto_endpoint  # noqa: F401
from e2e import LocalCloudEnv, free_port, get
from teal.cloud.aws import AwsCloud
from teal.cloud.aws.session import open_session
from teal.ops.secret_refs import refuse_missing_references
from teal.project.config import load_project, resolve_target
from teal.project.loader import target_routes
from teal.runtime import secrets
from teal.runtime.errors import ConfigError
from teal.template import synthesize

REPO = Path(__file__).resolve().parents[1]

TOML = """\
[app]
name = "vault"
entry = "app:app"
runtime = "python3.11"

[app.environment]
GREETING = "hello"
DB_URL = { ssm = "/vault/db-url" }
API_TOKEN = { secret = "vault/api", key = "token" }
"""

# The handler answers digests of what it saw at import time, never the values.
APP = """\
import hashlib
import os

from teal import App


def digest(name):
    return hashlib.sha256(os.environ.get(name, "").encode()).hexdigest()


AT_IMPORT = {name: digest(name) for name in ("DB_URL", "API_TOKEN")}
app = App()


@app.route("/seen", methods=["GET"])
def seen(request):
    return AT_IMPORT


@app.route("/boom", methods=["GET"])
def boom(request):
    raise ValueError("could not connect to " + os.environ["DB_URL"])
"""


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def write_project(root: Path, toml: str = TOML, app: str = APP) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "teal.toml").write_text(toml)
    (root / "app.py").write_text(app)
    return root


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[LocalCloudEnv]:
    cloud = LocalCloudEnv(tmp_path / "teal-home", free_port(), write_project(tmp_path / "vault"))
    yield cloud
    cloud.teal("local", "stop")


def endpoint_of(run_json: dict[str, Any]) -> str:
    return str(run_json["endpoint"]).rstrip("/")


# ---------------------------------------------------------------- teal.toml


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (
            '{ sssm = "/vault/x" }',
            "unknown key 'app.environment.DB_URL.sssm' (did you mean 'ssm'?)",
        ),
        ('{ ssm = "/aws/x" }', "AWS reserves parameter names starting with 'aws' or 'ssm'"),
        ('{ ssm = "a//b" }', "a hierarchy starts with '/'"),
        ('{ secret = "a b" }', "a secret name is 1-512 letters"),
        ('{ ssm = "/x", key = "k" }', "'key' picks a key of a secret's JSON"),
        ('{ ssm = "/x", secret = "y" }', "exactly one"),
        ('{ secret = "y", kms_key = "alias/mine" }', "an alias cannot be granted Decrypt"),
        ("5", "must be a string, in quotes"),
    ],
)
def test_a_bad_reference_is_refused_with_its_line_and_what_to_write(
    tmp_path: Path, value: str, said: str
) -> None:
    toml = f'[app]\nname = "vault"\n\n[app.environment]\nDB_URL = {value}\n'
    root = write_project(tmp_path / "p", toml)
    with pytest.raises(ConfigError) as refused:
        load_project(root)
    assert said in refused.value.what
    assert refused.value.where == f"{root / 'teal.toml'}:5"


def test_the_template_names_references_and_grants_their_arns_alone(tmp_path: Path) -> None:
    toml = TOML + textwrap.dedent(
        """
        [functions.boom.environment]
        SIGNING_KEY = { secret = "vault/signing", kms_key = "1234abcd-12ab-34cd-56ef-1234567890ab" }
        """
    )
    target = resolve_target(load_project(write_project(tmp_path / "p", toml)), environ={})
    resources = synthesize(target_routes(target), target, "code/x.zip").template["Resources"]
    functions = {
        r["Properties"]["FunctionName"]: r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    variables = functions["vault-dev-seen"]["Properties"]["Environment"]["Variables"]
    assert variables["GREETING"] == "hello"
    assert "DB_URL" not in variables and "API_TOKEN" not in variables
    assert json.loads(variables["TEAL_SECRETS"]) == {
        "API_TOKEN": {"secret": "vault/api", "key": "token"},
        "DB_URL": {"ssm": "/vault/db-url"},
    }
    roles = {logical: r for logical, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    policies = {
        name: next(
            p["PolicyDocument"]["Statement"]
            for p in role["Properties"]["Policies"]
            if p["PolicyName"] == "teal-secrets"
        )
        for name, role in roles.items()
    }

    def arn_of(service: str, resource: str) -> str:
        return f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"

    seen = next(v for k, v in policies.items() if "Seen" in k)
    assert seen == [
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParameters", "ssm:GetParameter"],
            "Resource": [{"Fn::Sub": arn_of("ssm", "parameter/vault/db-url")}],
        },
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [{"Fn::Sub": arn_of("secretsmanager", "secret:vault/api-??????")}],
        },
    ]
    boom = next(v for k, v in policies.items() if "Boom" in k)
    assert {"Fn::Sub": arn_of("secretsmanager", "secret:vault/signing-??????")} in boom[1][
        "Resource"
    ]
    assert boom[2] == {
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": [{"Fn::Sub": arn_of("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab")}],
    }


# ---------------------------------------------------------------- the runtime


def test_the_runtime_signs_as_botocore_does() -> None:
    """The signature of the runtime's own SigV4 code, checked against botocore's signer
    (at the moment botocore signed: it takes the time itself)."""
    environ = {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "session-token",
    }
    url = "https://ssm.eu-west-1.amazonaws.com/"
    body = b'{"Names": ["/a"], "WithDecryption": true}'
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AmazonSSM.GetParameters",
        },
    )
    credentials = Credentials("AKIDEXAMPLE", environ["AWS_SECRET_ACCESS_KEY"], "session-token")
    SigV4Auth(credentials, "ssm", "eu-west-1").add_auth(request)
    when = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    ours = secrets.sign(
        url, "eu-west-1", "ssm", "AmazonSSM.GetParameters", body, environ=environ, now=when
    )
    assert ours["authorization"] == request.headers["Authorization"]


def test_a_missing_json_key_is_named_and_values_are_redacted() -> None:
    reference = secrets.Reference("secret", "vault/api", "token")

    def fetch(_refs: object) -> dict[str, str]:
        return {"secret:vault/api": '{"other": "x"}'}

    with pytest.raises(secrets.SecretsError, match="key 'token' of secret:vault/api"):
        secrets.resolve({"API_TOKEN": reference}, fetch)
    secrets.remember(["s3cr3t-value"])
    assert secrets.redact("failed with s3cr3t-value") == f"failed with {secrets.REDACTED}"


RUNNER = """\
import json, sys
sys.path[:0] = [sys.argv[1]]
from teal.runtime.entry import handler
event = {"resource": "/seen", "path": "/seen", "httpMethod": "GET", "headers": {}}
print(json.dumps(handler(event, None)))
"""


def direct_invoke(project: Path, variables: dict[str, str], endpoint: str) -> Any:
    """Lambda's side of an invoke: teal's runtime in a fresh interpreter with the
    function's variables, the execution environment's credentials, and AWS at moto."""
    env = {
        "PATH": os.environ["PATH"],
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": endpoint,
        **variables,
    }
    proc = subprocess.run(
        [sys.executable, "-I", "-c", RUNNER, str(project), str(REPO / "src")],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(json.loads(proc.stdout)["body"])


def test_on_moto_the_deploy_checks_the_references_and_the_function_reads_them(
    moto: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    root = write_project(
        tmp_path / "vault", TOML.replace('runtime = "python3.11"', 'cloud = "aws"')
    )
    target = resolve_target(load_project(root), environ={})
    cloud = AwsCloud(open_session("us-east-1", None, moto))
    with pytest.raises(ConfigError) as refused:  # nothing exists yet: refused, exit 2
        refuse_missing_references(cloud, target)
    assert "API_TOKEN refers to the secret vault/api, which does not exist" in refused.value.what
    assert refused.value.where == f"{root / 'teal.toml'}:9"

    session = boto3.Session(region_name="us-east-1")
    session.client("ssm", endpoint_url=moto).put_parameter(
        Name="/vault/db-url", Value="postgres://moto-db", Type="SecureString"
    )
    session.client("secretsmanager", endpoint_url=moto).create_secret(
        Name="vault/api", SecretString=json.dumps({"token": "moto-token"})
    )
    refuse_missing_references(cloud, target)  # both exist now

    template = synthesize(target_routes(target), target, "code/x.zip").template
    (function,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["FunctionName"].endswith("-seen")
    ]
    seen = direct_invoke(root, function["Properties"]["Environment"]["Variables"], moto)
    assert seen == {"DB_URL": digest("postgres://moto-db"), "API_TOKEN": digest("moto-token")}


# ---------------------------------------------------------------- the local cloud


def test_a_missing_reference_refuses_the_local_deploy_and_changes_nothing(
    vault: LocalCloudEnv,
) -> None:
    result = vault.teal("deploy", "--yes")
    assert result.code == 2, result.err
    assert "API_TOKEN refers to secret:vault/api" in result.err
    assert "teal secrets set secret:vault/api" in result.err
    assert vault.teal_ok("status", "--json").json()["environments"] == []


def test_values_reach_the_handler_at_import_and_a_change_recycles_its_workers(
    vault: LocalCloudEnv,
) -> None:
    vault.teal_ok("secrets", "set", "ssm:/vault/db-url", "postgres://first")
    token_file = vault.project.parent / "token.json"
    token_file.write_text(json.dumps({"token": "tok-1"}) + "\n")
    vault.teal_ok("secrets", "set", "secret:vault/api", "--from-file", str(token_file))
    deployed = vault.teal_ok("deploy", "--yes", "--json").json()
    url = endpoint_of(deployed)
    status, body = get(f"{url}/seen")
    assert status == 200, body
    assert json.loads(body) == {"DB_URL": digest("postgres://first"), "API_TOKEN": digest("tok-1")}

    vault.teal_ok("secrets", "set", "ssm:/vault/db-url", "postgres://second")
    status, body = get(f"{url}/seen")  # the warm worker had the old value: a new one answers
    assert json.loads(body)["DB_URL"] == digest("postgres://second")

    listed = vault.teal_ok("secrets", "list", "--json").json()["secrets"]
    assert listed == [
        {"ref": "secret:vault/api", "set": True, "used_by": ["[app.environment] API_TOKEN"]},
        {"ref": "ssm:/vault/db-url", "set": True, "used_by": ["[app.environment] DB_URL"]},
    ]
    store = vault.home / "secrets.json"
    assert store.stat().st_mode & 0o777 == 0o600


def test_secrets_commands_refuse_bad_input(vault: LocalCloudEnv) -> None:
    for args, said in [
        (("set", "vault/x", "v"), "is not a reference"),
        (("set", "ssm:/vault/x"), "no value given"),
        (("set", "ssm:/vault/x", ""), "is empty"),
        (("set", "ssm:/vault/x", "x" * 8193), "at most 8192 fit"),
        (("rm", "secret:vault/none"), "holds no secret:vault/none"),
    ]:
        result = vault.teal("secrets", *args)
        assert result.code == 2, (args, result.err)
        assert said in result.err


def test_no_value_is_written_anywhere_but_the_store(vault: LocalCloudEnv, tmp_path: Path) -> None:
    """Every file teal wrote (its home, the project, a package folder) is searched for
    the values, once the values went through a deploy, requests, an error whose message
    holds one, and every command that reports on the environment."""
    db_url = f"postgres://db-{uuid.uuid4().hex}"
    token = f"tok-{uuid.uuid4().hex}"
    vault.teal_ok("secrets", "set", "ssm:/vault/db-url", db_url)
    vault.teal_ok("secrets", "set", "secret:vault/api", json.dumps({"token": token}))
    url = endpoint_of(vault.teal_ok("deploy", "--yes", "--json").json())
    assert json.loads(get(f"{url}/seen")[1])["DB_URL"] == digest(db_url)
    status, _ = get(f"{url}/boom")
    assert status == 500
    out = tmp_path / "package-out"
    runs = [
        vault.teal_ok("status"),
        vault.teal_ok("status", "--json"),
        vault.teal_ok("plan"),
        vault.teal_ok("template"),
        vault.teal_ok("logs"),
        vault.teal_ok("secrets", "list"),
        vault.teal_ok("package", "--out", str(out)),
        vault.teal("invoke", "boom", "--json"),
    ]
    values = [db_url.encode(), token.encode()]
    for run in runs:
        assert not any(v.decode() in run.out + run.err for v in values)
    logs = vault.teal_ok("logs").out
    assert "could not connect to [redacted]" in logs  # the traceback teal's runtime printed
    searched = 0
    for folder in (vault.home, vault.project, out):
        for path in folder.rglob("*"):
            if path.is_file() and path != vault.home / "secrets.json":
                data = path.read_bytes()
                searched += 1
                assert not any(v in data for v in values), path
    assert searched > 10
    assert db_url.encode() in (vault.home / "secrets.json").read_bytes()


class NothingHeld:
    """A cloud that holds none of the references (the seam's one method the check uses)."""

    name = "local"

    def missing_references(self, references: list[secrets.Reference]) -> list[str]:
        return [reference.ref for reference in references]


def test_a_missing_reference_is_placed_at_the_table_that_wins(tmp_path: Path) -> None:
    toml = (
        '[app]\nname = "vault"\n\n[app.environment]\nDB_URL = { ssm = "/vault/db-url" }\n\n'
        '[env.prod.environment]\nDB_URL = { ssm = "/vault/prod-db-url" }\n'
    )
    root = write_project(tmp_path / "p", toml)
    target = resolve_target(load_project(root), env="prod", environ={})
    with pytest.raises(ConfigError) as refused:
        refuse_missing_references(NothingHeld(), target)  # type: ignore[arg-type]
    assert "ssm:/vault/prod-db-url" in refused.value.what
    assert refused.value.where == f"{root / 'teal.toml'}:8"
