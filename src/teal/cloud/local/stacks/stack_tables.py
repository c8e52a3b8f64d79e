"""The stack engine's tables in the store: stacks, their resources and their events.

The only module that reads or writes the ``stacks``, ``resources`` and
``events`` tables. The ledger (:mod:`teal.cloud.local.stacks.ledger`) records an
operation's progress through it; the console reads here too. It imports
nothing but the store, so a reader does not load the engine.

Every function takes the caller's connection and writes in the caller's
transaction; a read outside one borrows the store's connection under its lock
(:meth:`teal.cloud.local.store.Store.reading`), as the ledger and the console
do. Values are written from their decoded form (the JSON is made here); whole
rows are read back as SQLite rows, which
:mod:`teal.cloud.local.stacks.records` decodes, since this module must not
import the records (they load every resource provider).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from teal.cloud.local.store import to_json

# Stacks ---------------------------------------------------------------------------


def stack_row(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM stacks WHERE name = ?", (name,)
    ).fetchone()
    return row


def stack_id(conn: sqlite3.Connection, name: str) -> str | None:
    """The stack's ARN, without reading the rest of its record."""
    row = conn.execute("SELECT stack_id FROM stacks WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def stack_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM stacks WHERE name = ?", (name,)).fetchone() is not None


def stack_rows(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every stack, nested ones too, by name."""
    return conn.execute("SELECT * FROM stacks ORDER BY name").fetchall()


def stacks_in_progress(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """The stacks an operation is changing, or was when its process died."""
    return conn.execute("SELECT * FROM stacks WHERE status LIKE '%_IN_PROGRESS'").fetchall()


def child_stacks(conn: sqlite3.Connection, parent: str) -> dict[str, str]:
    """The stacks recorded with ``parent`` as their parent: name -> stack id."""
    found = conn.execute(
        "SELECT name, stack_id FROM stacks WHERE parent = ? ORDER BY name", (parent,)
    ).fetchall()
    return {str(name): str(child_id) for name, child_id in found}


def insert_stack(
    conn: sqlite3.Connection,
    name: str,
    *,
    stack_id: str,
    status: str,
    template: dict[str, Any],
    parameters: dict[str, str],
    tags: dict[str, str],
    parent: str | None,
    owner: tuple[int, str | None],
    updated_at: str,
) -> None:
    """A new stack, with no outputs yet; ``owner`` is the (pid, start) of its process."""
    conn.execute(
        "INSERT INTO stacks (name, stack_id, status, template, parameters, tags, "
        "outputs, parent, owner_pid, owner_start, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?)",
        (
            name,
            stack_id,
            status,
            to_json(template),
            to_json(parameters),
            to_json(tags),
            parent,
            *owner,
            updated_at,
        ),
    )


def start_update(
    conn: sqlite3.Connection,
    name: str,
    *,
    seen_status: str,
    template: dict[str, Any],
    parameters: dict[str, str],
    tags: dict[str, str],
    previous: dict[str, Any],
    owner: tuple[int, str | None],
    updated_at: str,
) -> bool:
    """Mark the stack UPDATE_IN_PROGRESS with its new template and what it was before,
    if its status is still ``seen_status``; whether it was."""
    changed = conn.execute(
        "UPDATE stacks SET status = 'UPDATE_IN_PROGRESS', status_reason = NULL, "
        "template = ?, parameters = ?, tags = ?, previous = ?, owner_pid = ?, "
        "owner_start = ?, updated_at = ? WHERE name = ? AND status = ?",
        (
            to_json(template),
            to_json(parameters),
            to_json(tags),
            to_json(previous),
            *owner,
            updated_at,
            name,
            seen_status,
        ),
    ).rowcount
    return bool(changed)


def set_status(
    conn: sqlite3.Connection, name: str, status: str, reason: str | None, updated_at: str
) -> None:
    conn.execute(
        "UPDATE stacks SET status = ?, status_reason = ?, updated_at = ? WHERE name = ?",
        (status, reason, updated_at, name),
    )


def set_outputs(conn: sqlite3.Connection, name: str, outputs: Mapping[str, str]) -> None:
    conn.execute("UPDATE stacks SET outputs = ? WHERE name = ?", (to_json(dict(outputs)), name))


def set_owner(conn: sqlite3.Connection, name: str, owner: tuple[int, str | None]) -> None:
    conn.execute("UPDATE stacks SET owner_pid = ?, owner_start = ? WHERE name = ?", (*owner, name))


def claim(
    conn: sqlite3.Connection,
    name: str,
    owner: tuple[int, str | None],
    *,
    seen_owner: tuple[int | None, str | None],
    seen_status: str,
) -> bool:
    """Make ``owner`` the stack's owner if its owner and status are still the ones seen
    (a compare-and-set: of two processes that saw the same, one wins); whether it won."""
    claimed = conn.execute(
        "UPDATE stacks SET owner_pid = ?, owner_start = ? "
        "WHERE name = ? AND owner_pid IS ? AND owner_start IS ? AND status = ?",
        (*owner, name, *seen_owner, seen_status),
    )
    return claimed.rowcount == 1


def end_operation(conn: sqlite3.Connection, name: str, status: str, updated_at: str) -> None:
    """The final status: no owner, no reason, nothing left to roll back."""
    conn.execute(
        "UPDATE stacks SET status = ?, status_reason = NULL, previous = NULL, "
        "owner_pid = NULL, owner_start = NULL, updated_at = ? WHERE name = ?",
        (status, updated_at, name),
    )


def restore(
    conn: sqlite3.Connection,
    name: str,
    *,
    template: dict[str, Any],
    parameters: dict[str, str],
    tags: dict[str, str],
    outputs: dict[str, str],
) -> None:
    """The stack's template, parameters, tags and outputs as they were before an update."""
    conn.execute(
        "UPDATE stacks SET template = ?, parameters = ?, tags = ?, outputs = ? WHERE name = ?",
        (to_json(template), to_json(parameters), to_json(tags), to_json(outputs), name),
    )


def delete_stack(conn: sqlite3.Connection, name: str) -> None:
    """The stack and every record of it: its resources and its events."""
    for table in ("resources", "events"):
        conn.execute(f"DELETE FROM {table} WHERE stack = ?", (name,))
    conn.execute("DELETE FROM stacks WHERE name = ?", (name,))


# Resources: every physical resource a stack made; ``current`` is the one its logical
# id names, the others are kept until the operation that replaced them ends ----------


def resource_rows(conn: sqlite3.Connection, stack: str) -> list[sqlite3.Row]:
    """The stack's resources, current or not, in the order they were made."""
    return conn.execute("SELECT * FROM resources WHERE stack = ? ORDER BY seq", (stack,)).fetchall()


def physical_ids(conn: sqlite3.Connection, stack: str, type_name: str) -> set[str]:
    """The physical ids of the stack's resources of a type, current or not."""
    found = conn.execute(
        "SELECT physical_id FROM resources WHERE stack = ? AND type = ?", (stack, type_name)
    ).fetchall()
    return {row[0] for row in found}


def insert_resource(
    conn: sqlite3.Connection,
    stack: str,
    logical_id: str,
    type_name: str,
    *,
    physical_id: str,
    properties: dict[str, Any],
    attributes: Mapping[str, Any],
) -> int:
    """A new physical resource, current; its ``seq``."""
    cursor = conn.execute(
        "INSERT INTO resources (stack, logical_id, type, physical_id, properties, attributes, "
        "current) VALUES (?, ?, ?, ?, ?, ?, 1)",
        (stack, logical_id, type_name, physical_id, to_json(properties), to_json(dict(attributes))),
    )
    seq = cursor.lastrowid
    assert seq is not None  # an INSERT into a table with a rowid
    return seq


def update_resource(
    conn: sqlite3.Connection,
    seq: int,
    *,
    physical_id: str,
    properties: dict[str, Any],
    attributes: Mapping[str, Any],
) -> None:
    conn.execute(
        "UPDATE resources SET physical_id = ?, properties = ?, attributes = ? WHERE seq = ?",
        (physical_id, to_json(properties), to_json(dict(attributes)), seq),
    )


def retire_current(conn: sqlite3.Connection, stack: str, logical_id: str) -> None:
    """The logical id's current resource stops being current (a replacement is coming)."""
    conn.execute(
        "UPDATE resources SET current = 0 WHERE stack = ? AND logical_id = ?",
        (stack, logical_id),
    )


def make_current(conn: sqlite3.Connection, stack: str, logical_id: str, seq: int) -> None:
    """The resource ``seq`` is the one ``logical_id`` names; the others of it are not."""
    conn.execute(
        "UPDATE resources SET current = (seq = ?) WHERE stack = ? AND logical_id = ?",
        (seq, stack, logical_id),
    )


def delete_resource(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute("DELETE FROM resources WHERE seq = ?", (seq,))


def tagged_functions(conn: sqlite3.Connection, tag: str, value: str) -> tuple[str, ...]:
    """Lambda's names of the current functions of the stacks tagged ``tag=value`` (nested
    stacks carry their parent's tags), sorted: the console lists an environment's so."""
    rows = conn.execute(
        "SELECT r.physical_id FROM resources r JOIN stacks s ON s.name = r.stack "
        "WHERE r.type = 'AWS::Lambda::Function' AND r.current = 1 "
        "AND json_extract(s.tags, ?) = ? ORDER BY r.physical_id",
        (f'$."{tag}"', value),
    ).fetchall()
    return tuple(str(row[0]) for row in rows)


# Events: what happened to a stack and its resources, in order ---------------------


def insert_event(
    conn: sqlite3.Connection,
    stack: str,
    logical_id: str,
    *,
    time: str,
    type_name: str,
    status: str,
    reason: str | None,
    physical_id: str | None,
) -> None:
    conn.execute(
        "INSERT INTO events (stack, time, logical_id, type, status, reason, physical_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (stack, time, logical_id, type_name, status, reason, physical_id),
    )


def event_rows(conn: sqlite3.Connection, stack: str) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM events WHERE stack = ? ORDER BY seq", (stack,)).fetchall()
