"""``teal send QUEUE BODY``: one message into a queue the environment's functions consume."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from teal.cli.common import console, emit_json, load_target, target_options
from teal.cloud import open_cloud
from teal.cloud.base import Cloud
from teal.ops.environments import find_environment
from teal.project.config import Target
from teal.runtime.errors import UserError
from teal.template.synth import METADATA_KEY


@click.command(name="send")
@click.argument("queue")
@click.argument("body")
@target_options
def send_command(
    *,
    queue: str,
    body: str,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
) -> None:
    """Send BODY (- reads it from stdin) to QUEUE: the name given to
    @app.on_sqs_message(queue=...), a queue of the [resources] template, or an ARN.

    Locally the gateway's poller hands it to the queue's consumers within a second
    (a failed batch comes back after the queue's visibility timeout).
    """
    _, target = load_target(project, env, extra, cloud)
    text = sys.stdin.read() if body == "-" else body
    the_cloud = open_cloud(target)
    find_environment(the_cloud, target)
    logical_id = queue if queue.startswith("arn:") else stack_queue(the_cloud, target, queue)
    sent = _send(the_cloud, target, logical_id, text)
    if as_json:
        emit_json({"queue": queue, **sent})
    else:
        console.print(f"sent {escape(sent['message_id'])} to {escape(sent['queue_url'])}")


def stack_queue(cloud: Cloud, target: Target, name: str) -> str:
    """The logical id of the environment's queue ``name`` (teal's name, or a logical id)."""
    deployed = cloud.describe_stack(target.environment)
    meta = (deployed.template.get("Metadata", {}) if deployed else {}).get(METADATA_KEY, {})
    named: dict[str, str] = meta.get("queues", {}) if isinstance(meta, dict) else {}
    for logical_id, queue in named.items():
        if name in (queue, logical_id):
            return logical_id
    resources = deployed.template.get("Resources", {}) if deployed else {}
    if resources.get(name, {}).get("Type") == "AWS::SQS::Queue":
        return name
    known = sorted(q for q in named.values() if not q.endswith("-dead-letter"))
    raise UserError(
        f"environment {target.environment} has no queue {name!r}",
        where=target.environment,
        hint=f"its queues: {', '.join(known) or 'none'}; or give a queue's ARN",
    )


def _send(cloud: Cloud, target: Target, queue: str, body: str) -> dict[str, Any]:
    if target.cloud == "local":
        from teal.cloud.local.cloud import LocalCloud
        from teal.cloud.local.send import send_local

        assert isinstance(cloud, LocalCloud)
        sent = send_local(cloud, target.environment, queue, body)
        url, message_id, md5 = sent.queue_url, sent.message_id, sent.md5_of_body
    else:
        from teal.cloud.aws.cloud import AwsCloud
        from teal.cloud.aws.queues import send_aws

        assert isinstance(cloud, AwsCloud)
        url, message_id, md5 = send_aws(cloud, target.environment, queue, body, target.aws_profile)
    return {"queue_url": url, "message_id": message_id, "md5_of_body": md5}


def register(group: click.Group) -> None:
    group.add_command(send_command)
