"""Watching a switch: the new live environment's traffic since the switch, judged.

After a switch (and after the re-point of an automated replacement) teal
reads the traffic of the stage the domain now serves, once per period of the
cloud's numbers (:class:`~teal.cloud.base.TrafficTiming`: every second
locally, every minute on AWS), each read one :meth:`Cloud.traffic_since`
call, until the watch's time is up or a limit is breached. A read counts the
periods that began after the switch, whole (locally the traffic lines written
a line's span after it, on AWS the minutes that began after it), so nothing
the new environment answered before the switch is judged, by the rules of
:mod:`teal.rules.watch_rules`.

The numbers arrive late (up to a second locally, a minute or two on AWS),
so a watch is at least ``TrafficTiming.min_watch_s`` long, and the last
moments of it may not be in its figures. Ctrl-C ends the watch and keeps the
switch.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from teal.cloud.base import Cloud, HistoryEntry, StageRef, Traffic, TrafficTiming
from teal.processes import is_running
from teal.progress import Progress
from teal.project.config import WatchSettings
from teal.rules.watch_rules import (
    WatchFigures,
    WatchGuard,
    WatchLimits,
    WatchReport,
    WatchResult,
    breach_of,
    watch_in_progress,
)
from teal.runtime.errors import OperationError, UserError


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


def figures_of(seconds: float, traffic: Traffic) -> WatchFigures:
    return WatchFigures(seconds, traffic.requests, traffic.errors, traffic.p99_ms)


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

    def read(switched: datetime) -> Traffic:
        return cloud.traffic_since([stage], switched)[0]

    return watch_reads(
        read,
        stage.api_name,
        limits,
        cloud.traffic_timing,
        since=since,
        live=live,
        clock=clock,
        sleep=sleep,
    )


def watch_reads(
    read: Callable[[datetime], Traffic],
    what: str,
    limits: WatchLimits,
    timing: TrafficTiming,
    *,
    since: float,
    live: Progress,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> WatchResult:
    """Judge what ``read`` gives (the traffic since a moment) once a period of the cloud's
    numbers until ``limits.seconds`` after ``since``, or a breach: a switch's watch and a
    canary's alike (``what`` names what is watched)."""
    poll_s = timing.poll_s
    switched = datetime.fromtimestamp(since, UTC)
    figures = WatchFigures(0.0)
    failed: str | None = None
    read_once = False
    try:
        while True:
            sleep(max(0.0, min(poll_s, limits.seconds - (clock() - since))))
            elapsed = clock() - since
            try:
                figures = figures_of(elapsed, read(switched))
                read_once = True
            except OperationError as error:  # read again at the next period
                failed = error.what
                figures = WatchFigures(elapsed, figures.requests, figures.errors, figures.p99_ms)
            live(f"watching {what}: {figures.line(limits.seconds)}")
            breach = breach_of(figures, limits)
            if breach is not None or elapsed >= limits.seconds:
                return WatchResult(figures, breach, unreadable=None if read_once else failed)
    except KeyboardInterrupt:
        return WatchResult(figures, interrupted=True)


# A watch run from another host is taken for ended once this long past its deadline.
OTHER_HOST_GRACE_S = 120


def orphaned_watches(cloud: Cloud, app: str, now: float | None = None) -> list[str]:
    """A sentence for each watch of the app whose command is gone before its verdict.

    On AWS, once such a watch is past its deadline, its alarms are removed and its
    entry gets the verdict ``interrupted`` (the alarms guarded it until then).
    """
    moment = time.time() if now is None else now
    said: list[str] = []
    for entry in cloud.read_history(app):
        guard = watch_in_progress(entry.details)
        if guard is None or _watcher_may_run(guard, moment):
            continue
        lost = (
            f"the watch of {guard.watched.environment} on {guard.domain} lost its command "
            f"(pid {guard.pid} on {guard.host})"
        )
        until = datetime.fromtimestamp(guard.deadline).astimezone().strftime("%H:%M:%S")
        if cloud.name == "local":
            said.append(
                f"{lost}: the local gateway judges it until {until} and switches back to "
                f"{guard.back_to.environment} on a breach"
            )
        elif moment < guard.deadline:
            measures = "5xx rate and p99" if guard.limits.max_p99_ms else "5xx rate"
            said.append(
                f"{lost}: CloudWatch alarms on its {measures} guard it until {until} "
                f"and put {guard.domain} back on {guard.back_to.environment} on a breach"
            )
        else:
            _close_orphan(cloud, app, entry, guard)
            said.append(
                f"{lost}: its alarms guarded it until {until}; they are removed now "
                f"({guard.domain} serves what `teal status` shows)"
            )
    return said


def _close_orphan(cloud: Cloud, app: str, entry: HistoryEntry, guard: WatchGuard) -> None:
    cloud.unguard_watch(guard)
    ended = WatchReport(
        WatchResult(WatchFigures(float(guard.limits.seconds)), interrupted=True),
        guard.limits,
        "interrupted",
        note=f"the command that watched (pid {guard.pid}) ended before its verdict; "
        "CloudWatch alarms guarded the switch until the deadline",
    )
    cloud.record_history(app, replace(entry, details={**entry.details, "watch": ended.to_json()}))


def _watcher_may_run(guard: WatchGuard, now: float) -> bool:
    if guard.host == socket.gethostname():
        return is_running(guard.pid, guard.process_started)
    return now < guard.deadline + OTHER_HOST_GRACE_S
