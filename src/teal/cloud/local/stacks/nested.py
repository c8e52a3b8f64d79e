"""Nested stacks as child stacks: the one point where the engine's operations recurse.

An ``AWS::CloudFormation::Stack`` resource is a stack of its own, created,
updated and deleted by a whole stack operation. Its provider reaches that
operation through :class:`NestedChildren`, and that through
:class:`ChildStacks`: the engine, passed in from above, so that the modules
below the engine never import it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Protocol

from teal.cloud.base import (
    EventSink,
    NoUpdates,
    StackFailed,
    StackRequest,
    StackResult,
)
from teal.cloud.local.stacks.ledger import Ledger
from teal.cloud.local.stacks.records import Sink, StackRecord
from teal.cloud.local.stacks.resources import NestedOutcome, ResourceFailed
from teal.runtime.errors import UserError
from teal.template.types import Template


class ChildStacks(Protocol):
    """A whole stack operation, as a nested stack runs one (the engine implements it)."""

    def apply(
        self,
        request: StackRequest,
        on_event: EventSink,
        *,
        parent: str | None = None,
        defer_cleanup: bool = False,
    ) -> StackResult: ...

    def delete(self, name: str, on_event: EventSink) -> None: ...


class NestedChildren:
    """Child stacks of ``parent``, named as CloudFormation names them.

    Their events go to the parent operation's sink; a failed child is the
    parent's failed resource, with CloudFormation's "Embedded stack" reason.
    """

    def __init__(
        self, children: ChildStacks, ledger: Ledger, parent: StackRecord, sink: Sink
    ) -> None:
        self.children = children
        self.ledger = ledger
        self.parent = parent
        self.sink = sink

    def create_child(
        self, parent: str, logical_id: str, template: Template, parameters: Mapping[str, str]
    ) -> NestedOutcome:
        suffix = uuid.uuid4().hex[:12].upper()
        name = f"{parent}-{logical_id}"[: 128 - len(suffix) - 1] + f"-{suffix}"
        request = StackRequest(name, template, parameters, self.parent.tags)
        try:
            result = self.children.apply(request, self.sink, parent=parent)
        except StackFailed as exc:
            raise ResourceFailed(self._embedded(name, "created", exc)) from exc
        except UserError as exc:
            raise ResourceFailed(exc.what) from exc
        return NestedOutcome(self.ledger.stack_id(name), result.outputs)

    def update_child(
        self, child: str, template: Template, parameters: Mapping[str, str]
    ) -> NestedOutcome:
        """Update the child, leaving its cleanup to the parent's (or its rollback)."""
        name = child_name(child)
        request = StackRequest(name, template, parameters, self.parent.tags)
        try:
            outputs = self.children.apply(
                request, self.sink, parent=self.parent.name, defer_cleanup=True
            ).outputs
        except NoUpdates:
            outputs = self.ledger.require(name).outputs
        except StackFailed as exc:
            raise ResourceFailed(self._embedded(name, "updated", exc)) from exc
        except UserError as exc:
            raise ResourceFailed(exc.what) from exc
        return NestedOutcome(child, outputs)

    def delete_child(self, child: str) -> None:
        try:
            self.children.delete(child_name(child), self.sink)
        except StackFailed as exc:
            raise ResourceFailed(str(exc)) from exc

    def _embedded(self, name: str, verb: str, exc: StackFailed) -> str:
        stack = self.ledger.stack(name)
        arn = stack.stack_id if stack else name
        failed = [
            e.logical_id
            for e in exc.failures
            if e.stack_name == name and "cancelled" not in (e.reason or "")
        ]
        verb_short = "create" if verb == "created" else "update"
        return (
            f"Embedded stack {arn} was not successfully {verb}: The following resource(s) "
            f"failed to {verb_short}: [{', '.join(failed)}]. "
        )


def child_name(stack_id: str) -> str:
    """The stack name inside a stack ARN (``...:stack/<name>/<uuid>``)."""
    return stack_id.split("/")[1] if stack_id.startswith("arn:") else stack_id
