"""Resource providers of the local cloud: one module per AWS resource type.

A provider creates, updates and deletes one kind of physical resource inside
the caller's SQLite transaction, so the resource and the engine's record of
it change together. A provider refuses with :class:`ResourceFailed`, whose
reason is what CloudFormation would show on the failed event.
"""

from __future__ import annotations

import secrets
import sqlite3
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from teal.cloud.local.model import HostSettings
from teal.cloud.local.store import Store
from teal.template.types import Template

Properties = dict[str, Any]


class ResourceFailed(Exception):
    """A provider refused an operation; ``reason`` is the event's status reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Provisioned:
    """A physical resource: its id (what Ref gives) and its Fn::GetAtt attributes."""

    physical_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NestedOutcome:
    stack_id: str
    outputs: Mapping[str, str]


class NestedStacks(Protocol):
    """The engine, as the AWS::CloudFormation::Stack provider needs it."""

    def create_child(
        self, parent: str, logical_id: str, template: Template, parameters: Mapping[str, str]
    ) -> NestedOutcome: ...
    def update_child(
        self, child: str, template: Template, parameters: Mapping[str, str]
    ) -> NestedOutcome: ...
    def delete_child(self, child: str) -> None: ...


@dataclass(frozen=True)
class ResourceContext:
    """Where a provider runs: the open transaction, the stack, the services."""

    conn: sqlite3.Connection
    store: Store
    stack_name: str
    logical_id: str
    region: str
    account_id: str
    nested: NestedStacks
    # how this machine runs the functions, from the project of the command that applies;
    # None: a command that read no project (one finishing a dead deploy, say)
    host: HostSettings | None = None

    def physical_name(self, max_length: int = 64) -> str:
        """A generated name like CloudFormation's: ``<stack>-<LogicalId>-<RANDOM>``."""
        suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))
        head = f"{self.stack_name}-{self.logical_id}"[: max_length - len(suffix) - 1]
        return f"{head}-{suffix}"


class ResourceProvider(Protocol):
    """One resource type's create/update/delete."""

    type_name: str
    properties: frozenset[str]  # accepted property names
    required: frozenset[str]
    attributes: frozenset[str]  # Fn::GetAtt names
    transactional: bool  # False: manages its own transactions (nested stacks)

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned: ...
    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned: ...
    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None: ...


def require_str(props: Properties, name: str) -> str:
    value = props.get(name)
    if not isinstance(value, str) or not value:
        raise ResourceFailed(f"Property {name} must be a non-empty string (got {value!r})")
    return value


def given_or_generated_name(
    ctx: ResourceContext, props: Properties, name: str, max_length: int
) -> str:
    """The physical name the template gives in ``name``, or one CloudFormation would make
    (stack, logical id and a suffix, at most ``max_length`` characters)."""
    value = props.get(name) or ctx.physical_name(max_length)
    if not isinstance(value, str):
        raise ResourceFailed(f"Property {name} must be a string (got {value!r})")
    return value


def optional_int(props: Properties, name: str, default: int) -> int:
    value = props.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ResourceFailed(f"Property {name} must be an integer (got {value!r})") from exc
