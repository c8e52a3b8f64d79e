"""The boto3 cloud: teal's Cloud seam on AWS.

``AwsCloud.from_settings(region, profile, endpoint_url)`` resolves
credentials and region like any boto3 tool and proves them before any work.
Beyond the protocol it offers ``artifact_url`` (where CloudFormation reads an
artifact from).
"""

from teal.cloud.aws.cloud import AwsCloud
from teal.cloud.aws.domains import domain_stack_name, domain_template

__all__ = [
    "AwsCloud",
    "domain_stack_name",
    "domain_template",
]
