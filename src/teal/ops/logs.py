"""An environment's function logs, read as one stream: ``teal logs``.

Every function of an environment, of every API generation, writes to the
environment's one log group (:func:`teal.template.functions.environment_log_group`);
a log stream is one execution environment, its name starts with its
function's. So one read of one group, a call per page, is the whole
environment's history, before and after replacements alike.

What Lambda writes becomes lines (:mod:`teal.rules.lambda_logs`): requests named,
tracebacks whole, functions by the app's names.

Following (``--follow``) polls with a :class:`Cursor`: each read starts a
little before the newest event seen (CloudWatch may make an event readable
after later ones) and skips the ids it already has, so no event is shown
twice and none is missed; the pause between reads grows while nothing new
comes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from teal.cloud.base import Cloud, LogQuery
from teal.rules.lambda_logs import Assembler, LogEvent, LogLine, SourceMap, assemble
from teal.runtime.errors import UserError
from teal.template.functions import environment_log_group

_DURATION = re.compile(r"^(?P<number>[0-9]+)(?P<unit>[smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OVERLAP_MS = 30_000  # how far back each poll of --follow reads again


def parse_since(text: str, now_ms: int) -> int:
    """``--since``: ``30s``, ``10m``, ``2h``, ``1d`` ago, or an ISO 8601 time."""
    found = _DURATION.match(text.strip())
    if found:
        return now_ms - int(found.group("number")) * _SECONDS[found.group("unit")] * 1000
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"--since {text!r} is neither a duration nor a time",
            where="--since",
            hint="give a duration like 30s, 10m, 2h or 1d, or a time like 2026-05-01T12:00:00Z",
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # a time without a zone is the user's local time
    return int(when.timestamp() * 1000)


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class LogsReport:
    environment: str
    log_group: str
    since_ms: int
    lines: tuple[LogLine, ...]

    @property
    def failures(self) -> tuple[LogLine, ...]:
        return tuple(line for line in self.lines if line.failed)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "log_group": self.log_group,
            "since": datetime.fromtimestamp(self.since_ms / 1000, UTC).isoformat(),
            "events": [line.to_json() for line in self.lines],
        }


def read_logs(
    cloud: Cloud,
    environment: str,
    since_ms: int,
    *,
    function: str | None = None,
    limit: int | None = None,
    sources: SourceMap | None = None,
) -> LogsReport:
    """The environment's lines since ``since_ms``: the last ``limit`` of them."""
    group = environment_log_group(environment)
    pages = (page.events for page in cloud.read_logs(LogQuery(group, since_ms)))
    lines = assemble(environment, pages, function=function, limit=limit, sources=sources)
    return LogsReport(environment, group, since_ms, tuple(lines))


@dataclass
class Cursor:
    """Where a follower is: reads start ``OVERLAP_MS`` before the newest event seen,
    and the ids already shown since then are skipped."""

    start_ms: int
    newest_ms: int = 0
    seen: set[str] = field(default_factory=set)

    def query_start(self) -> int:
        return max(self.start_ms, self.newest_ms - OVERLAP_MS)

    def admit(self, events: Iterable[LogEvent]) -> list[LogEvent]:
        """The events not shown yet; remembers them."""
        fresh = [e for e in events if e.id not in self.seen]
        for event in fresh:
            self.seen.add(event.id)
            self.newest_ms = max(self.newest_ms, event.timestamp_ms)
        return fresh

    def forget_old(self, times: dict[str, int]) -> None:
        """Ids before the next read's start are never read again: drop them."""
        start = self.query_start()
        self.seen = {i for i in self.seen if times.get(i, start) >= start}


@dataclass(frozen=True)
class Pause:
    """The pause between reads while following: ``first``, growing while nothing new
    comes, up to ``cap``; back to ``first`` as soon as something does."""

    first: float = 0.25
    factor: float = 1.5
    cap: float = 1.0

    def next(self, current: float | None, found: bool) -> float:
        if found or current is None:
            return self.first
        return min(current * self.factor, self.cap)


class LogFollower:
    """Reads an environment's new lines, one :meth:`poll` at a time (see :class:`Cursor`)."""

    def __init__(
        self,
        cloud: Cloud,
        environment: str,
        since_ms: int,
        *,
        function: str | None = None,
        sources: SourceMap | None = None,
    ) -> None:
        self.cloud = cloud
        self.group = environment_log_group(environment)
        self.function = function
        self.cursor = Cursor(since_ms)
        self._assembler = Assembler(environment, sources)
        self._times: dict[str, int] = {}

    def poll(self) -> list[LogLine]:
        """The lines that came since the last poll (a traceback once it is whole)."""
        for page in self.cloud.read_logs(LogQuery(self.group, self.cursor.query_start())):
            fresh = self.cursor.admit(page.events)
            self._times.update((e.id, e.timestamp_ms) for e in fresh)
            self._assembler.add(fresh)
        self.cursor.forget_old(self._times)
        self._times = {i: t for i, t in self._times.items() if i in self.cursor.seen}
        lines = self._assembler.take(final=False)
        return [line for line in lines if self.function in (None, line.function)]


def follow_logs(
    cloud: Cloud,
    environment: str,
    since_ms: int,
    *,
    function: str | None = None,
    sources: SourceMap | None = None,
    pause: Pause = Pause(),
    sleep: Callable[[float], None] = time.sleep,
    keep_going: Callable[[], bool] = lambda: True,
) -> Iterator[LogLine]:
    """The environment's lines since ``since_ms``, then each new one as it comes."""
    follower = LogFollower(cloud, environment, since_ms, function=function, sources=sources)
    delay: float | None = None
    while keep_going():
        lines = follower.poll()
        yield from lines
        delay = pause.next(delay, bool(lines))
        sleep(delay)
