"""``@app.on_sqs_message``: the queues teal defines, and an event source mapping per consumer.

A queue named in the decorator is one of three things:

- a resource of that logical id in the [resources] template (of type
  ``AWS::SQS::Queue``): the user's own queue, in the environment's stack;
- else a queue teal defines in the environment's stack, with the settings of
  ``[queues.NAME]``: its visibility timeout (default six times the longest
  timeout of its consumers, as Lambda advises, and at least SQS's 30 s), and
  with ``max_receive_count`` a dead-letter queue: a message received that
  many times without being deleted moves there (SQS's redrive policy);
- an ARN (``shared=True``): a queue outside the stack.

A queue of the stack has no API generation: it outlives a replacement of the
API with its messages. A mapping belongs to its function, so it carries the
function's generation; during a replacement's side-by-side step both
generations' consumers poll the queue, each message going to one of them.

Every function gets each stack queue's URL as ``TEAL_QUEUE_<NAME>_URL``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from teal.project.config import QueueSettings, Target, load_project
from teal.project.resources_file import ExtraResources
from teal.runtime.errors import ConfigError
from teal.runtime.triggers import QueueConsumer, Triggers
from teal.template.names import _stem, function_id, short_hash

SQS_QUEUE = "AWS::SQS::Queue"
DEFAULT_VISIBILITY_S = 30  # SQS's own default
MAX_VISIBILITY_S = 43200
DEAD_LETTER_RETENTION_S = 1209600  # the longest SQS keeps a message: 14 days

Resource = dict[str, Any]


def queue_id(name: str) -> str:
    """The logical id of the queue teal defines for ``name``."""
    return f"Queue{_stem(name)}{short_hash(name)}"


def dead_letter_id(name: str) -> str:
    return f"{queue_id(name)}DeadLetter"


def consumer_id(function: str, queue: str, gen: str = "") -> str:
    return f"{function_id(function)}Consumes{short_hash(queue)}{gen}"


def url_variable(name: str) -> str:
    """``TEAL_QUEUE_<NAME>_URL``: where a function finds a stack queue's URL."""
    return f"TEAL_QUEUE_{name.upper().replace('-', '_')}_URL"


def user_queue(name: str, extra: ExtraResources | None) -> bool:
    """Whether ``name`` is a queue of the [resources] template."""
    return extra is not None and extra.types().get(name) == SQS_QUEUE


def stack_queue_id(name: str, extra: ExtraResources | None) -> str | None:
    """The logical id of a named queue in the stack (None for an ARN)."""
    if name.startswith("arn:"):
        return None
    return name if user_queue(name, extra) else queue_id(name)


def queue_arn(name: str, extra: ExtraResources | None) -> Any:
    logical_id = stack_queue_id(name, extra)
    return name if logical_id is None else {"Fn::GetAtt": [logical_id, "Arn"]}


def queue_resources(triggers: Triggers, target: Target) -> dict[str, Resource]:
    """The queues teal defines (and their dead-letter queues), by logical id."""
    resources: dict[str, Resource] = {}
    for name in sorted({c.queue for c in triggers.consumers}):
        if name.startswith("arn:") or user_queue(name, target.extra_resources):
            continue
        settings = target.queues.get(name, QueueSettings())
        consumers = [c for c in triggers.consumers if c.queue == name]
        properties: dict[str, Any] = {
            "VisibilityTimeout": _visibility(name, settings, consumers, target),
            "MessageRetentionPeriod": settings.message_retention,
        }
        if settings.max_receive_count is not None:
            resources[dead_letter_id(name)] = {
                "Type": SQS_QUEUE,
                "Properties": {"MessageRetentionPeriod": DEAD_LETTER_RETENTION_S},
            }
            properties["RedrivePolicy"] = {
                "deadLetterTargetArn": {"Fn::GetAtt": [dead_letter_id(name), "Arn"]},
                "maxReceiveCount": settings.max_receive_count,
            }
        resources[queue_id(name)] = {"Type": SQS_QUEUE, "Properties": properties}
    return resources


def _visibility(
    name: str, settings: QueueSettings, consumers: Sequence[QueueConsumer], target: Target
) -> int:
    longest = max(target.function_settings(c.function)[1] for c in consumers)
    if settings.visibility_timeout is None:
        return min(MAX_VISIBILITY_S, max(DEFAULT_VISIBILITY_S, 6 * longest))
    if settings.visibility_timeout < longest:
        raise ConfigError(
            f"queue {name}: its visibility timeout ({settings.visibility_timeout} s) is shorter "
            f"than the timeout of a function consuming it ({longest} s); Lambda refuses the "
            "event source mapping (a message would come back while its batch still runs)",
            where=load_project(target.project_dir).location(("queues", name)),
            hint=f"set visibility_timeout to {6 * longest} (six times the timeout, as Lambda "
            "advises) or more",
        )
    return settings.visibility_timeout


def consumer_resources(
    function: str, consumers: Sequence[QueueConsumer], target: Target, gen: str
) -> dict[str, Resource]:
    """An event source mapping per queue the function consumes, by logical id."""
    resources: dict[str, Resource] = {}
    for consumer in consumers:
        properties: dict[str, Any] = {
            "EventSourceArn": queue_arn(consumer.queue, target.extra_resources),
            "FunctionName": {"Ref": function_id(function, gen)},
            "BatchSize": consumer.batch_size,
            "Enabled": True,
        }
        if consumer.batch_window:
            properties["MaximumBatchingWindowInSeconds"] = consumer.batch_window
        resources[consumer_id(function, consumer.queue, gen)] = {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": properties,
        }
    return resources


def consumed_arns(consumers: Sequence[QueueConsumer], target: Target) -> list[Any]:
    """The ARNs (or their references) of the queues ``consumers`` poll, for the role."""
    return [queue_arn(c.queue, target.extra_resources) for c in consumers]


def queue_names(triggers: Triggers, target: Target) -> dict[str, str]:
    """The name the app gives each queue of the stack, by logical id."""
    names: dict[str, str] = {}
    for name in sorted({c.queue for c in triggers.consumers if not c.is_arn}):
        logical_id = stack_queue_id(name, target.extra_resources)
        names[str(logical_id)] = name
        if (
            logical_id == queue_id(name)
            and target.queues.get(name, QueueSettings()).max_receive_count
        ):
            names[dead_letter_id(name)] = f"{name}-dead-letter"
    return names


def queue_variables(triggers: Triggers, target: Target) -> Mapping[str, Any]:
    """Each stack queue's URL, for every function."""
    names = sorted({c.queue for c in triggers.consumers if not c.is_arn})
    return {
        url_variable(name): {"Ref": stack_queue_id(name, target.extra_resources)} for name in names
    }
