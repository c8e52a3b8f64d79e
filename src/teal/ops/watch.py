"""Watching a switch: the new live environment's traffic since the switch, judged.

After a switch (and after the re-point of an automated replacement) teal
reads the traffic of the stage the domain now serves, once per period of the
cloud's numbers (:class:`~teal.cloud.base.TrafficTiming`: every second
locally, every minute on AWS), each read one :meth:`Cloud.traffic_since`
call, until the watch's time is up or a limit is breached. A read counts the
periods that began after the switch, whole (locally the traffic lines written
a line's span after it, on AWS the minutes that began after it), so nothing
the new environment answered before the switch is judged. The rules, which
the README's "Safer switches" states for users:

- **error rate**: the 5xx answers in percent of the requests, judged against
  at least :data:`MIN_REQUESTS` requests: while fewer were seen the missing
  ones count as answered well, so a few errors at the start do not decide
  alone, and a burst of them does (3 errors in 5 requests are 15 %);
- **p99 latency**: judged once :data:`MIN_REQUESTS` requests were seen (the
  p99 of a handful is just the slowest of them);
- **not enough traffic**: a watch that ends having seen fewer than
  :data:`MIN_REQUESTS` requests holds the switch and says that it could not
  judge it: never a silent pass.

The numbers arrive late (up to a second locally, a minute or two on AWS),
so a watch is at least ``TrafficTiming.min_watch_s`` long, and the last
moments of it may not be in its figures. Ctrl-C ends the watch and keeps the
switch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from teal.cloud.base import Cloud, StageRef, Traffic, TrafficTiming
from teal.progress import Progress
from teal.project.config import WatchSettings
from teal.runtime.errors import OperationError, UserError

MIN_REQUESTS = 20  # fewer requests than this cannot tell an error rate or a p99
# A single 5xx (one slow cold start, say) never switches back alone, whatever the rate.
MIN_ERRORS = 2
Verdict = Literal["held", "switched-back", "interrupted"]


@dataclass(frozen=True)
class WatchLimits:
    """How long to watch and what breaches: from ``[deploy]`` and the command's flags."""

    seconds: int
    max_error_rate: float  # percent of the requests
    max_p99_ms: float | None = None
    where: str = "--watch"  # what set the watch, for errors about it

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "max_error_rate": self.max_error_rate,
            "max_p99_ms": self.max_p99_ms,
        }

    def describe(self) -> str:
        p99 = f", p99 at most {self.max_p99_ms:g} ms" if self.max_p99_ms is not None else ""
        return f"5xx at most {self.max_error_rate:g}% of requests{p99}"


def watch_limits(
    settings: WatchSettings,
    *,
    seconds: int | None,
    max_error_rate: float | None,
    max_p99_ms: float | None,
) -> WatchLimits | None:
    """The flags over ``[deploy]``; None when neither asks for a watch."""
    if seconds is None and settings.seconds is None:
        return None
    return WatchLimits(
        seconds=seconds if seconds is not None else int(settings.seconds or 0),
        max_error_rate=settings.max_error_rate if max_error_rate is None else max_error_rate,
        max_p99_ms=settings.max_p99_ms if max_p99_ms is None else max_p99_ms,
        where="--watch" if seconds is not None else settings.where,
    )


def check_watch_length(limits: WatchLimits, timing: TrafficTiming, cloud: str) -> None:
    """A watch shorter than the cloud's numbers can judge is bad input (exit 2)."""
    if limits.seconds >= timing.min_watch_s:
        return
    why = (
        "CloudWatch has API Gateway's numbers per minute, often a minute or two late"
        if cloud == "aws"
        else "the local gateway writes its numbers once a second"
    )
    raise UserError(
        f"a watch of {limits.seconds}s is too short to judge on the {cloud} cloud: {why}",
        where=limits.where,
        hint=f"watch at least {_duration(timing.min_watch_s)}",
    )


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 and seconds >= 60 else f"{seconds}s"


@dataclass(frozen=True)
class WatchFigures:
    """What the watch saw since the switch."""

    seconds: float
    requests: int = 0
    errors: int = 0
    p99_ms: float | None = None

    @classmethod
    def of(cls, seconds: float, traffic: Traffic) -> WatchFigures:
        return cls(seconds, traffic.requests, traffic.errors, traffic.p99_ms)

    @property
    def error_rate(self) -> float | None:
        """5xx answers in percent of the requests (None without requests)."""
        return 100.0 * self.errors / self.requests if self.requests else None

    @property
    def enough_traffic(self) -> bool:
        return self.requests >= MIN_REQUESTS

    def line(self, of_seconds: int) -> str:
        rate = f" ({self.error_rate:.1f}%)" if self.error_rate is not None else ""
        p99 = f", p99 {self.p99_ms:.0f} ms" if self.p99_ms is not None else ""
        return (
            f"{self.seconds:.0f}/{of_seconds} s: {self.requests} requests, "
            f"{self.errors} errors{rate}{p99}"
        )


