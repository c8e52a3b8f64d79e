"""``teal send`` on AWS: SendMessage to a queue of an environment's stack, or to an ARN."""

from __future__ import annotations

from typing import Any

import boto3

from teal.cloud.aws.failures import translated
from teal.cloud.aws.session import CLIENT_CONFIG, AwsClients
from teal.cloud.base import SentMessage


def queue_url_of_arn(arn: str) -> str:
    """``arn:aws:sqs:REGION:ACCOUNT:NAME`` -> SQS's URL of that queue."""
    _, partition, _, region, account, name = arn.split(":")
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{suffix}/{account}/{name}"


def send_message(clients: AwsClients, stack: str, queue: str, body: str) -> SentMessage:
    """Send ``body`` to the queue (a logical id of ``stack``, or an ARN), as SQS answers."""
    with translated(stack):
        if queue.startswith("arn:"):
            url = queue_url_of_arn(queue)
        else:
            found = clients.cloudformation.describe_stack_resource(
                StackName=stack, LogicalResourceId=queue
            )
            url = found["StackResourceDetail"]["PhysicalResourceId"]
        answer = _sqs(clients).send_message(QueueUrl=url, MessageBody=body)
    return SentMessage(url, str(answer["MessageId"]), str(answer["MD5OfMessageBody"]))


def _sqs(clients: AwsClients) -> Any:
    """SQS's client, made on the one command that needs it (teal send), not with the others."""
    session = boto3.Session(profile_name=clients.profile, region_name=clients.region)
    kwargs: dict[str, Any] = {"region_name": clients.region, "config": CLIENT_CONFIG}
    if clients.endpoint_url:
        kwargs["endpoint_url"] = clients.endpoint_url
    return session.client("sqs", **kwargs)
