"""Lambda's control plane in the store: functions, their published versions and
aliases, and their invoke permissions.

The only module that reads or writes the ``functions``, ``function_versions``,
``aliases`` and ``permissions`` tables. The stack provider
(:mod:`teal.cloud.local.stacks.resources.lambda_`) writes them; the gateway, the
scheduler and the event source mappings read them here, so the stored form of a
:class:`FunctionSpec` is known in one place.
Every function takes the caller's connection, and writes in the caller's
transaction, so a function and its stack's record change together.

A change of either table changes what the gateway serves (a function's code,
who may invoke it), so each write bumps the generation in the same transaction.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from teal.cloud.local.model import FunctionSpec, HostSettings
from teal.cloud.local.store import bump_generation, from_json, to_json


# A spec's variables are stored under "environment", the key stores have always had.
def _spec_to_json(spec: FunctionSpec) -> str:
    # what an invocation resolved (the ARN it named, an alias's routing) is not stored
    spec = dataclasses.replace(spec, invoked_arn="", canary=None, canary_weight=0.0)
    data = dataclasses.asdict(spec)
    for resolved in ("invoked_arn", "canary", "canary_weight"):
        data.pop(resolved)
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
    """What an invocation of ``arn`` runs, without its invoke permissions: the function's
    ``$LATEST`` for its own ARN, a published version for ``...:function:NAME:3``, and for
    an alias's ARN the version it points at, with the alias's other version and its
    weight (:meth:`FunctionSpec.routed` picks per invocation)."""
    base, qualifier = split_qualifier(arn)
    row = conn.execute("SELECT spec FROM functions WHERE arn = ?", (base,)).fetchone()
    if row is None:
        return None
    latest = _spec_from_json(row[0])
    if qualifier is None or qualifier == LATEST:
        return dataclasses.replace(latest, invoked_arn=arn) if qualifier else latest
    if qualifier.isdigit():
        return _version(conn, latest.name, int(qualifier), arn)
    alias = conn.execute(
        "SELECT version, weights FROM aliases WHERE function_name = ? AND name = ?",
        (latest.name, qualifier),
    ).fetchone()
    if alias is None:
        return None
    primary = _version(conn, latest.name, int(alias[0]), arn)
    weights: dict[str, float] = from_json(alias[1]) or {}
    if primary is None or not weights:
        return primary
    number, weight = next(iter(weights.items()))
    canary = _version(conn, latest.name, int(number), arn)
    return dataclasses.replace(primary, canary=canary, canary_weight=float(weight))


LATEST = "$LATEST"


def split_qualifier(arn: str) -> tuple[str, str | None]:
    """``arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`` as (the function's
    ARN, the qualifier or None)."""
    parts = arn.split(":")
    if len(parts) == 8 and parts[5] == "function":
        return ":".join(parts[:7]), parts[7]
    return arn, None


def _version(
    conn: sqlite3.Connection, name: str, number: int, invoked_arn: str
) -> FunctionSpec | None:
    row = conn.execute(
        "SELECT spec FROM function_versions WHERE function_name = ? AND version = ? AND spec != ''",
        (name, number),
    ).fetchone()
    if row is None:
        return None
    return dataclasses.replace(_spec_from_json(row[0]), invoked_arn=invoked_arn)


# Versions and aliases -----------------------------------------------------------------


def publish_version(conn: sqlite3.Connection, name: str) -> int:
    """Publish the function's ``$LATEST`` as a version: its number. As Lambda does, the
    last version when nothing changed since it was published; numbers never come back,
    a deleted version's included."""
    latest = function_by_name(conn, name)
    if latest is None:
        raise LookupError(name)
    last = conn.execute(
        "SELECT version, spec FROM function_versions WHERE function_name = ? "
        "ORDER BY version DESC LIMIT 1",
        (name,),
    ).fetchone()
    as_published = _spec_to_json(latest)
    if last is not None and last[1] and _same_code_and_settings(last[1], as_published):
        return int(last[0])
    number = int(last[0]) + 1 if last is not None else 1
    published = dataclasses.replace(latest, version=str(number))
    conn.execute(
        "INSERT INTO function_versions (function_name, version, spec) VALUES (?, ?, ?)",
        (name, number, _spec_to_json(published)),
    )
    bump_generation(conn)
    return number


def _same_code_and_settings(published: str, latest: str) -> bool:
    def unnumbered(text: str) -> dict[str, Any]:
        data: dict[str, Any] = from_json(text)
        data.pop("version", None)
        return data

    return unnumbered(published) == unnumbered(latest)


def delete_version(conn: sqlite3.Connection, name: str, number: int) -> None:
    """Delete a published version; its row stays, emptied, so its number is never given
    again. Lambda refuses while an alias points at it (the message is Lambda's)."""
    pointing = [
        str(row[0])
        for row in conn.execute(
            "SELECT name, version, weights FROM aliases WHERE function_name = ?", (name,)
        ).fetchall()
        if int(row[1]) == number or str(number) in (from_json(row[2]) or {})
    ]
    if pointing:
        raise ValueError(
            f"Unable to delete version because the following aliases reference it: {pointing}"
        )
    conn.execute(
        "UPDATE function_versions SET spec = '' WHERE function_name = ? AND version = ?",
        (name, number),
    )
    bump_generation(conn)


def version_exists(conn: sqlite3.Connection, name: str, number: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM function_versions WHERE function_name = ? AND version = ? AND spec != ''",
        (name, number),
    ).fetchone()
    return row is not None


@dataclass(frozen=True)
class Alias:
    function_name: str
    name: str
    version: int
    weights: Mapping[int, float]  # other version -> share of invocations (0-1)


def put_alias(conn: sqlite3.Connection, alias: Alias) -> None:
    """Create or change an alias: the version it points at, and its weights."""
    conn.execute(
        "INSERT INTO aliases (function_name, name, version, weights) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (function_name, name) DO UPDATE SET version = excluded.version, "
        "weights = excluded.weights",
        (
            alias.function_name,
            alias.name,
            alias.version,
            to_json({str(k): v for k, v in alias.weights.items()}),
        ),
    )
    bump_generation(conn)


def delete_alias(conn: sqlite3.Connection, function_name: str, name: str) -> None:
    conn.execute("DELETE FROM aliases WHERE function_name = ? AND name = ?", (function_name, name))
    bump_generation(conn)


def aliases_of(conn: sqlite3.Connection, function_name: str) -> list[Alias]:
    rows = conn.execute(
        "SELECT name, version, weights FROM aliases WHERE function_name = ? ORDER BY name",
        (function_name,),
    ).fetchall()
    return [
        Alias(
            function_name,
            str(row[0]),
            int(row[1]),
            {int(k): float(v) for k, v in (from_json(row[2]) or {}).items()},
        )
        for row in rows
    ]


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
    """The function, its versions and its aliases (Lambda deletes them with it)."""
    conn.execute("DELETE FROM functions WHERE name = ?", (name,))
    conn.execute("DELETE FROM function_versions WHERE function_name = ?", (name,))
    conn.execute("DELETE FROM aliases WHERE function_name = ?", (name,))
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
