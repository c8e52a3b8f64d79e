"""``teal aws bootstrap``: one stack that lets a GitHub repository deploy the app.

The stack ``teal-bootstrap-<app>`` holds GitHub's OIDC provider (unless the
account has one already: there is one per account, and the stack then names
it), and a deploy role that only that repository's workflows may assume (its
branch's pushes, and its pull requests for ``teal plan``), holding the deploy
policy inline (it is larger than one managed policy may be). The artifacts
bucket is made as teal makes it on first use, before the stack: it holds the
locks and the history of every app of the account, so no app's stack owns it.

Applying the same settings again changes nothing; ``--delete`` removes the
stack (and the provider if the stack made it), never the bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from teal.cloud.aws.failures import translated
from teal.cloud.aws.session import CLIENT_CONFIG
from teal.cloud.base import EventSink, NoUpdates, StackRequest
from teal.rules.labels import BOOTSTRAP_TAG, DEPLOY_ROLE_OUTPUT
from teal.runtime.errors import OperationError
from teal.template.types import Template

if TYPE_CHECKING:
    from teal.cloud.aws.cloud import AwsCloud

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
PROVIDER_ID = "GitHubOidcProvider"


def bootstrap_stack_name(app: str) -> str:
    return f"teal-bootstrap-{app}"


def trusted_subjects(repository: str, branch: str) -> list[str]:
    """The OIDC subjects the role accepts: pushes to the branch, and pull requests."""
    return [f"repo:{repository}:ref:refs/heads/{branch}", f"repo:{repository}:pull_request"]


def bootstrap_template(
    app: str, repository: str, branch: str, policy: dict[str, Any], provider_arn: str | None
) -> Template:
    """The stack; ``provider_arn`` is the account's own provider, None to make one."""
    resources: dict[str, Any] = {}
    provider: Any = provider_arn
    if provider_arn is None:
        resources[PROVIDER_ID] = {
            "Type": "AWS::IAM::OIDCProvider",
            "Properties": {"Url": f"https://{GITHUB_OIDC_HOST}", "ClientIdList": [AUDIENCE]},
        }
        provider = {"Ref": PROVIDER_ID}  # a provider's Ref is its ARN
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": trusted_subjects(repository, branch),
                    }
                },
            }
        ],
    }
    resources["DeployRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": f"teal deploys {app} from {repository} ({branch})",
            "AssumeRolePolicyDocument": trust,
            "Policies": [{"PolicyName": "teal-deploy", "PolicyDocument": policy}],
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"teal: GitHub {repository} deploys {app}",
        "Resources": resources,
        "Outputs": {DEPLOY_ROLE_OUTPUT: {"Value": {"Fn::GetAtt": ["DeployRole", "Arn"]}}},
    }


@dataclass(frozen=True)
class Bootstrapped:
    stack: str
    role_arn: str
    provider: str  # "made" by this stack, or the ARN of the account's own
    changed: bool


def bootstrap(
    cloud: AwsCloud,
    app: str,
    repository: str,
    branch: str,
    *,
    policy: dict[str, Any],
    on_event: EventSink,
) -> Bootstrapped:
    cloud.ensure_artifact_bucket()
    name = bootstrap_stack_name(app)
    current = cloud.describe_stack(name)
    owns_provider = current is not None and PROVIDER_ID in current.template.get("Resources", {})
    provider_arn = None if owns_provider else _account_provider(cloud)
    template = bootstrap_template(app, repository, branch, policy, provider_arn)
    request = StackRequest(name, template, tags={BOOTSTRAP_TAG: app})
    try:
        cloud.apply_stack(request, on_event)
        changed = True
    except NoUpdates:
        changed = False
    deployed = cloud.describe_stack(name)
    if deployed is None or DEPLOY_ROLE_OUTPUT not in deployed.outputs:
        raise OperationError(f"stack {name} has no deploy role", where=name)
    return Bootstrapped(name, deployed.outputs[DEPLOY_ROLE_OUTPUT], provider_arn or "made", changed)


def unbootstrap(cloud: AwsCloud, app: str, on_event: EventSink) -> bool:
    """Delete the app's bootstrap stack; False when there was none."""
    name = bootstrap_stack_name(app)
    if cloud.describe_stack(name) is None:
        return False
    cloud.delete_stack(name, on_event)
    return True


def _account_provider(cloud: AwsCloud) -> str | None:
    """The ARN of the account's GitHub OIDC provider, if it has one."""
    clients = cloud.clients
    session = boto3.Session(profile_name=clients.profile, region_name=clients.region)
    kwargs: dict[str, Any] = {"region_name": clients.region, "config": CLIENT_CONFIG}
    if clients.endpoint_url:
        kwargs["endpoint_url"] = clients.endpoint_url
    iam = session.client("iam", **kwargs)
    with translated("iam"):
        listed = iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])
    found = [str(p["Arn"]) for p in listed if str(p["Arn"]).endswith(f"/{GITHUB_OIDC_HOST}")]
    return found[0] if found else None
