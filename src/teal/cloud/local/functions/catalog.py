"""Lambda's control plane in the store: functions and their invoke permissions.

The only module that reads or writes the ``functions`` and ``permissions``
tables. The stack provider (:mod:`teal.cloud.local.stacks.resources.lambda_`)
writes them; the gateway, the scheduler and the event source mappings read
them here, so the stored form of a :class:`FunctionSpec` is known in one place.
Every function takes the caller's connection, and writes in the caller's
transaction, so a function and its stack's record change together.

A change of either table changes what the gateway serves (a function's code,
who may invoke it), so each write bumps the generation in the same transaction.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

from teal.cloud.local.model import FunctionSpec, HostSettings
from teal.cloud.local.store import bump_generation, from_json, to_json


# A spec's variables are stored under "environment", the key stores have always had.
def _spec_to_json(spec: FunctionSpec) -> str:
    data = dataclasses.asdict(spec)
    data["environment"] = dict(data.pop("variables"))
    data["invoke_source_arns"] = list(spec.invoke_source_arns)
    return to_json(data)


def _spec_from_json(text: str) -> FunctionSpec:
    data: dict[str, Any] = from_json(text)
    data["variables"] = data.pop("environment", {})
    data["invoke_source_arns"] = tuple(data.get("invoke_source_arns", ()))
    data["host"] = HostSettings(**data.get("host", {}))  # none: written before it was kept
    data.pop("tags", None)  # kept by earlier teals, which read settings from the package
    return FunctionSpec(**data)


# Functions ------------------------------------------------------------------------


def function_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM functions WHERE name = ?", (name,)).fetchone() is not None


def function_by_name(conn: sqlite3.Connection, name: str) -> FunctionSpec | None:
    """The function as stored: without its invoke permissions."""
    row = conn.execute("SELECT spec FROM functions WHERE name = ?", (name,)).fetchone()
    return None if row is None else _spec_from_json(row[0])


def function_by_arn(conn: sqlite3.Connection, arn: str) -> FunctionSpec | None:
    """The function as stored: without its invoke permissions."""
    row = conn.execute("SELECT spec FROM functions WHERE arn = ?", (arn,)).fetchone()
    return None if row is None else _spec_from_json(row[0])


def function_named(conn: sqlite3.Connection, name: str) -> FunctionSpec | None:
    """The function as stored, by its name."""
    row = conn.execute("SELECT spec FROM functions WHERE name = ?", (name,)).fetchone()
    return None if row is None else _spec_from_json(row[0])


def create_function(conn: sqlite3.Connection, spec: FunctionSpec) -> None:
    conn.execute(
        "INSERT INTO functions (name, arn, spec) VALUES (?, ?, ?)",
        (spec.name, spec.arn, _spec_to_json(spec)),
    )
    bump_generation(conn)


def update_function(conn: sqlite3.Connection, spec: FunctionSpec) -> None:
    """Replace the stored spec of the function of ``spec.name`` (its ARN never changes)."""
    conn.execute("UPDATE functions SET spec = ? WHERE name = ?", (_spec_to_json(spec), spec.name))
    bump_generation(conn)


def delete_function(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("DELETE FROM functions WHERE name = ?", (name,))
    bump_generation(conn)


# Permissions: a function's resource policy, one statement a row --------------------


def add_permission(
    conn: sqlite3.Connection,
    permission_id: str,
    function_name: str,
    *,
    source_arn: str | None,
    principal: str,
    action: str,
) -> None:
    """A statement letting ``principal`` do ``action`` on the function, from ``source_arn``
    (any source when None)."""
    conn.execute(
        "INSERT INTO permissions (id, function_name, source_arn, principal, action) "
        "VALUES (?, ?, ?, ?, ?)",
        (permission_id, function_name, source_arn, principal, action),
    )
    bump_generation(conn)


def remove_permission(conn: sqlite3.Connection, permission_id: str) -> None:
    conn.execute("DELETE FROM permissions WHERE id = ?", (permission_id,))
    bump_generation(conn)


def gateway_source_arns(conn: sqlite3.Connection, function_name: str) -> tuple[str, ...]:
    """The source ARNs from which API Gateway may invoke the function, "*" for any
    source: what the gateway checks a request's API and route against."""
    rows = conn.execute(
        "SELECT source_arn FROM permissions WHERE function_name = ? "
        "AND principal = 'apigateway.amazonaws.com' AND action = 'lambda:InvokeFunction' "
        "ORDER BY id",
        (function_name,),
    ).fetchall()
    return tuple(r[0] if r[0] is not None else "*" for r in rows)


def may_invoke(
    conn: sqlite3.Connection, function_name: str, principal: str, source_arn: str
) -> bool:
    """Whether a statement lets ``principal`` invoke the function from ``source_arn``."""
    row = conn.execute(
        "SELECT 1 FROM permissions WHERE function_name = ? AND principal = ? "
        "AND action = 'lambda:InvokeFunction' AND (source_arn IS NULL OR source_arn = ?)",
        (function_name, principal, source_arn),
    ).fetchone()
    return row is not None
