"""Clouds teal deploys to, behind one protocol (``teal.cloud.base.Cloud``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from teal.cloud.base import Cloud
    from teal.project.config import Target


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
    host = HostSettings(target.aws_region, target.aws_profile, target.local_python)
    return LocalCloud(host=host)
