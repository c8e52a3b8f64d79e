"""What the gateway runs beside its listeners: the scheduler and the queue pollers.

One task ticks both a few times a second, on a connection of its own to the
store, until the gateway stops; then the invocations in flight are cancelled
(their workers are stopped with the gateway's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.store import connect, migrate
from teal.cloud.local.triggers.pollers import QueuePoller
from teal.cloud.local.triggers.scheduler import (
    SPEED_VARIABLE,
    Functions,
    Invoke,
    ScheduleClock,
    Scheduler,
)

log = logging.getLogger("teal.local.events")

TICK_S = 0.2


class TriggerRunner:
    """Schedules and queues, ticked until :meth:`stop`."""

    def __init__(self, scheduler: Scheduler, poller: QueuePoller) -> None:
        self.scheduler = scheduler
        self.poller = poller
        self._stop = asyncio.Event()
        self._last_failure: str | None = None  # said once, not at every tick

    @classmethod
    def open(cls, paths: LocalPaths, invoke: Invoke, functions: Functions) -> TriggerRunner:
        conn = connect(paths.database)
        migrate(conn, paths.database)  # the tables it reads, whatever serves the requests
        clock = ScheduleClock(speed_from_environment())
        return cls(Scheduler(conn, invoke, functions, clock), QueuePoller(conn, invoke, functions))

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.scheduler.tick()
                self.poller.tick()
            except Exception as error:  # a broken state read must not end the gateway
                self._failed(error)
            else:
                self._last_failure = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), TICK_S)
        await self.scheduler.close()
        await self.poller.close()
        self.scheduler.conn.close()

    def _failed(self, error: Exception) -> None:
        text = f"{type(error).__name__}: {error}"
        if text != self._last_failure:
            log.warning("running schedules and queues failed (retrying): %s", text)
        self._last_failure = text


def speed_from_environment() -> float:
    """How fast the scheduler's clock runs: 1, or what a test sets (see the variable)."""
    text = os.environ.get(SPEED_VARIABLE, "")
    try:
        speed = float(text) if text else 1.0
    except ValueError:
        speed = 1.0
    return speed if speed >= 1.0 else 1.0
