"""The rules a watched switch is judged by, wherever the judging runs.

A watch reads the new live environment's traffic since the switch and
switches back when a limit is breached (docs/safer-switches.md states
the rules for users):

- **error rate**: the 5xx answers in percent of the requests, judged against
  at least :data:`MIN_REQUESTS` requests: while fewer were seen the missing
  ones count as answered well, so a few errors at the start do not decide
  alone, and a burst of them does (3 errors in 5 requests are 15 %);
- **p99 latency**: judged once :data:`MIN_REQUESTS` requests were seen (the
  p99 of a handful is just the slowest of them);
- **not enough traffic**: a watch that ends having seen fewer than
  :data:`MIN_REQUESTS` requests holds the switch and says that it could not
  judge it: never a silent pass.

The command that switched judges while it runs (:mod:`teal.ops.watch`); the
local gateway judges the same recorded watch with the same rules once that
command is gone, so a killed watch still switches back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

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


@dataclass(frozen=True)
class WatchFigures:
    """What the watch saw since the switch."""

    seconds: float
    requests: int = 0
    errors: int = 0
    p99_ms: float | None = None

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


# A switch entry's ``watch`` while its watch runs: the guard below. At the end, whoever
# judged it (the command, or the local gateway once the command is gone) replaces it
# with the :class:`WatchReport`'s JSON.
WATCHING = "watching"


@dataclass(frozen=True)
class WatchedStage:
    """One side of a watched switch: an environment, by its API's id and stage."""

    environment: str
    api_id: str
    stage: str

    def to_json(self) -> dict[str, str]:
        return {"environment": self.environment, "api_id": self.api_id, "stage": self.stage}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WatchedStage:
        return cls(str(data["environment"]), str(data["api_id"]), str(data["stage"]))


@dataclass(frozen=True)
class WatchGuard:
    """A watch in progress, written into its switch's history entry before it starts.

    It holds what a judge needs without the command that started it: the mapping to
    put back on a breach (``back_to``), the stage to judge (``watched``), the limits
    and the deadline, and the watching process, so that a judge can tell whether it
    still runs and act only once it does not.
    """

    domain: str
    base_path: str
    watched: WatchedStage
    back_to: WatchedStage
    since: float  # the switch, seconds since the epoch
    limits: WatchLimits
    host: str
    pid: int
    process_started: float | None
    lock_key: str

    @property
    def deadline(self) -> float:
        return self.since + self.limits.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": WATCHING,
            "domain": self.domain,
            "base_path": self.base_path,
            "watched": self.watched.to_json(),
            "back_to": self.back_to.to_json(),
            "since": self.since,
            "limits": self.limits.to_json(),
            "watcher": {"host": self.host, "pid": self.pid, "started": self.process_started},
            "lock": self.lock_key,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WatchGuard:
        limits, watcher = data["limits"], data["watcher"]
        started = watcher.get("started")
        return cls(
            domain=str(data["domain"]),
            base_path=str(data["base_path"]),
            watched=WatchedStage.from_json(data["watched"]),
            back_to=WatchedStage.from_json(data["back_to"]),
            since=float(data["since"]),
            limits=WatchLimits(
                seconds=int(limits["seconds"]),
                max_error_rate=float(limits["max_error_rate"]),
                max_p99_ms=None
                if limits.get("max_p99_ms") is None
                else float(limits["max_p99_ms"]),
            ),
            host=str(watcher["host"]),
            pid=int(watcher["pid"]),
            process_started=None if started is None else float(started),
            lock_key=str(data["lock"]),
        )


def watch_in_progress(details: Mapping[str, Any]) -> WatchGuard | None:
    """The guard of a history entry's details whose watch still runs, else None."""
    watch = details.get("watch")
    if not isinstance(watch, Mapping) or watch.get("verdict") != WATCHING:
        return None
    return WatchGuard.from_json(watch)
