"""The records operations keep in the local store: their locks and their history.

The local cloud's implementation of the seam's lock and history calls goes
through these functions, and so does the gateway's judge of watched switches
(:mod:`teal.cloud.local.gateway.watch_judge`), which re-points a domain and
writes the history in one transaction with them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from teal.cloud.base import HistoryEntry, LockOwner
from teal.cloud.local.store import from_json, to_json
from teal.rules.watch_rules import WATCHING


def lock_holder(conn: sqlite3.Connection, key: str) -> LockOwner | None:
    row = conn.execute("SELECT owner FROM locks WHERE key = ?", (key,)).fetchone()
    return None if row is None else LockOwner.from_record(from_json(row[0]))


def insert_lock(conn: sqlite3.Connection, key: str, owner: LockOwner) -> None:
    conn.execute("INSERT INTO locks (key, owner) VALUES (?, ?)", (key, to_json(owner.to_record())))


def replace_lock(conn: sqlite3.Connection, key: str, owner: LockOwner) -> None:
    conn.execute("UPDATE locks SET owner = ? WHERE key = ?", (to_json(owner.to_record()), key))


def delete_lock(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("DELETE FROM locks WHERE key = ?", (key,))


def all_locks(conn: sqlite3.Connection) -> list[tuple[str, LockOwner]]:
    rows = conn.execute("SELECT key, owner FROM locks ORDER BY key").fetchall()
    return [(row[0], LockOwner.from_record(from_json(row[1]))) for row in rows]


def put_entry(conn: sqlite3.Connection, app: str, entry: HistoryEntry) -> None:
    """Add the entry, or replace the app's entry with the same id."""
    text = to_json(entry.to_record())
    replaced = conn.execute(
        "UPDATE history SET entry = ? WHERE app = ? AND json_extract(entry, '$.id') = ?",
        (text, app, entry.id),
    )
    if replaced.rowcount == 0:
        conn.execute("INSERT INTO history (app, entry) VALUES (?, ?)", (app, text))


def app_history(conn: sqlite3.Connection, app: str) -> list[HistoryEntry]:
    rows = conn.execute("SELECT entry FROM history WHERE app = ? ORDER BY seq", (app,))
    return [HistoryEntry.from_record(from_json(row[0])) for row in rows]


def entries_watching(conn: sqlite3.Connection) -> Iterator[tuple[str, HistoryEntry]]:
    """Every app's entries whose watch still runs (see :data:`WATCHING`), oldest first."""
    rows = conn.execute(
        "SELECT app, entry FROM history WHERE json_extract(entry, '$.watch.verdict') = ? "
        "ORDER BY seq",
        (WATCHING,),
    )
    for row in rows.fetchall():
        yield row[0], HistoryEntry.from_record(from_json(row[1]))
