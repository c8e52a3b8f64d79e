"""The app's schedules and queue consumers, checked as AWS would check them.

Every problem is listed at once (exit 2, nothing deployed), like the route
table's: an expression EventBridge refuses (:mod:`teal.rules.schedule_expressions`), a batch
size Lambda refuses, a queue that is neither a name nor an SQS ARN, a queue
referenced by ARN without ``shared=True``, two handlers of one kind in one
function (the runtime picks a function's handler by the event's kind alone).

Why an ARN needs ``shared=True``: the same code is deployed to every
environment of the app (dev, prod, and the parallel copies a blue-green
deploy makes), and each one's event source mapping consumes the queue, each
taking a share of its messages. A queue named here instead is defined in the
environment's own stack, and no other environment consumes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from teal.rules.schedule_expressions import ScheduleError, parse_schedule
from teal.runtime.errors import UserError
from teal.runtime.routes import Problem, route_place
from teal.runtime.triggers import (
    QueueConsumer,
    QueueSpec,
    Schedule,
    ScheduleSpec,
    Triggers,
    TriggerSpecs,
    default_function_name,
)

FUNCTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")  # as routes name functions
QUEUE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
QUEUE_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$")
MAX_BATCH_SIZE = 10_000  # Lambda, for a standard queue
UNWINDOWED_BATCH_SIZE = 10  # above this, Lambda wants a batching window of a second or more
MAX_BATCH_WINDOW_S = 300


class TriggerError(UserError):
    """The app's schedules or queue consumers break a rule; carries every problem found, and
    is where the first one is (its declaration and handler)."""

    def __init__(self, problems: list[str], *, where: str) -> None:
        what = "invalid schedules or queue consumers:\n" + "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            what,
            where=where,
            hint="fix the @app.schedule and @app.on_sqs_message declarations listed above",
        )
        self.problems = problems


def build_triggers(specs: TriggerSpecs) -> Triggers:
    """Check the declarations; raise :class:`TriggerError` listing every problem."""
    found: list[Problem] = []
    schedules = [s for s in (_schedule(spec, found) for spec in specs.schedules) if s]
    consumers = [c for c in (_consumer(spec, found) for spec in specs.queues) if c]
    found += _one_handler_per_kind(schedules, "schedule", lambda s: s.expression)
    found += _one_handler_per_kind(consumers, "queue", lambda c: c.queue)
    if found:
        raise TriggerError([problem for problem, _ in found], where=found[0][1])
    return Triggers(tuple(schedules), tuple(consumers))


def _place(kind: str, subject: Any, handler: Any) -> str:
    return route_place(
        f"{kind} {subject if isinstance(subject, str) else repr(subject)!r}", handler
    )


def _label(kind: str, subject: str, handler: Any) -> str:
    name = getattr(handler, "__qualname__", None) or repr(handler)
    return f"{kind} {subject!r} ({name})"


def _function(spec: ScheduleSpec | QueueSpec, label: str, problems: list[str]) -> str:
    function = spec.function or default_function_name(spec.handler)
    if not isinstance(function, str) or not FUNCTION_NAME.match(function):
        problems.append(
            f"{label}: function name {function!r} must start with a letter and hold at most "
            "40 letters, digits, '-' or '_'"
        )
    if not callable(spec.handler):
        problems.append(f"{label}: handler {spec.handler!r} is not callable")
    return str(function)


def _schedule(spec: ScheduleSpec, found: list[Problem]) -> Schedule | None:
    label = _label("schedule", str(spec.expression), spec.handler)
    problems: list[str] = []
    function = _function(spec, label, problems)
    try:
        parse_schedule(spec.expression)
    except ScheduleError as error:
        problems.append(f"{label}: EventBridge refuses it: {error}")
    if problems:
        place = _place("schedule", spec.expression, spec.handler)
        found += [(problem, place) for problem in problems]
        return None
    return Schedule(function, spec.expression.strip(), spec.handler)


def _consumer(spec: QueueSpec, found: list[Problem]) -> QueueConsumer | None:
    label = _label("queue", str(spec.queue), spec.handler)
    problems: list[str] = []
    function = _function(spec, label, problems)
    problems += [f"{label}: {problem}" for problem in _queue_problems(spec)]
    if problems:
        place = _place("queue", spec.queue, spec.handler)
        found += [(problem, place) for problem in problems]
        return None
    return QueueConsumer(
        function, spec.queue, spec.handler, spec.batch_size, spec.batch_window, spec.shared
    )


def _queue_problems(spec: QueueSpec) -> list[str]:
    found: list[str] = []
    queue = spec.queue
    if not isinstance(queue, str) or not (QUEUE_NAME.match(queue) or QUEUE_ARN.match(queue)):
        found.append(
            "queue= takes a name (a letter, then letters, digits, '-' or '_') or an SQS "
            "queue's ARN ('arn:aws:sqs:REGION:ACCOUNT:NAME')"
        )
    elif queue.startswith("arn:") and not spec.shared:
        found.append(
            "a queue referenced by ARN is consumed by every environment this app is deployed "
            "to (each takes a share of its messages): say so with shared=True, or name a queue "
            "for teal to define in each environment's stack (queue='jobs')"
        )
    elif spec.shared and not queue.startswith("arn:"):
        found.append(
            "shared=True is for a queue referenced by ARN; a named queue belongs to one "
            "environment's stack, and no other environment consumes it"
        )
    found += _batch_problems(spec.batch_size, spec.batch_window)
    return found


def _batch_problems(size: Any, window: Any) -> list[str]:
    if not _whole(size) or not 1 <= size <= MAX_BATCH_SIZE:
        return [f"batch_size must be 1-{MAX_BATCH_SIZE} (Lambda's range for SQS), got {size!r}"]
    if not _whole(window) or not 0 <= window <= MAX_BATCH_WINDOW_S:
        return [f"batch_window must be 0-{MAX_BATCH_WINDOW_S} seconds, got {window!r}"]
    if size > UNWINDOWED_BATCH_SIZE and window < 1:
        return [
            f"Lambda takes a batch_size over {UNWINDOWED_BATCH_SIZE} only with a batching "
            "window: pass batch_window=1 (seconds) or more"
        ]
    return []


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_handler_per_kind(
    triggers: list[Schedule] | list[QueueConsumer], kind: str, subject: Callable[[Any], str]
) -> list[Problem]:
    """A function runs one handler per kind of event, whichever schedule or queue sent it."""
    first: dict[str, Any] = {}
    seen: set[tuple[str, str]] = set()
    problems: list[Problem] = []
    for trigger in triggers:
        place = _place(kind, subject(trigger), trigger.handler)
        known = first.setdefault(trigger.function, trigger.handler)
        if _name(known) != _name(trigger.handler):
            problems.append(
                (
                    f"function {trigger.function!r} has two {kind} handlers, "
                    f"{_name(known)} and {_name(trigger.handler)}: a function runs one handler "
                    f"for every {kind} it has, so give one of them a function of its own "
                    "(function=...)",
                    place,
                )
            )
        key = (trigger.function, subject(trigger))
        if key in seen:
            problems.append(
                (f"function {trigger.function!r}: {kind} {key[1]!r} declared twice", place)
            )
        seen.add(key)
    return problems


def _name(handler: Any) -> str:
    module = getattr(handler, "__module__", "?")
    return f"{module}.{getattr(handler, '__qualname__', repr(handler))}"
