"""The App object users decorate their handlers with.

Standard library only: this module ships inside Lambda packages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from teal.routes import RouteSpec, RouteTable, build_route_table
from teal.triggers import DEFAULT_BATCH_SIZE, QueueSpec, ScheduleSpec, TriggerSpecs

Handler = TypeVar("Handler", bound=Callable[..., Any])


class App:
    """A teal application: a set of routes, each served by a Lambda function.

    By default every handler is its own function; ``function="name"`` groups
    several routes into one.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._specs: list[RouteSpec] = []
        self._table: RouteTable | None = None
        self._triggers = TriggerSpecs()

    def route(
        self,
        path: str,
        methods: Iterable[str] = ("GET",),
        *,
        function: str | None = None,
        raw: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated handler for ``path`` and ``methods``.

        Validation happens when the route table is built (``routes()``), so
        every problem of the app is reported at once.
        """
        if isinstance(methods, str):
            methods = (methods,)

        def register(handler: Handler) -> Handler:
            self._specs.append(RouteSpec(path, tuple(methods), handler, function, raw))
            self._table = None
            return handler

        return register

    @property
    def specs(self) -> tuple[RouteSpec, ...]:
        return tuple(self._specs)

    def routes(self) -> RouteTable:
        """The validated route table; raises ``RouteError`` naming every bad route."""
        if self._table is None:
            self._table = build_route_table(self._specs)
        return self._table

    def schedule(
        self, expression: str, *, function: str | None = None
    ) -> Callable[[Handler], Handler]:
        """Run the decorated ``handler(event, context)`` on EventBridge's schedule
        ``expression``: ``rate(5 minutes)`` or ``cron(0 12 * * ? *)`` (UTC).

        The handler gets EventBridge's scheduled event; an exception fails the
        invocation. Like a route, it is a function of its own unless ``function``
        names one.
        """

        def register(handler: Handler) -> Handler:
            self._triggers.schedules.append(ScheduleSpec(expression, handler, function))
            return handler

        return register

    def on_sqs_message(
        self,
        queue: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_window: int = 0,
        shared: bool = False,
        function: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Run the decorated ``handler(event, context)`` for batches of a queue's messages.

        ``queue`` is a name (teal defines the queue in the environment's stack, or a
        resource of that logical id in the [resources] template) or an SQS queue's
        ARN, which every environment of the app would consume: say so with
        ``shared=True``. A batch whose invocation fails comes back after the
        queue's visibility timeout.
        """

        def register(handler: Handler) -> Handler:
            spec = QueueSpec(queue, handler, function, batch_size, batch_window, shared)
            self._triggers.queues.append(spec)
            return handler

        return register

    @property
    def triggers(self) -> TriggerSpecs:
        """The schedules and queue consumers declared, as declared."""
        return self._triggers
