"""The App object users decorate their handlers with.

Standard library only: this module ships inside Lambda packages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from teal.routes import RouteSpec, RouteTable, build_route_table

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
