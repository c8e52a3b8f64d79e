"""Lambda's event source mappings in the store: which function polls which queue.

The only module that reads or writes the ``event_source_mappings`` table (not
to be confused with a custom domain's base path mappings, which
:mod:`teal.cloud.local.gateway.rest_apis` keeps). The stack provider
(:mod:`teal.cloud.local.stacks.resources.event_source_mappings`) writes them; the
gateway's poller (:mod:`teal.cloud.local.triggers.pollers`) reads them. Every
function takes the caller's connection, and writes in the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class MappingSettings:
    """What a mapping's template sets, once checked: all of its row but its id."""

    function_name: str
    function_arn: str
    source_arn: str
    batch_size: int
    window_s: int
    enabled: int  # 1 or 0, as stored


@dataclass(frozen=True)
class MappingRecord:
    """An enabled mapping as the poller needs it."""

    uuid: str
    function_arn: str
    source_arn: str
    batch_size: int


def create_mapping(conn: sqlite3.Connection, mapping_id: str, settings: MappingSettings) -> None:
    conn.execute(
        "INSERT INTO event_source_mappings (uuid, function_name, function_arn, source_arn, "
        "batch_size, window_s, enabled) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (mapping_id, *_columns(settings)),
    )


def update_mapping(conn: sqlite3.Connection, mapping_id: str, settings: MappingSettings) -> None:
    conn.execute(
        "UPDATE event_source_mappings SET function_name = ?, function_arn = ?, "
        "source_arn = ?, batch_size = ?, window_s = ?, enabled = ? WHERE uuid = ?",
        (*_columns(settings), mapping_id),
    )


def delete_mapping(conn: sqlite3.Connection, mapping_id: str) -> None:
    conn.execute("DELETE FROM event_source_mappings WHERE uuid = ?", (mapping_id,))


def enabled_sqs_mappings(conn: sqlite3.Connection) -> list[MappingRecord]:
    """The enabled mappings from an SQS queue: the only source the local cloud polls."""
    rows = conn.execute(
        "SELECT uuid, function_arn, source_arn, batch_size FROM event_source_mappings "
        "WHERE enabled = 1 AND source_arn LIKE 'arn:%:sqs:%'"
    ).fetchall()
    return [MappingRecord(*row) for row in rows]


def _columns(settings: MappingSettings) -> tuple[str, str, str, int, int, int]:
    """The settings in the order of the table's columns after ``uuid``."""
    return (
        settings.function_name,
        settings.function_arn,
        settings.source_arn,
        settings.batch_size,
        settings.window_s,
        settings.enabled,
    )
