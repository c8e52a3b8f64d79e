"""Resources that are only a unique name and some data (IAM roles, log groups)."""

from __future__ import annotations

import sqlite3
from typing import Any

from teal.cloud.local.stacks.resources import ResourceFailed
from teal.cloud.local.store import from_json, to_json


def claim(conn: sqlite3.Connection, kind: str, name: str, data: Any, conflict: str) -> None:
    """Record a new named resource; ``conflict`` is the service's message for a duplicate."""
    if conn.execute("SELECT 1 FROM named WHERE kind = ? AND name = ?", (kind, name)).fetchone():
        raise ResourceFailed(conflict)
    conn.execute(
        "INSERT INTO named (kind, name, data) VALUES (?, ?, ?)", (kind, name, to_json(data))
    )


def replace_data(conn: sqlite3.Connection, kind: str, name: str, data: Any) -> None:
    conn.execute(
        "UPDATE named SET data = ? WHERE kind = ? AND name = ?", (to_json(data), kind, name)
    )


def release(conn: sqlite3.Connection, kind: str, name: str) -> None:
    conn.execute("DELETE FROM named WHERE kind = ? AND name = ?", (kind, name))


def read(conn: sqlite3.Connection, kind: str, name: str) -> Any:
    row = conn.execute(
        "SELECT data FROM named WHERE kind = ? AND name = ?", (kind, name)
    ).fetchone()
    return None if row is None else from_json(row[0])
