"""The boto3 cloud: teal's Cloud seam on AWS.

``AwsCloud.from_settings(region, profile, endpoint_url)`` resolves
credentials and region like any boto3 tool and proves them before any work.
Beyond the protocol it offers ``preview_stack`` (CloudFormation's change set,
with its Replacement column) and ``put_artifact(..., progress=)``.
"""

from teal.cloud.aws.changesets import ChangeSetPreview, ResourceChange
from teal.cloud.aws.cloud import AwsCloud
from teal.cloud.aws.domains import domain_stack_name, domain_template

__all__ = [
    "AwsCloud",
    "ChangeSetPreview",
    "ResourceChange",
    "domain_stack_name",
    "domain_template",
]
