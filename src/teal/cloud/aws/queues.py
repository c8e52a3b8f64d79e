"""``teal send`` on AWS: SendMessage to a queue of an environment's stack, or to an ARN."""

from __future__ import annotations

from typing import Any

import boto3

from teal.cloud.aws.cloud import AwsCloud
from teal.cloud.aws.failures import translated
from teal.cloud.aws.session import CLIENT_CONFIG


def queue_url_of_arn(arn: str) -> str:
    """``arn:aws:sqs:REGION:ACCOUNT:NAME`` -> SQS's URL of that queue."""
    _, partition, _, region, account, name = arn.split(":")
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{suffix}/{account}/{name}"


def send_aws(
    cloud: AwsCloud, stack: str, queue: str, body: str, profile: str | None
) -> tuple[str, str, str]:
    """Send ``body``; (queue URL, message id, MD5 of the body) as SQS answers."""
    with translated(stack):
        if queue.startswith("arn:"):
            url = queue_url_of_arn(queue)
        else:
            found = cloud.clients.cloudformation.describe_stack_resource(
                StackName=stack, LogicalResourceId=queue
            )
            url = found["StackResourceDetail"]["PhysicalResourceId"]
        answer = _sqs(cloud, profile).send_message(QueueUrl=url, MessageBody=body)
    return url, str(answer["MessageId"]), str(answer["MD5OfMessageBody"])


def _sqs(cloud: AwsCloud, profile: str | None) -> Any:
    session = boto3.Session(profile_name=profile, region_name=cloud.region)
    kwargs: dict[str, Any] = {"region_name": cloud.region, "config": CLIENT_CONFIG}
    if cloud.clients.endpoint_url:
        kwargs["endpoint_url"] = cloud.clients.endpoint_url
    return session.client("sqs", **kwargs)
