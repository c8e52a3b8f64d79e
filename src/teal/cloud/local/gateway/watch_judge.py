"""The gateway keeps judging a watched switch once the command that watched it is gone.

``teal switch --watch`` writes its guard (:class:`~teal.rules.watch_rules.WatchGuard`)
into the switch's history entry before it starts watching, and replaces it with
its verdict at the end. If the command dies in between (kill -9, a closed
terminal, a crash), the guard stays: about once a second the gateway reads the
guards whose watching process no longer runs and judges them by the same rules
(:func:`~teal.rules.watch_rules.breach_of`) from the same traffic numbers the
command read. On a breach it puts the mapping back, writes the ``switched-back``
entry and the verdict in one store transaction; at the deadline it writes the
verdict ``held``. While the command runs, it alone judges.

It steps aside when the domain moved on: another command holding the domain's
lock, or a mapping that no longer points at the watched stage, ends the watch
as ``interrupted`` with the reason, and the domain stays as that command left it.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from teal.cloud.base import HistoryEntry, StageRef
from teal.cloud.local import oplog_tables
from teal.cloud.local.gateway import rest_apis
from teal.cloud.local.gateway.traffic import read_traffic_since
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.store import Store
from teal.processes import is_running
from teal.rules.apigateway import ApiGatewayError
from teal.rules.watch_rules import (
    Verdict,
    WatchFigures,
    WatchGuard,
    WatchReport,
    WatchResult,
    breach_of,
    watch_in_progress,
)

JUDGE_EVERY_S = 1.0  # the local traffic numbers come once a second
JUDGE = "local gateway"
log = logging.getLogger("teal.gateway")


@dataclass(frozen=True)
class Judged:
    """A watch the gateway ended: which, how, and why."""

    app: str
    switch_id: str
    verdict: Verdict
    reason: str


def watcher_runs(guard: WatchGuard) -> bool:
    """Whether the command that watches still runs (one on another host is its own judge)."""
    if guard.host != socket.gethostname():
        return True
    return is_running(guard.pid, guard.process_started)


def judge_watches(store: Store, paths: LocalPaths, now: float | None = None) -> list[Judged]:
    """Judge every orphaned watch once; the ones this call ended."""
    with store.reading() as conn:
        watching = list(oplog_tables.entries_watching(conn))
    ended: list[Judged] = []
    for app, entry in watching:
        guard = watch_in_progress(entry.details)
        if guard is None or watcher_runs(guard):
            continue
        result = _judgement(paths, guard, time.time() if now is None else now)
        if result is None:
            continue
        judged = _end(store, app, entry.id, guard, result)
        if judged is not None:
            log.info(
                "watch of %s ended: %s (%s)",
                guard.watched.environment,
                judged.verdict,
                judged.reason,
            )
            ended.append(judged)
    return ended


def _judgement(paths: LocalPaths, guard: WatchGuard, now: float) -> WatchResult | None:
    """The watch's result once it has one (a breach, or the deadline), else None."""
    watched = guard.watched
    stage = StageRef(watched.api_id, watched.environment, watched.stage)
    [traffic] = read_traffic_since(paths, [stage], guard.since, now)
    elapsed = min(now, guard.deadline) - guard.since
    figures = WatchFigures(elapsed, traffic.requests, traffic.errors, traffic.p99_ms)
    breach = breach_of(figures, guard.limits)
    if breach is None and now < guard.deadline:
        return None
    return WatchResult(figures, breach)


def _end(
    store: Store, app: str, switch_id: str, guard: WatchGuard, result: WatchResult
) -> Judged | None:
    """Write the verdict (and, on a breach, the switch back) in one transaction."""
    with store.transaction() as conn:
        entry = next((e for e in oplog_tables.app_history(conn, app) if e.id == switch_id), None)
        if entry is None or watch_in_progress(entry.details) is None:
            return None  # the command wrote its verdict meanwhile
        verdict, note = _verdict(store, app, entry, guard, result)
        report = WatchReport(result, guard.limits, verdict, note=note)
        judged = {"watch": {**report.to_json(), "judged_by": JUDGE}}
        oplog_tables.put_entry(conn, app, replace(entry, details={**entry.details, **judged}))
    return Judged(app, switch_id, verdict, note or report.reason)


def _verdict(
    store: Store, app: str, entry: HistoryEntry, guard: WatchGuard, result: WatchResult
) -> tuple[Verdict, str]:
    gone = f"the command that watched (pid {guard.pid}) had ended; the {JUDGE} judged"
    if result.breach is None:
        return "held", gone
    moved_on = _moved_on(store, guard)
    if moved_on is not None:
        return "interrupted", f"{gone}, but {moved_on}: the domain was left as it is"
    back = guard.back_to
    try:
        with store.transaction() as conn:  # a savepoint: a refused re-point undoes alone
            rest_apis.update_mapping(conn, guard.domain, guard.base_path, back.api_id, back.stage)
            oplog_tables.put_entry(conn, app, _switched_back(entry, guard, result))
    except ApiGatewayError as refused:
        return "held", f"{gone}; switching back to {back.environment} failed: {refused}"
    return "switched-back", gone


def _moved_on(store: Store, guard: WatchGuard) -> str | None:
    """Why the domain is no longer the watch's to undo, if it is not."""
    with store.transaction() as conn:
        holder = oplog_tables.lock_holder(conn, guard.lock_key)
        mapping = rest_apis.get_mapping(conn, guard.domain, guard.base_path)
    if holder is not None and (holder.host, holder.pid) != (guard.host, guard.pid):
        return f"{holder.describe()} holds {guard.lock_key}"
    if mapping != (guard.watched.api_id, guard.watched.stage):
        return f"{guard.domain} no longer serves {guard.watched.environment}"
    return None


def _switched_back(entry: HistoryEntry, guard: WatchGuard, result: WatchResult) -> HistoryEntry:
    report = WatchReport(result, guard.limits, "switched-back")
    details: dict[str, Any] = {
        "domain": guard.domain,
        "checks_skipped": True,
        "watch": {**report.to_json(), "judged_by": JUDGE},
    }
    return HistoryEntry(
        time=datetime.now(UTC),
        user=entry.user,
        action="switched-back",
        environment=guard.back_to.environment,
        from_=guard.watched.environment,
        to=guard.back_to.environment,
        details=details,
    )
