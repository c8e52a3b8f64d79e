"""Functions that run without a request: on a schedule, or for the messages of a queue.

``@app.schedule("rate(5 minutes)")`` and ``@app.on_sqs_message(queue="jobs")``
declare them (:mod:`teal.runtime.app`); teal checks the declarations when it reads
the app (:mod:`teal.project.trigger_checks`) and makes an EventBridge rule or an
SQS event source mapping of each (:mod:`teal.template.schedules`,
:mod:`teal.template.queues`). A handler of either kind is plain Lambda code,
``handler(event, context)``: what it returns is the invocation's result, and
an exception fails the invocation (for a queue: the batch comes back after
the queue's visibility timeout).

Standard library only: this module ships inside Lambda packages, where the
runtime (:mod:`teal.runtime.entry`) picks the handler by the event's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TriggerKind = Literal["schedule", "queue"]
SCHEDULE: TriggerKind = "schedule"
QUEUE: TriggerKind = "queue"
DEFAULT_BATCH_SIZE = 10  # Lambda's default for an SQS event source mapping


@dataclass(frozen=True)
class ScheduleSpec:
    """``@app.schedule(expression)`` as declared, before it is checked."""

    expression: str
    handler: Any
    function: str | None = None


@dataclass(frozen=True)
class QueueSpec:
    """``@app.on_sqs_message(queue=...)`` as declared, before it is checked."""

    queue: str
    handler: Any
    function: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_window: int = 0  # seconds Lambda may wait to fill a batch
    shared: bool = False  # a queue referenced by ARN, knowingly consumed by many environments


@dataclass(frozen=True)
class Schedule:
    """A checked schedule: the function it runs and EventBridge's expression."""

    function: str
    expression: str
    handler: Any


@dataclass(frozen=True)
class QueueConsumer:
    """A checked queue consumer: the function, the queue (a name teal defines in the
    stack, a resource of the [resources] template, or an ARN), and how it polls."""

    function: str
    queue: str
    handler: Any
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_window: int = 0
    shared: bool = False

    @property
    def is_arn(self) -> bool:
        return self.queue.startswith("arn:")


@dataclass(frozen=True)
class Triggers:
    """Every schedule and queue consumer of the app, in the order declared."""

    schedules: tuple[Schedule, ...] = ()
    consumers: tuple[QueueConsumer, ...] = ()

    @property
    def functions(self) -> list[str]:
        """The functions that have a schedule or consume a queue, sorted."""
        names = {s.function for s in self.schedules} | {c.function for c in self.consumers}
        return sorted(names)

    def schedules_of(self, function: str) -> list[Schedule]:
        return [s for s in self.schedules if s.function == function]

    def consumers_of(self, function: str) -> list[QueueConsumer]:
        return [c for c in self.consumers if c.function == function]


@dataclass
class TriggerSpecs:
    """What an App collects from its decorators."""

    schedules: list[ScheduleSpec] = field(default_factory=list)
    queues: list[QueueSpec] = field(default_factory=list)

    def handler_for(self, function: str | None, kind: TriggerKind) -> Any:
        """The handler ``function`` runs for an event of ``kind`` (None: it has none)."""
        specs: list[ScheduleSpec] | list[QueueSpec] = (
            self.schedules if kind == SCHEDULE else self.queues
        )
        for spec in specs:
            name = spec.function or default_function_name(spec.handler)
            if function is None or name == function:
                return spec.handler
        return None


def event_kind(event: Any) -> TriggerKind | None:
    """``schedule`` for EventBridge's scheduled event, ``queue`` for an SQS batch."""
    if not isinstance(event, Mapping):
        return None
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return SCHEDULE
    records = event.get("Records")
    first = records[0] if isinstance(records, list) and records else None
    if isinstance(first, Mapping) and first.get("eventSource") == "aws:sqs":
        return QUEUE
    return None


def default_function_name(handler: Any) -> str:
    """A handler's function when none is named: its own name, as for routes."""
    name = str(getattr(handler, "__name__", "handler"))
    return name.replace("<", "").replace(">", "") or "handler"
