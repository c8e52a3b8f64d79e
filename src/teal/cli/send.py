"""``teal send QUEUE BODY``: one message into a queue the environment's functions consume."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click
from rich.markup import escape

from teal.cli.common import console, emit_json, load_target, target_options
from teal.cloud import open_cloud
from teal.ops.environments import find_environment, stack_queue


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
    sent = the_cloud.send_message(target.environment, logical_id, text)
    if as_json:
        emit_json({"queue": queue, **dataclasses.asdict(sent)})
    else:
        console.print(f"sent {escape(sent.message_id)} to {escape(sent.queue_url)}")


def register(group: click.Group) -> None:
    group.add_command(send_command)
