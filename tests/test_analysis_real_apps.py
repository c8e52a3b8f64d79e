"""Changing what real apps add (schedules, queues, permissions, function settings,
extra resources, tags): what the analysis decides, and what the plan says in user words."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path
from typing import Any

from teal.plan.analysis import Plan, build_plan
from teal.project.config import FunctionSettings, PolicyStatement, QueueSettings, Target
from teal.project.resources_file import ExtraResources
from teal.project.trigger_checks import build_triggers
from teal.runtime.app import App
from teal.runtime.routes import RouteTable
from teal.template import synthesize
from teal.template.names import function_id
from teal.template.queues import dead_letter_id, queue_id
from teal.template.schedules import schedule_id
from test_template_support import CODE_KEY, deployed, make_target


def _ok(*_: Any) -> Any:
    return {}


def tick(event: Any, context: Any) -> None: ...


def work(event: Any, context: Any) -> None: ...


def app_table(schedule: str | None = "rate(5 minutes)", batch: int | None = 10) -> RouteTable:
    app = App()
    app.route("/posts", function="api")(_ok)
    if schedule:
        app.schedule(schedule)(tick)
    if batch:
        app.on_sqs_message(queue="jobs", batch_size=batch)(work)
    return dataclasses.replace(app.routes(), triggers=build_triggers(app.triggers))


def plan(
    old: RouteTable, new: RouteTable, before: Target | None = None, after: Target | None = None
) -> Plan:
    first = synthesize(old, before or make_target(), CODE_KEY)
    return build_plan(new, after or before or make_target(), CODE_KEY, deployed(first))


def ids(changes: Any) -> set[str]:
    return {c.logical_id for c in changes}


def test_a_new_expression_updates_the_rule_in_place() -> None:
    result = plan(app_table("rate(5 minutes)"), app_table("rate(1 minute)"))
    assert not result.replace and result.action == "update"
    assert ids(result.changes.modified) == {schedule_id("tick", 1)}
    assert not result.changes.replaced and not result.changes.added
    assert result.notes == (
        "the schedule of function tick changes: rate(5 minutes) -> rate(1 minute)",
    )


def test_adding_and_removing_a_schedule() -> None:
    added = plan(app_table(None), app_table("cron(0 12 * * ? *)"))
    assert ids(added.changes.added) >= {schedule_id("tick", 1), function_id("tick")}
    assert "function tick will run on the schedule cron(0 12 * * ? *)" in added.notes
    removed = plan(app_table("cron(0 12 * * ? *)"), app_table(None))
    assert schedule_id("tick", 1) in ids(removed.changes.removed)
    assert "function tick will no longer run on the schedule cron(0 12 * * ? *)" in removed.notes


def test_a_new_batch_size_updates_the_mapping_in_place() -> None:
    result = plan(app_table(batch=10), app_table(batch=3))
    [mapping] = result.changes.modified
    assert mapping.type == "AWS::Lambda::EventSourceMapping" and not result.changes.replaced
    assert result.notes == ("function work takes batches of up to 3 from queue jobs (was 10)",)


def test_a_dead_letter_queue_is_added_beside_the_queue_kept() -> None:
    before = make_target()
    after = replace(before, queues={"jobs": QueueSettings(max_receive_count=4)})
    result = plan(app_table(), app_table(), before, after)
    assert ids(result.changes.added) == {dead_letter_id("jobs")}
    assert ids(result.changes.modified) == {queue_id("jobs")}  # RedrivePolicy: in place
    assert "queue jobs-dead-letter will be created" in result.notes
    assert "queue jobs: RedrivePolicy change" in result.notes


def test_a_removed_consumer_deletes_its_queue_and_says_the_messages_go_too() -> None:
    result = plan(app_table(), app_table(batch=None))
    assert queue_id("jobs") in ids(result.changes.removed)
    assert "queue jobs will be deleted, with the messages in it" in result.notes
    assert "function work will no longer consume queue jobs" in result.notes


def test_new_policies_change_the_roles_in_place() -> None:
    read = PolicyStatement(effect="Allow", actions=["s3:GetObject"], resources=["*"])
    result = plan(app_table(), app_table(), make_target(), make_target(policies=(read,)))
    assert {c.type for c in result.changes.modified} == {"AWS::IAM::Role"}
    assert not result.replace and not result.changes.replaced
    assert "what function api may do changes: its policy statements" in result.notes


def test_layers_and_reserved_concurrency_change_the_function_in_place() -> None:
    settings = FunctionSettings(
        layers=["arn:aws:lambda:us-east-1:123456789012:layer:x:1"], reserved_concurrency=2
    )
    result = plan(app_table(), app_table(), make_target(), make_target(functions={"api": settings}))
    # the function in place, and its alias moved to the version this publishes
    assert ids(result.changes.modified) == {function_id("api"), f"{function_id('api')}Alias"}
    assert result.notes == ("function api: its layers, reserved concurrency change",)


def test_tags_alone_are_an_update() -> None:
    result = plan(app_table(), app_table(), make_target(), make_target(user_tags={"team": "a"}))
    assert result.action == "update" and not any(result.changes.to_json().values())
    assert result.notes == (
        "the stack's tags change (CloudFormation retags its resources): team=a",
    )
    same = plan(app_table(), app_table(), make_target(user_tags={"team": "a"}))
    assert same.action == "noop" and same.notes == ()


def table_resource(name: str) -> dict[str, Any]:
    return {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        },
    }


def with_table(name: str | None) -> Target:
    if name is None:
        return make_target()
    return make_target(
        extra_resources=ExtraResources(Path("resources.yaml"), {"Posts": table_resource(name)})
    )


def test_renaming_a_table_of_the_extra_template_replaces_it_and_says_it_starts_empty() -> None:
    result = plan(app_table(), app_table(), with_table("posts"), with_table("posts-v2"))
    assert ids(result.changes.replaced) == {"Posts"}
    assert not result.replace  # the API stays
    assert result.notes == (
        "Posts (AWS::DynamoDB::Table, from the [resources] template) will be replaced "
        "(TableName changed): CloudFormation creates a new one and deletes the old one; "
        "a table, bucket or queue starts empty",
    )


def test_adding_and_removing_an_extra_resource() -> None:
    added = plan(app_table(), app_table(), with_table(None), with_table("posts"))
    assert ids(added.changes.added) == {"Posts"}
    assert added.notes == (
        "Posts (AWS::DynamoDB::Table, from the [resources] template) will be created",
    )
    removed = plan(app_table(), app_table(), with_table("posts"), with_table(None))
    assert removed.notes == (
        "Posts (AWS::DynamoDB::Table, from the [resources] template) will be deleted, "
        "and what it holds with it",
    )


def test_the_plan_json_carries_the_notes() -> None:
    result = plan(app_table("rate(5 minutes)"), app_table("rate(2 hours)"))
    assert result.to_json()["notes"] == [
        "the schedule of function tick changes: rate(5 minutes) -> rate(2 hours)"
    ]
