"""The stack engine's records as values: stacks, their physical resources, the state before.

These records are all a later process needs to finish or undo an operation
whose process died; the :mod:`ledger` reads and writes them. Beside them,
what an operation carries along: what it was asked for (:class:`Desired`),
where its events go (:class:`Sink`), why forward progress stopped
(:class:`ForwardFailure`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from teal.cloud.base import (
    EventSink,
    StackEvent,
)
from teal.cloud.local.stacks.resources import Properties, Provisioned
from teal.cloud.local.stacks.template_checks import ParsedTemplate, parse_template
from teal.cloud.local.store import from_json
from teal.runtime.errors import UserError
from teal.template.types import Template

# Records --------------------------------------------------------------------


@dataclass
class Row:
    """One physical resource of a stack; ``current`` is the one its logical id names."""

    seq: int
    logical_id: str
    type: str
    physical_id: str
    properties: Properties
    attributes: dict[str, Any]
    current: bool

    @property
    def provisioned(self) -> Provisioned:
        return Provisioned(self.physical_id, self.attributes)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "logical_id": self.logical_id,
            "type": self.type,
            "physical_id": self.physical_id,
            "properties": self.properties,
            "attributes": self.attributes,
        }

    @classmethod
    def from_db(cls, row: sqlite3.Row) -> Row:
        return cls(
            row["seq"],
            row["logical_id"],
            row["type"],
            row["physical_id"],
            from_json(row["properties"]),
            from_json(row["attributes"]),
            bool(row["current"]),
        )


@dataclass(frozen=True)
class Previous:
    """The stack as it was before an update: what a rollback restores."""

    template: Template
    parameters: dict[str, str]
    tags: dict[str, str]
    outputs: dict[str, str]
    rows: tuple[Row, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "parameters": self.parameters,
            "tags": self.tags,
            "outputs": self.outputs,
            "rows": [row.to_json() for row in self.rows],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Previous:
        rows = tuple(Row(current=True, **item) for item in data["rows"])
        return cls(data["template"], data["parameters"], data["tags"], data["outputs"], rows)


@dataclass(frozen=True)
class StackRecord:
    name: str
    stack_id: str
    status: str
    status_reason: str | None
    template: Template
    parameters: dict[str, str]
    tags: dict[str, str]
    outputs: dict[str, str]
    parent: str | None
    owner_pid: int | None
    owner_start: str | None
    previous: Previous | None
    updated_at: datetime

    @property
    def region(self) -> str:
        """The region the stack was created in (its ARN's): a stack never moves, and
        every ARN its resources get carries this region."""
        return self.stack_id.split(":")[3]

    @classmethod
    def from_db(cls, row: sqlite3.Row) -> StackRecord:
        previous = from_json(row["previous"])
        return cls(
            name=row["name"],
            stack_id=row["stack_id"],
            status=row["status"],
            status_reason=row["status_reason"],
            template=from_json(row["template"]),
            parameters=from_json(row["parameters"]),
            tags=from_json(row["tags"]),
            outputs=from_json(row["outputs"]),
            parent=row["parent"],
            owner_pid=row["owner_pid"],
            owner_start=row["owner_start"],
            previous=Previous.from_json(previous) if previous else None,
            updated_at=datetime.fromisoformat(row["updated_at"]),
        )

    @property
    def in_progress(self) -> bool:
        return self.status.endswith("_IN_PROGRESS")


@dataclass
class Sink:
    """Streams events to the caller and keeps those of this operation."""

    on_event: EventSink
    events: list[StackEvent] = field(default_factory=list)
    _held: list[StackEvent] | None = field(default=None, init=False, repr=False)

    def __call__(self, event: StackEvent) -> None:
        if self._held is not None:
            self._held.append(event)
            return
        self.events.append(event)
        self.on_event(event)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold events back until the block ends: a batch's events once it is committed.

        Dropped if the block fails: its transaction rolled back, they never happened.
        """
        if self._held is not None:  # inside a batch already: its end releases them
            yield
            return
        self._held = []
        try:
            yield
        except BaseException:
            self._held = None
            raise
        released, self._held = self._held, None
        for event in released:
            self(event)

    def failures(self, stack: str) -> tuple[StackEvent, ...]:
        failed = [e for e in self.events if e.failed]
        primary = [e for e in failed if "cancelled" not in (e.reason or "")]
        own = [e for e in primary if e.stack_name == stack]
        rest = [e for e in failed if e not in own]
        return tuple(own + rest)


class ForwardFailure(Exception):
    """Forward progress stopped; the stack rolls back."""

    def __init__(self, logical_ids: list[str], verb: str) -> None:
        super().__init__(logical_ids)
        self.logical_ids = logical_ids
        self.verb = verb

    @property
    def reason(self) -> str:
        return f"The following resource(s) failed to {self.verb}: [{', '.join(self.logical_ids)}]. "


@dataclass(frozen=True)
class Desired:
    """What an apply asks for: a checked template, its parameter values, the tags."""

    name: str
    parsed: ParsedTemplate
    parameters: dict[str, str]
    tags: dict[str, str]


def teardown_order(rows: Iterable[Row], template: Template) -> list[Row]:
    """Reverse dependency order of ``template``; resources it does not name go first."""
    try:
        order = parse_template(template, "teardown").order
    except UserError:
        order = []
    rank = {logical_id: i for i, logical_id in enumerate(order)}
    return sorted(rows, key=lambda r: (-rank.get(r.logical_id, len(rank)), -r.seq))
