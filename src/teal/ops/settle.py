"""Interrupted operations, settled against what the cloud really serves.

A history entry left ``interrupted`` (its process died before writing its end)
says nothing about whether the operation took effect. A switch killed after
its history entry but before the mapping moved did nothing; one killed after
the mapping moved did everything that mattered. Reading such an entry as
either would mislead ``teal rollback``, which goes back from the last move.

So the next command that takes the lock settles the entry first: it looks at
the cloud (the domain's mapping, its preview rule, the stack) and rewrites the
entry ``done`` (it took effect) or ``failed`` (it did not), keeping
``interrupted: true`` and a ``settled`` sentence that says what it saw. An
entry whose effect cannot be told (the domain serves a third environment)
stays ``interrupted`` with its ``settled`` sentence, and is not read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from teal.cloud.base import DOMAIN_MOVES, Cloud, HistoryEntry
from teal.ops.environments import find_preview, read_domain
from teal.project.config import DomainSpec

SETTLED_KEY = "settled"


@dataclass(frozen=True)
class Settlement:
    """What the cloud showed about an interrupted entry: whether it took effect, and why."""

    took_effect: bool | None  # None: the cloud shows neither its before nor its after
    seen: str

    def applied_to(self, entry: HistoryEntry) -> HistoryEntry:
        details: dict[str, Any] = {**entry.details, "interrupted": True, SETTLED_KEY: self.seen}
        if self.took_effect is None:
            return replace(entry, details=details)
        return entry.ended("done" if self.took_effect else "failed", details=details)


def unsettled(entry: HistoryEntry) -> bool:
    return entry.state == "interrupted" and SETTLED_KEY not in entry.details


def settle_interrupted(cloud: Cloud, app: str, domain: DomainSpec | None) -> list[HistoryEntry]:
    """Settle every unsettled interrupted entry the cloud can tell about; the rewritten ones.

    Domain moves and previews are settled only for ``domain`` (the mapping is read
    through its spec); deletes need no domain.
    """
    history = cloud.read_history(app)
    settled: list[HistoryEntry] = []
    for index, entry in enumerate(history):
        if not unsettled(entry):
            continue
        settlement = _settle(cloud, app, domain, entry, history[index + 1 :])
        if settlement is not None:
            rewritten = settlement.applied_to(entry)
            cloud.record_history(app, rewritten)
            settled.append(rewritten)
    return settled


def _settle(
    cloud: Cloud,
    app: str,
    domain: DomainSpec | None,
    entry: HistoryEntry,
    later: Sequence[HistoryEntry],
) -> Settlement | None:
    if entry.action == "delete":
        return _settle_delete(cloud, entry)
    if domain is None or entry.details.get("domain") != domain.name:
        return None
    if entry.action in DOMAIN_MOVES:
        return _settle_move(cloud, app, domain, entry, later)
    if entry.action == "preview":
        return _settle_preview(cloud, app, domain, entry, later)
    return None


def _settle_move(
    cloud: Cloud,
    app: str,
    domain: DomainSpec,
    entry: HistoryEntry,
    later: Sequence[HistoryEntry],
) -> Settlement:
    """A later move's ``from`` is what the domain served after this one; without a later
    move, the mapping now says it."""
    following = next(
        (
            e
            for e in later
            if e.action in DOMAIN_MOVES
            and e.details.get("domain") == domain.name
            and e.state != "failed"
        ),
        None,
    )
    if following is not None:
        served = following.from_
        seen = f"{domain.name} served {served or 'nothing'} when the next {following.action} began"
    else:
        served = read_domain(cloud, app, domain).live
        seen = f"{domain.name} serves {served or 'nothing'} now"
    return _compare(served, entry, seen)


def _settle_preview(
    cloud: Cloud,
    app: str,
    domain: DomainSpec,
    entry: HistoryEntry,
    later: Sequence[HistoryEntry],
) -> Settlement | None:
    """A preview entry goes from the previewed environment before to the one after (None:
    no preview); only the last preview entry can be compared with the rules now."""
    if any(e.action == "preview" and e.details.get("domain") == domain.name for e in later):
        return Settlement(None, "a later preview changed the domain's rules since")
    found = find_preview(cloud, app, domain)
    previewed = found.environment if found is not None else None
    return _compare(previewed, entry, f"{domain.name} previews {previewed or 'nothing'} now")


def _compare(seen_value: str | None, entry: HistoryEntry, seen: str) -> Settlement:
    if seen_value == entry.to:
        return Settlement(True, f"{seen}: it took effect")
    if seen_value == entry.from_:
        return Settlement(False, f"{seen}: it was interrupted before it took effect")
    return Settlement(None, f"{seen}: neither before nor after it")


def _settle_delete(cloud: Cloud, entry: HistoryEntry) -> Settlement | None:
    stack = cloud.describe_stack(entry.environment)
    if stack is None:
        return Settlement(True, f"{entry.environment} no longer exists: it was deleted")
    if stack.status.startswith("DELETE"):
        return None  # still being deleted: settled by a later command
    return Settlement(False, f"{entry.environment} is {stack.status}: it was not deleted")
