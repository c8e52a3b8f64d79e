"""EventBridge's rules in the store: a schedule, a state and up to five targets each.

The only module that reads or writes the ``event_rules`` table. The stack
provider (:mod:`teal.cloud.local.stacks.resources.eventbridge`) writes them; the
gateway's scheduler (:mod:`teal.cloud.local.triggers.scheduler`) reads the ones
it fires. Every function takes the caller's connection, and writes in the
caller's transaction; times are in ms since the epoch, given by the caller.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from teal.cloud.local.store import from_json, to_json


@dataclass(frozen=True)
class ScheduledRule:
    """An enabled rule with a schedule, as stored."""

    name: str
    arn: str
    schedule: str
    target_arns: tuple[str, ...]
    created_ms: int  # when its schedule was set: a rate counts its periods from then


def rule_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM event_rules WHERE name = ?", (name,)).fetchone() is not None


def create_rule(
    conn: sqlite3.Connection,
    name: str,
    arn: str,
    *,
    schedule: str | None,
    state: str,
    targets: list[dict[str, Any]],
    created_ms: int,
) -> None:
    conn.execute(
        "INSERT INTO event_rules (name, arn, schedule, state, targets, created_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (name, arn, schedule, state, to_json(targets), created_ms),
    )


def update_rule(
    conn: sqlite3.Connection,
    name: str,
    *,
    schedule: str | None,
    state: str,
    targets: list[dict[str, Any]],
) -> None:
    conn.execute(
        "UPDATE event_rules SET schedule = ?, state = ?, targets = ? WHERE name = ?",
        (schedule, state, to_json(targets), name),
    )


def restart_schedule(conn: sqlite3.Connection, name: str, created_ms: int) -> None:
    """The rule's schedule counts from ``created_ms`` (it was changed then)."""
    conn.execute("UPDATE event_rules SET created_ms = ? WHERE name = ?", (created_ms, name))


def delete_rule(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("DELETE FROM event_rules WHERE name = ?", (name,))


def scheduled_rules(conn: sqlite3.Connection) -> list[ScheduledRule]:
    """The rules the scheduler fires: enabled, with a schedule (not an event pattern)."""
    rows = conn.execute(
        "SELECT name, arn, schedule, targets, created_ms FROM event_rules "
        "WHERE state = 'ENABLED' AND schedule IS NOT NULL"
    ).fetchall()
    return [
        ScheduledRule(
            name,
            arn,
            schedule,
            tuple(str(t.get("Arn")) for t in from_json(targets) or []),
            created_ms,
        )
        for name, arn, schedule, targets, created_ms in rows
    ]