def breach_of(figures: WatchFigures, limits: WatchLimits) -> str | None:
    """Which limit the figures breach, in words (None: within the limits so far)."""
    judged = max(figures.requests, MIN_REQUESTS)
    rate = 100.0 * figures.errors / judged
    if figures.errors >= MIN_ERRORS and rate > limits.max_error_rate:
        counted = "" if figures.enough_traffic else f", counted against {MIN_REQUESTS} requests"
        return (
            f"error rate {rate:.1f}% ({figures.errors} of {figures.requests} requests answered "
            f"5xx{counted}) is over the limit of {limits.max_error_rate:g}%"
        )
    p99, most = figures.p99_ms, limits.max_p99_ms
    if most is not None and figures.enough_traffic and p99 is not None and p99 > most:
        return f"p99 latency {p99:.0f} ms is over the limit of {most:g} ms"
    return None


@dataclass(frozen=True)
class WatchResult:
    """How a watch ended: its figures, the breach that ended it, or Ctrl-C."""

    figures: WatchFigures
    breach: str | None = None
    interrupted: bool = False
    unreadable: str | None = None  # why no read of the numbers succeeded, if none did


@dataclass(frozen=True)
class WatchReport:
    """A watch as reports and the history show it."""

    result: WatchResult
    limits: WatchLimits
    verdict: Verdict
    note: str | None = None  # e.g. why the switch back failed

    @property
    def reason(self) -> str:
        """The verdict in a sentence."""
        result, figures = self.result, self.result.figures
        if result.breach is not None:
            return result.breach
        if result.interrupted:
            return f"the watch was stopped (Ctrl-C) after {figures.seconds:.0f} s"
        if result.unreadable is not None:
            return f"not enough traffic to judge: its numbers were unreadable ({result.unreadable})"
        if not figures.enough_traffic:
            return (
                f"not enough traffic to judge: {figures.requests} requests in "
                f"{figures.seconds:.0f} s (at least {MIN_REQUESTS} needed)"
            )
        return f"within the limits ({self.limits.describe()})"

    def to_json(self) -> dict[str, Any]:
        figures = self.result.figures
        rate = figures.error_rate
        return {
            "seconds": round(figures.seconds, 1),
            "requests": figures.requests,
            "errors": figures.errors,
            "error_rate": None if rate is None else round(rate, 2),
            "p99_ms": None if figures.p99_ms is None else round(figures.p99_ms, 2),
            "verdict": self.verdict,
            "enough_traffic": figures.enough_traffic,
            "min_requests": MIN_REQUESTS,
            "reason": self.reason,
            "limits": self.limits.to_json(),
            **({"note": self.note} if self.note else {}),
        }


def watch_traffic(
    cloud: Cloud,
    stage: StageRef,
    limits: WatchLimits,
    *,
    since: float,
    live: Progress,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> WatchResult:
    """Read the stage's traffic since ``since`` (seconds since the epoch: the switch) once
    a period until ``limits.seconds`` after it, or a breach; each read is one call."""
    poll_s = cloud.traffic_timing.poll_s
    switched = datetime.fromtimestamp(since, UTC)
    figures = WatchFigures(0.0)
    failed: str | None = None
    read_once = False
    try:
        while True:
            sleep(max(0.0, min(poll_s, limits.seconds - (clock() - since))))
            elapsed = clock() - since
            try:
                figures = WatchFigures.of(elapsed, cloud.traffic_since([stage], switched)[0])
                read_once = True
            except OperationError as error:  # read again at the next period
                failed = error.what
                figures = WatchFigures(elapsed, figures.requests, figures.errors, figures.p99_ms)
            live(f"watching {stage.api_name}: {figures.line(limits.seconds)}")
            breach = breach_of(figures, limits)
            if breach is not None or elapsed >= limits.seconds:
                return WatchResult(figures, breach, unreadable=None if read_once else failed)
    except KeyboardInterrupt:
        return WatchResult(figures, interrupted=True)
