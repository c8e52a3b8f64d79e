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
from teal.cloud.local.triggers import event_rules
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
        if event_rules.rule_exists(ctx.conn, name):
            raise ResourceFailed(
                f"Resource of type '{self.type_name}' with identifier '{name}' already exists."
            )
        arn = f"arn:aws:events:{ctx.region}:{ctx.account_id}:rule/{name}"
        schedule, state, targets = _checked(props)
        event_rules.create_rule(
            ctx.conn,
            name,
            arn,
            schedule=schedule,
            state=state,
            targets=targets,
            created_ms=_now_ms(),
        )
        return Provisioned(name, {"Arn": arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        schedule, state, targets = _checked(new)
        event_rules.update_rule(
            ctx.conn, current.physical_id, schedule=schedule, state=state, targets=targets
        )
        if old.get("ScheduleExpression") != schedule:  # a new rate counts from now
            event_rules.restart_schedule(ctx.conn, current.physical_id, _now_ms())
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        event_rules.delete_rule(ctx.conn, current.physical_id)


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
