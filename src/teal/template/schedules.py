"""``@app.schedule``: an EventBridge rule per schedule, and its permission to invoke.

A rule belongs to the function it runs, so it carries the function's API
generation (like the function, a replaced API's copy gets new ids): during
the side-by-side step of a replacement both generations' rules exist, and
each fires its own function. Its logical id follows the schedule's place
among the function's schedules, so a changed expression updates the rule in
place (``ScheduleExpression`` is no create-only property).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from teal.runtime.triggers import Schedule
from teal.template.names import function_id

EVENTS_PRINCIPAL = "events.amazonaws.com"
TARGET_ID = "function"

Resource = dict[str, Any]


def schedule_id(function: str, number: int, gen: str = "") -> str:
    """``Fn...Schedule`` for a function's first schedule, ``Fn...Schedule2`` for its second."""
    return f"{function_id(function)}Schedule{number if number > 1 else ''}{gen}"


def schedule_resources(
    function: str, schedules: Sequence[Schedule], gen: str
) -> dict[str, Resource]:
    """The rule and the permission of each of a function's schedules, by logical id."""
    fn_arn = {"Fn::GetAtt": [function_id(function, gen), "Arn"]}
    resources: dict[str, Resource] = {}
    for number, schedule in enumerate(schedules, start=1):
        rule = schedule_id(function, number, gen)
        resources[rule] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": f"teal: schedule {number} of function {function}",
                "ScheduleExpression": schedule.expression,
                "State": "ENABLED",
                "Targets": [{"Arn": fn_arn, "Id": TARGET_ID}],
            },
        }
        resources[f"{rule}Permission"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": fn_arn,
                "Principal": EVENTS_PRINCIPAL,
                "SourceArn": {"Fn::GetAtt": [rule, "Arn"]},
            },
        }
    return resources
