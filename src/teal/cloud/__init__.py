"""Clouds teal deploys to, behind one protocol (``teal.cloud.base.Cloud``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from teal.cloud.base import Cloud, EventSink
    from teal.project.config import Project, Target


def open_cloud(target: Target) -> Cloud:
    """The cloud a target lives in: the embedded local cloud, or AWS through boto3."""
    if target.cloud == "aws":
        from teal.cloud.aws import AwsCloud

        return AwsCloud.from_settings(
            target.aws_region, target.aws_profile, os.environ.get("AWS_ENDPOINT_URL")
        )
    from teal.cloud.local.cloud import LocalCloud
    from teal.cloud.local.model import HostSettings

    # what runs the functions here: the code package does not carry teal.toml
    host = HostSettings(
        target.aws_region,
        target.aws_profile,
        target.local_python,
        target.dependencies,
        target.optional_dependencies,
    )
    return LocalCloud(host=host)


def aws_deploy_policy(
    project: Project, region: str | None, account: str | None
) -> tuple[dict[str, Any], list[str], str]:
    """The IAM policy that deploys ``project`` on AWS: the document, the lines that say
    what each statement is for (and why where it is "*"), and the region it names."""
    from teal.cloud.aws.policy import deploy_policy, project_scope, text_lines

    scope = project_scope(project, region, account)
    policy = deploy_policy(scope)
    return policy.document(), list(text_lines(policy)), scope.region


def aws_bootstrap(
    project: Project, target: Target, repository: str, branch: str, on_event: EventSink
) -> dict[str, Any]:
    """Apply the app's bootstrap stack (GitHub's OIDC provider, the deploy role holding
    the deploy policy); what it made, as ``teal aws bootstrap --json`` prints it."""
    from teal.cloud.aws import AwsCloud
    from teal.cloud.aws.bootstrap import bootstrap
    from teal.cloud.aws.policy import deploy_policy, project_scope

    cloud = AwsCloud.from_settings(
        target.aws_region, target.aws_profile, os.environ.get("AWS_ENDPOINT_URL")
    )
    scope = project_scope(project, cloud.region, cloud.account_id)
    policy = deploy_policy(scope).document()
    done = bootstrap(cloud, target.app, repository, branch, policy=policy, on_event=on_event)
    return {
        "stack": done.stack,
        "role_arn": done.role_arn,
        "repository": repository,
        "branch": branch,
        "oidc_provider": done.provider,
        "changed": done.changed,
    }


def aws_unbootstrap(target: Target, on_event: EventSink) -> bool:
    """Delete the app's bootstrap stack; False when there was none."""
    from teal.cloud.aws import AwsCloud
    from teal.cloud.aws.bootstrap import unbootstrap

    cloud = AwsCloud.from_settings(
        target.aws_region, target.aws_profile, os.environ.get("AWS_ENDPOINT_URL")
    )
    return unbootstrap(cloud, target.app, on_event)
