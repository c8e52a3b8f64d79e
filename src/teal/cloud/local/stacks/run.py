"""Forward progress of one create or update: the template's waves, resource by resource.

Each resource is planned from its resolved properties (create, update in
place, replace, or keep) and its operation run by the :mod:`provisioner`;
the first failure cancels the rest of its wave and stops forward progress,
and the engine rolls back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from teal.cloud.local.stacks.intrinsics import NO_VALUE, ResolveError, Scope, resolve
from teal.cloud.local.stacks.ledger import insert_row, write_row
from teal.cloud.local.stacks.provisioner import Provisioner, failure_reason
from teal.cloud.local.stacks.records import Desired, ForwardFailure, Row, Sink, StackRecord
from teal.cloud.local.stacks.resources import (
    Properties,
    Provisioned,
    ResourceContext,
    ResourceFailed,
)
from teal.rules.schemas import create_only_properties


@dataclass(frozen=True)
class _Plan:
    """What to do with one resource: create, update, replace or keep (or fail with error)."""

    logical_id: str
    action: str
    props: Properties
    error: str | None = None


class ForwardRun:
    """Walks the template's waves, creating, updating or replacing each resource."""

    def __init__(
        self,
        provisioner: Provisioner,
        stack: StackRecord,
        desired: Desired,
        sink: Sink,
        live: dict[str, Row],
    ) -> None:
        self.provisioner = provisioner
        self.stack = stack
        self.parsed = desired.parsed
        self.parameters = desired.parameters
        self.sink = sink
        self.live = dict(live)
        self.scope = Scope(ref=self._ref, get_att=self._get_att)

    def forward(self) -> dict[str, str]:
        """Apply every wave; raise :class:`ForwardFailure` at the first failed resource."""
        for wave in self.parsed.waves:
            self._wave(wave)
        try:
            return {
                name: _output_text(resolve(value, self.scope))
                for name, value in self.parsed.outputs.items()
            }
        except ResolveError as exc:
            raise ForwardFailure(["Outputs"], "update") from exc

    def _wave(self, wave: tuple[str, ...]) -> None:
        """Start every change of the wave, then make them, a transaction per batch of them.

        The first failure cancels the changes after it, and forward progress stops.
        """
        planned = [plan for plan in map(self._plan, wave) if plan.action != "keep"]
        with self.provisioner.batch(self.sink):
            for plan in planned:
                self._event(
                    plan.logical_id, _IN_PROGRESS[plan.action], _START_REASON.get(plan.action)
                )
        failed: list[_Plan] = []

        def make(plan: _Plan) -> None:
            if failed:
                self._event(plan.logical_id, _FAILED[plan.action], _CANCELLED[plan.action])
                return
            try:
                self._execute(plan)
            except Exception as exc:  # any failure must roll back, not strand the stack
                self._event(plan.logical_id, _FAILED[plan.action], failure_reason(exc))
                failed.append(plan)

        self.provisioner.each_batched(planned, self._type_of, self.sink, make)
        if failed:
            verb = "create" if failed[0].action == "create" else "update"
            raise ForwardFailure([failed[0].logical_id], verb)

    def _type_of(self, plan: _Plan) -> str:
        return self.parsed.resources[plan.logical_id].type

    def _plan(self, logical_id: str) -> _Plan:
        decl = self.parsed.resources[logical_id]
        row = self.live.get(logical_id)
        try:
            props: Properties = resolve(dict(decl.properties), self.scope)
        except ResolveError as exc:
            return _Plan(logical_id, "create" if row is None else "update", {}, str(exc))
        if row is None:
            return _Plan(logical_id, "create", props)
        if row.type != decl.type:
            return _Plan(
                logical_id,
                "update",
                props,
                "Update of resource type is not permitted. The new template modifies "
                f"resource type of the following resources: [{logical_id}]",
            )
        if row.properties == props:
            return _Plan(logical_id, "keep", props)
        keys = set(props) | set(row.properties)
        changed = {k for k in keys if props.get(k) != row.properties.get(k)}
        if not changed & create_only_properties(decl.type):
            return _Plan(logical_id, "update", props)
        name_property = CUSTOM_NAMES.get(decl.type)
        if name_property in props and props.get(name_property) == row.properties.get(name_property):
            return _Plan(
                logical_id,
                "replace",
                props,
                "CloudFormation cannot update a stack when a custom-named resource requires "
                f"replacing. Rename {row.physical_id} and update the stack again.",
            )
        return _Plan(logical_id, "replace", props)

    def _execute(self, plan: _Plan) -> None:
        if plan.error is not None:
            raise ResourceFailed(plan.error)
        logical_id, props = plan.logical_id, plan.props
        decl = self.parsed.resources[logical_id]
        provider = self.provisioner.providers[decl.type]
        row = self.live.get(logical_id)
        recorded: list[Row] = []
        if plan.action == "update" and row is not None:
            current = row

            def call(ctx: ResourceContext) -> Provisioned:
                return provider.update(ctx, current.provisioned, current.properties, props)

            def record(conn: sqlite3.Connection, done: Provisioned) -> None:
                write_row(conn, current.seq, done, props)
                recorded.append(
                    replace(
                        current,
                        physical_id=done.physical_id,
                        properties=props,
                        attributes=dict(done.attributes),
                    )
                )

        else:

            def call(ctx: ResourceContext) -> Provisioned:
                return provider.create(ctx, props)

            def record(conn: sqlite3.Connection, done: Provisioned) -> None:
                recorded.append(
                    insert_row(
                        conn,
                        self.stack.name,
                        logical_id,
                        decl.type,
                        done=done,
                        props=props,
                        replacing=row is not None,
                    )
                )

        done_status = "CREATE_COMPLETE" if plan.action == "create" else "UPDATE_COMPLETE"
        self.provisioner.provision(
            self.stack,
            logical_id,
            provider,
            call=call,
            record=record,
            sink=self.sink,
            done_status=done_status,
        )
        [self.live[logical_id]] = recorded  # what was just written, not read back

    def _event(self, logical_id: str, status: str, reason: str | None) -> None:
        decl = self.parsed.resources[logical_id]
        row = self.live.get(logical_id)
        self.provisioner.ledger.resource_event(
            self.stack.name,
            logical_id,
            decl.type,
            status,
            reason=reason,
            sink=self.sink,
            physical_id=row.physical_id if row else None,
        )

    def _ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        pseudo = {
            "AWS::Region": self.stack.region,
            "AWS::AccountId": self.provisioner.account_id,
            "AWS::StackName": self.stack.name,
            "AWS::StackId": self.stack.stack_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        row = self.live.get(name)
        if row is None:
            raise ResolveError(f"Unresolved reference {name}: the resource does not exist yet")
        return row.physical_id

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        row = self.live.get(logical_id)
        if row is None or attribute not in row.attributes:
            raise ResolveError(f"Attribute '{attribute}' does not exist for resource {logical_id}")
        return row.attributes[attribute]


# The property that names a resource: keeping it while replacing is refused.
CUSTOM_NAMES = {
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
}


_IN_PROGRESS = {
    "create": "CREATE_IN_PROGRESS",
    "update": "UPDATE_IN_PROGRESS",
    "replace": "UPDATE_IN_PROGRESS",
}
_FAILED = {"create": "CREATE_FAILED", "update": "UPDATE_FAILED", "replace": "UPDATE_FAILED"}
_CANCELLED = {
    "create": "Resource creation cancelled",
    "update": "Resource update cancelled",
    "replace": "Resource creation cancelled",
}
_START_REASON = {
    "replace": "Requested update requires the creation of a new physical resource; "
    "hence creating one."
}


def _output_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | dict | list):
        raise ResolveError(f"an output value must be a string, got {value!r}")
    return str(value)
