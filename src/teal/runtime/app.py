"""The App object users decorate their handlers with.

Standard library only: this module ships inside Lambda packages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from teal.runtime.access import TOKEN, LambdaAuthorizer
from teal.runtime.routes import RouteSpec, RouteTable, build_route_table
from teal.runtime.triggers import DEFAULT_BATCH_SIZE, QueueSpec, ScheduleSpec, TriggerSpecs

Handler = TypeVar("Handler", bound=Callable[..., Any])


class App:
    """A teal application: a set of routes, each served by a Lambda function.

    By default every handler is its own function; ``function="name"`` groups
    several routes into one.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._specs: list[RouteSpec] = []
        self._authorizers: list[LambdaAuthorizer] = []
        self._table: RouteTable | None = None
        self._triggers = TriggerSpecs()

    def route(
        self,
        path: str,
        methods: Iterable[str] = ("GET",),
        *,
        function: str | None = None,
        raw: bool = False,
        cors: Any = None,
        authorizer: Any = None,
        api_key_required: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated handler for ``path`` and ``methods``.

        ``cors``: True (the app's ``[cors]``, or any origin), False (none, even with
        ``[cors]``), a :class:`teal.CORSConfig`, or None (the app's ``[cors]``, if any).
        ``authorizer``: the name of an ``@app.authorizer``, a
        :class:`teal.CognitoAuthorizer`, or ``"aws_iam"``. ``api_key_required``: callers
        send the environment's API key in ``x-api-key``.

        Validation happens when the route table is built (``routes()``), so
        every problem of the app is reported at once.
        """
        if isinstance(methods, str):
            methods = (methods,)

        def register(handler: Handler) -> Handler:
            self._specs.append(
                RouteSpec(
                    path,
                    tuple(methods),
                    handler,
                    function,
                    raw,
                    cors=cors,
                    authorizer=authorizer,
                    api_key_required=api_key_required,
                )
            )
            self._table = None
            return handler

        return register

    def authorizer(
        self,
        name: str,
        ttl: int = 300,
        *,
        type: str = TOKEN,
        header: str = "Authorization",
        identity_sources: Iterable[str] | None = None,
        token_pattern: str | None = None,
        function: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Declare the decorated ``(event, context)`` function a Lambda authorizer.

        A TOKEN authorizer gets the ``header``'s value as ``event["authorizationToken"]``
        (a request without it is answered 401 before the function runs); a REQUEST
        authorizer gets the request, and ``identity_sources`` (API Gateway's
        expressions, default the ``header``) key its cache. Its answer, a policy
        (:func:`teal.allow`, :func:`teal.deny`), is cached ``ttl`` seconds per identity.
        It runs in a function of its own, named after the handler unless ``function``.
        """

        def register(handler: Handler) -> Handler:
            default = (f"method.request.header.{header}",)
            sources = default if identity_sources is None else tuple(identity_sources)
            self._authorizers.append(
                LambdaAuthorizer(
                    name,
                    handler,
                    function or _function_name(handler, name),
                    ttl,
                    type,
                    header,
                    sources if type != TOKEN else (),
                    token_pattern,
                )
            )
            self._table = None
            return handler

        return register

    @property
    def authorizers(self) -> tuple[LambdaAuthorizer, ...]:
        """The declared Lambda authorizers (routes name them; see :meth:`routes`)."""
        return tuple(self._authorizers)

    @property
    def specs(self) -> tuple[RouteSpec, ...]:
        return tuple(self._specs)

    def routes(self) -> RouteTable:
        """The validated route table; raises ``RouteError`` naming every bad route."""
        if self._table is None:
            self._table = build_route_table(self._specs, self._authorizers)
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


def _function_name(handler: Any, fallback: str) -> str:
    """An authorizer's function: named after its handler, as a route's is by default."""
    name = str(getattr(handler, "__name__", "")).replace("<", "").replace(">", "")
    return name or fallback
