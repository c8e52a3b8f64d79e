"""AWS::Events::Rule: a rule in the store, which the gateway's scheduler fires.

A rule with a ``ScheduleExpression`` is checked as EventBridge checks it
(:mod:`teal.rules.schedule_expressions`), and fires while the local gateway runs
(:mod:`teal.cloud.local.triggers.scheduler`). A rule of an ``EventPattern`` is kept:
nothing local sends events to match it. ``Ref`` gives the rule's name,
``Fn::GetAtt`` its ``Arn``.
"""

from __future__ import annotations

import time
from typing import Any

from teal.cloud.local.stacks.resources import (
    Properties,
    Provisioned,
    ResourceContext,
    ResourceFailed,
    given_or_generated_name,
)
from teal.cloud.local.store import to_json
from teal.rules.schedule_expressions import ScheduleError, parse_schedule

TARGETS_LIMIT = 5  # EventBridge: at most five targets per rule


class Rule:
    type_name = "AWS::Events::Rule"
    properties = frozenset(
        {
            "Name",
            "Description",
            "ScheduleExpression",
            "EventPattern",
            "State",
            "Targets",
            "EventBusName",
            "RoleArn",
            "Tags",
        }
    )
    required: frozenset[str] = frozenset()
    attributes = frozenset({"Arn"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        name = given_or_generated_name(ctx, props, "Name", 64)
        if ctx.conn.execute("SELECT 1 FROM event_rules WHERE name = ?", (name,)).fetchone():
            raise ResourceFailed(
                f"Resource of type '{self.type_name}' with identifier '{name}' already exists."
            )
        arn = f"arn:aws:events:{ctx.region}:{ctx.account_id}:rule/{name}"
        schedule, state, targets = _checked(props)
        ctx.conn.execute(
            "INSERT INTO event_rules (name, arn, schedule, state, targets, created_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (name, arn, schedule, state, to_json(targets), _now_ms()),
        )
        return Provisioned(name, {"Arn": arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        schedule, state, targets = _checked(new)
        ctx.conn.execute(
            "UPDATE event_rules SET schedule = ?, state = ?, targets = ? WHERE name = ?",
            (schedule, state, to_json(targets), current.physical_id),
        )
        if old.get("ScheduleExpression") != schedule:  # a new rate counts from now
            ctx.conn.execute(
                "UPDATE event_rules SET created_ms = ? WHERE name = ?",
                (_now_ms(), current.physical_id),
            )
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        ctx.conn.execute("DELETE FROM event_rules WHERE name = ?", (current.physical_id,))


def _checked(props: Properties) -> tuple[str | None, str, list[dict[str, Any]]]:
    schedule = props.get("ScheduleExpression")
    if schedule is None and props.get("EventPattern") is None:
        raise ResourceFailed("Parameter(s) EventPattern or ScheduleExpression must be specified.")
    if schedule is not None:
        try:
            parse_schedule(schedule)
        except ScheduleError as exc:
            raise ResourceFailed(f"Parameter ScheduleExpression is not valid. ({exc})") from exc
    state = props.get("State", "ENABLED")
    if state not in ("ENABLED", "DISABLED"):
        raise ResourceFailed(f"Value '{state}' at 'state' failed to satisfy constraint")
    targets = props.get("Targets") or []
    if not isinstance(targets, list) or len(targets) > TARGETS_LIMIT:
        raise ResourceFailed(f"A rule takes at most {TARGETS_LIMIT} targets")
    for target in targets:
        if not isinstance(target, dict) or not target.get("Id") or not target.get("Arn"):
            raise ResourceFailed("Each target of a rule needs an Id and an Arn")
    return schedule, str(state), targets


def _now_ms() -> int:
    return int(time.time() * 1000)
