"""`teal aws bootstrap` on a moto server: the stack (CloudFormation's fake, making the
role and the OIDC provider in moto's IAM) gives a role that only the named repository
may assume, holding the deploy policy; applied again it changes nothing; an account's
own GitHub provider is reused; --delete removes the stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest

from aws_cfn_fake import FakeCloudFormation
from aws_fakes import FAST_POLL, aws_env, moto, moto_endpoint, no_sleep  # noqa: F401
from e2e import Run
from teal.cloud.aws import AwsCloud
from teal.cloud.aws.bootstrap import GITHUB_OIDC_HOST
from teal.cloud.aws.session import open_session

REGION = "us-east-1"
TOML = """\
[app]
name = "shop"
cloud = "aws"

[aws]
region = "us-east-1"
"""


@pytest.fixture
def iam(
    moto: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """moto's IAM; every AwsCloud teal opens answers CloudFormation from one fake."""
    session = boto3.Session(region_name=REGION)
    client = session.client("iam", endpoint_url=moto)
    own = open_session(REGION, None, moto)
    fake = FakeCloudFormation(own.apigateway, own.s3, iam=client)

    def from_settings(
        cls: type[AwsCloud], region: str | None, profile: str | None, url: str | None = None
    ) -> AwsCloud:
        clients = open_session(region, profile, url)
        fake.attach(clients.cloudformation)
        return cls(clients, sleep=no_sleep, poll=FAST_POLL)

    monkeypatch.setattr(AwsCloud, "from_settings", classmethod(from_settings))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    return client


def project(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "teal.toml").write_text(TOML)
    return root


def role_of(iam: Any, arn: str) -> dict[str, Any]:
    role: dict[str, Any] = iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]
    return role


def trust_of(role: dict[str, Any]) -> dict[str, Any]:
    document = role["AssumeRolePolicyDocument"]
    return json.loads(unquote(document)) if isinstance(document, str) else document


def test_bootstrap_makes_a_role_only_the_repository_may_assume(
    iam: Any, tmp_path: Path, teal_cli: Callable[..., Run]
) -> None:
    root = project(tmp_path)
    args = ("aws", "bootstrap", "--github", "acme/shop", "--project", str(root))
    made = teal_cli(*args, "--json")
    assert made.code == 0, made.err
    answer = made.json()
    assert answer["stack"] == "teal-bootstrap-shop"
    assert answer["oidc_provider"] == "made" and answer["changed"] is True
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert [p["Arn"].endswith(GITHUB_OIDC_HOST) for p in providers] == [True]

    role = role_of(iam, answer["role_arn"])
    (statement,) = trust_of(role)["Statement"]
    assert statement["Principal"] == {"Federated": providers[0]["Arn"]}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
        f"{GITHUB_OIDC_HOST}:sub": [
            "repo:acme/shop:ref:refs/heads/main",
            "repo:acme/shop:pull_request",
        ],
    }
    held = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="teal-deploy")
    document = held["PolicyDocument"]
    sids = {s["Sid"] for s in document["Statement"]}
    assert {"TealStacks", "TealObjects", "StackLambda", "StackPassRoles"} <= sids
    assert "123456789012" in json.dumps(document)  # the account, named
    # the artifacts bucket is there, as teal makes it
    s3 = boto3.Session(region_name=REGION).client("s3", endpoint_url=iam.meta.endpoint_url)
    s3.head_bucket(Bucket="teal-artifacts-123456789012-us-east-1")

    again = teal_cli(*args, "--json")
    assert again.code == 0, again.err
    assert again.json()["changed"] is False
    assert again.json()["role_arn"] == answer["role_arn"]

    text = teal_cli(*args)
    assert text.out.strip() == answer["role_arn"]
    assert "TEAL_DEPLOY_ROLE_ARN" in text.err

    gone = teal_cli("aws", "bootstrap", "--delete", "--project", str(root), "--json")
    assert gone.code == 0 and gone.json() == {"deleted": True}
    again_gone = teal_cli("aws", "bootstrap", "--delete", "--project", str(root), "--json")
    assert again_gone.json() == {"deleted": False}


def test_an_accounts_own_github_provider_is_reused(
    iam: Any, tmp_path: Path, teal_cli: Callable[..., Run]
) -> None:
    arn = iam.create_open_id_connect_provider(
        Url=f"https://{GITHUB_OIDC_HOST}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=[]
    )["OpenIDConnectProviderArn"]
    root = project(tmp_path)
    made = teal_cli(
        "aws",
        "bootstrap",
        "--github",
        "acme/shop",
        "--branch",
        "release",
        "--project",
        str(root),
        "--json",
    )
    assert made.code == 0, made.err
    assert made.json()["oidc_provider"] == arn
    assert len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) == 1
    (statement,) = trust_of(role_of(iam, made.json()["role_arn"]))["Statement"]
    assert statement["Principal"] == {"Federated": arn}
    subjects = statement["Condition"]["StringEquals"][f"{GITHUB_OIDC_HOST}:sub"]
    assert subjects[0] == "repo:acme/shop:ref:refs/heads/release"


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (("--github", "not a repo"), "--github"),
        ((), "--github"),
        (("--github", "acme/shop", "--branch", " "), "--branch"),
    ],
)
def test_bad_bootstrap_input_changes_nothing(
    tmp_path: Path, teal_cli: Callable[..., Run], args: tuple[str, ...], where: str
) -> None:
    root = project(tmp_path)
    refused = teal_cli("aws", "bootstrap", *args, "--project", str(root), "--json")
    assert refused.code == 2
    assert refused.json()["error"]["where"] == where
