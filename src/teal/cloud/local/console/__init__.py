"""The local cloud's web console, served by the gateway under ``/_teal/console/``.

On the main port only (the gateway dispatches ``/_teal/`` there and nowhere
else), for the holder of the gateway's token (:mod:`.auth`). Server-rendered
pages (Jinja2 templates beside this file) show every app, its environments
and domains, history, live traffic, a function's logs and the route table
(:mod:`.data` reads them); a few lines of the console's own JavaScript
refresh the live parts by polling. Switch and rollback run teal's CLI in the
project (:mod:`.actions`).

This module is what the gateway process imports at start: it takes the
gateway's token and hands the gateway a handler; the pages themselves (and Jinja2) are loaded
at the first console request, so a gateway nobody opens the console of pays
nothing for it, and requests to APIs and domains never reach it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teal.cloud.local.console.auth import ConsoleAuth
from teal.cloud.local.paths import LocalPaths

if TYPE_CHECKING:
    from teal.cloud.local.console.web import Console
    from teal.cloud.local.gateway.handler import GatewayRequest, GatewayResponse
    from teal.cloud.local.model import ServingState


class ConsoleMount:
    """The console of one gateway: its token now, its pages at the first request."""

    def __init__(self, paths: LocalPaths, port: int, state: ServingState, token: str) -> None:
        self.paths = paths
        self.port = port
        self.state = state
        self.auth = ConsoleAuth(token, port)
        self._console: Console | None = None

    async def handle(self, request: GatewayRequest) -> GatewayResponse:
        if self._console is None:
            from teal.cloud.local.console.web import Console

            self._console = Console(self.paths, self.port, self.state, self.auth)
        return await self._console.handle(request)


__all__ = ["ConsoleMount"]
