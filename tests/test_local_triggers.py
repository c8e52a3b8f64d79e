"""The local cloud's EventBridge rules, SQS queues and event source mappings: the
providers (with AWS's refusals), the queue's rules, the scheduler and the poller, each
driven by a clock the test holds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from teal.cloud.base import StackFailed, StackRequest
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.functions.workers import FailureKind, InvocationError
from teal.cloud.local.gateway.serving import StoreServingState
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.stacks.notes import Notes, template_notes
from teal.cloud.local.stacks.resources.registry import providers
from teal.cloud.local.store import connect
from teal.cloud.local.triggers import queues
from teal.cloud.local.triggers.pollers import QueuePoller
from teal.cloud.local.triggers.scheduler import ScheduleClock, Scheduler
from test_local_engine_support import Events, blog_request

FUNCTION_ARN = {"Fn::GetAtt": ["Handler", "Arn"]}
ORDERS = "arn:aws:sqs:eu-west-1:123456789012:orders"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    local = LocalCloud(LocalPaths(tmp_path / "home"))
    yield local
    local.close()


def with_resources(
    cloud: LocalCloud, resources: dict[str, Any], outputs: dict[str, Any] | None = None
) -> StackRequest:
    request = blog_request(cloud)
    template = deepcopy(request.template)
    template["Resources"].update(resources)
    template["Outputs"].update(outputs or {})
    return StackRequest(request.name, template, request.parameters, request.tags)


def rule(expression: str = "rate(5 minutes)", state: str = "ENABLED") -> dict[str, Any]:
    return {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "ScheduleExpression": expression,
            "State": state,
            "Targets": [{"Arn": FUNCTION_ARN, "Id": "function"}],
        },
    }


EVENTS_PERMISSION = {
    "Type": "AWS::Lambda::Permission",
    "Properties": {
        "Action": "lambda:InvokeFunction",
        "FunctionName": FUNCTION_ARN,
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": ["Tick", "Arn"]},
    },
}


def queue(**properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::SQS::Queue", "Properties": properties}


def mapping(source: Any, **properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {"EventSourceArn": source, "FunctionName": {"Ref": "Handler"}, **properties},
    }


def failure_of(cloud: LocalCloud, request: StackRequest) -> str:
    with pytest.raises(StackFailed) as raised:
        cloud.apply_stack(request, Events())
    return str(raised.value.failures[0].reason)


# --------------------------------------------------------------------- providers


def test_rules_queues_mappings_and_unemulated_types_are_applied(cloud: LocalCloud) -> None:
    table = {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": "posts",
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        },
    }
    request = with_resources(
        cloud,
        {
            "Tick": rule(),
            "TickPermission": EVENTS_PERMISSION,
            "Dead": queue(),
            "Jobs": queue(
                VisibilityTimeout=60,
                RedrivePolicy={
                    "deadLetterTargetArn": {"Fn::GetAtt": ["Dead", "Arn"]},
                    "maxReceiveCount": 3,
                },
            ),
            "Consumer": mapping({"Fn::GetAtt": ["Jobs", "Arn"]}, BatchSize=4),
            "Posts": table,
        },
        {
            "JobsUrl": {"Value": {"Ref": "Jobs"}},
            "PostsArn": {"Value": {"Fn::GetAtt": ["Posts", "Arn"]}},
            "PostsName": {"Value": {"Ref": "Posts"}},
        },
    )
    events = Events()
    outputs = cloud.apply_stack(request, events).outputs

    assert outputs["JobsUrl"].startswith("https://sqs.us-east-1.amazonaws.com/000000000000/")
    assert outputs["PostsName"] == "posts"
    assert outputs["PostsArn"] == "arn:aws:dynamodb:us-east-1:000000000000:table/posts"
    conn = cloud.store.connection
    [(schedule, state)] = conn.execute("SELECT schedule, state FROM event_rules").fetchall()
    assert (schedule, state) == ("rate(5 minutes)", "ENABLED")
    jobs = queues.find_queue(conn, outputs["JobsUrl"])
    assert jobs is not None and jobs.visibility_s == 60 and jobs.redrive is not None
    [(size, source)] = conn.execute(
        "SELECT batch_size, source_arn FROM event_source_mappings"
    ).fetchall()
    assert (size, source) == (4, jobs.arn)
    assert ("Posts", "CREATE_COMPLETE") in [(e.logical_id, e.status) for e in events.seen]

    cloud.delete_stack(request.name, Events())
    for table_name in ("event_rules", "queues", "event_source_mappings"):
        assert conn.execute(f"SELECT COUNT(*) FROM {table_name}").fetchone()[0] == 0


def test_a_schedule_eventbridge_refuses_fails_the_stack(cloud: LocalCloud) -> None:
    reason = failure_of(cloud, with_resources(cloud, {"Tick": rule("rate(1 minutes)")}))
    assert reason.startswith("Parameter ScheduleExpression is not valid.")


def test_lambda_refuses_a_queue_hiding_messages_less_long_than_the_function_runs(
    cloud: LocalCloud,
) -> None:
    request = with_resources(
        cloud,
        {"Jobs": queue(VisibilityTimeout=5), "Consumer": mapping({"Fn::GetAtt": ["Jobs", "Arn"]})},
    )
    assert failure_of(cloud, request) == (
        "Invalid request provided: Queue visibility timeout: 5 seconds is less than "
        "Function timeout: 10 seconds"
    )


def test_lambda_refuses_a_large_batch_without_a_window(cloud: LocalCloud) -> None:
    request = with_resources(
        cloud, {"Jobs": queue(), "Consumer": mapping({"Fn::GetAtt": ["Jobs", "Arn"]}, BatchSize=50)}
    )
    assert "Maximum batch window in seconds must be greater than 0" in failure_of(cloud, request)


def test_sqs_refuses_a_redrive_policy_without_its_dead_letter_queue(cloud: LocalCloud) -> None:
    policy = {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:nope",
        "maxReceiveCount": 2,
    }
    reason = failure_of(cloud, with_resources(cloud, {"Jobs": queue(RedrivePolicy=policy)}))
    assert reason.endswith("Reason: Dead-letter target does not exist.")


def test_a_queue_of_another_account_gets_a_stand_in_every_consumer_shares(
    cloud: LocalCloud,
) -> None:
    cloud.apply_stack(with_resources(cloud, {"Consumer": mapping(ORDERS)}), Events())
    stand_in = queues.find_queue(cloud.store.connection, ORDERS)
    assert stand_in is not None
    assert stand_in.url == "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"


# --------------------------------------------------------------------- the queue's rules

QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:jobs"
DEAD_ARN = "arn:aws:sqs:us-east-1:000000000000:jobs-dead"


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[Any]:
    local = LocalCloud(LocalPaths(tmp_path / "home"))
    local.close()
    connection = connect(LocalPaths(tmp_path / "home").database)
    yield connection
    connection.close()


def make_queue(conn: Any, visibility: int = 30, redrive: int | None = None) -> queues.QueueRecord:
    dead = queues.QueueRecord(DEAD_ARN, "dead-url", "jobs-dead", {})
    queues.create_queue(conn, dead)
    attributes: dict[str, Any] = {"VisibilityTimeout": visibility}
    if redrive:
        attributes["RedrivePolicy"] = {"deadLetterTargetArn": DEAD_ARN, "maxReceiveCount": redrive}
    record = queues.QueueRecord(QUEUE_ARN, "url", "jobs", attributes)
    queues.create_queue(conn, record)
    return record


def test_a_received_message_hides_for_the_visibility_timeout_then_comes_back(conn: Any) -> None:
    jobs = make_queue(conn, visibility=30)
    queues.send_message(conn, jobs, "a", 1_000)
    [first] = queues.receive_messages(conn, jobs, 10, 2_000)
    assert (first.body, first.receive_count) == ("a", 1)
    assert queues.receive_messages(conn, jobs, 10, 31_999) == []
    [again] = queues.receive_messages(conn, jobs, 10, 32_000)
    assert again.receive_count == 2 and again.receipt != first.receipt
    assert again.first_receive_ms == 2_000
    assert queues.delete_messages(conn, QUEUE_ARN, [first]) == 0  # a stale receipt
    assert queues.delete_messages(conn, QUEUE_ARN, [again]) == 1
    assert queues.count_messages(conn, QUEUE_ARN) == 0


def test_batches_hold_at_most_their_size_in_order(conn: Any) -> None:
    jobs = make_queue(conn)
    for body in "abcde":
        queues.send_message(conn, jobs, body, 1_000)
    assert [m.body for m in queues.receive_messages(conn, jobs, 3, 1_000)] == ["a", "b", "c"]
    assert [m.body for m in queues.receive_messages(conn, jobs, 3, 1_000)] == ["d", "e"]


def test_past_max_receive_count_a_message_moves_to_the_dead_letter_queue(conn: Any) -> None:
    jobs = make_queue(conn, visibility=1, redrive=2)
    queues.send_message(conn, jobs, "poison", 0)
    counts = [
        m.receive_count
        for t in (0, 1_000, 2_000)
        for m in queues.receive_messages(conn, jobs, 1, t)
    ]
    assert counts == [1, 2]  # delivered maxReceiveCount times, then moved
    assert queues.count_messages(conn, QUEUE_ARN) == 0
    dead = queues.find_queue(conn, DEAD_ARN)
    assert dead is not None
    [moved] = queues.receive_messages(conn, dead, 10, 3_000)
    assert moved.body == "poison" and moved.sent_ms == 0


def test_a_message_past_its_retention_is_dropped(conn: Any) -> None:
    jobs = make_queue(conn)
    queues.send_message(conn, jobs, "old", 0)
    assert queues.receive_messages(conn, jobs, 10, jobs.retention_s * 1000 + 1) == []
    assert queues.count_messages(conn, QUEUE_ARN) == 0


# --------------------------------------------------------------------- the scheduler


class FakeInvoke:
    def __init__(self, fail: int = 0) -> None:
        self.events: list[Any] = []
        self.fail = fail

    async def __call__(self, spec: Any, event: Any, request_id: str) -> Any:
        self.events.append(event)
        if self.fail:
            self.fail -= 1
            raise InvocationError(FailureKind.UNHANDLED, "boom")
        return None


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def scheduler_for(
    cloud: LocalCloud, invoke: FakeInvoke, clock: ManualClock
) -> tuple[Scheduler, StoreServingState]:
    state = StoreServingState(cloud.paths)
    scheduler = Scheduler(
        connect(cloud.paths.database), invoke, state.function_by_arn, ScheduleClock(1.0, clock)
    )
    return scheduler, state


async def ticks(scheduler: Scheduler, clock: ManualClock, *offsets: timedelta) -> None:
    start = clock.now
    for offset in offsets:
        clock.now = start + offset
        scheduler.tick()
        await asyncio.sleep(0)
        await scheduler.settled()


def created_at(cloud: LocalCloud) -> datetime:
    row = cloud.store.connection.execute("SELECT created_ms FROM event_rules").fetchone()
    return datetime.fromtimestamp(row[0] / 1000, UTC)


def test_a_rate_fires_each_period_from_the_rules_creation(cloud: LocalCloud) -> None:
    resources = {"Tick": rule("rate(5 minutes)"), "TickPermission": EVENTS_PERMISSION}
    cloud.apply_stack(with_resources(cloud, resources), Events())
    clock = ManualClock(created_at(cloud) + timedelta(seconds=1))
    invoke = FakeInvoke()
    scheduler, state = scheduler_for(cloud, invoke, clock)
    minutes = [timedelta(minutes=m) for m in (0, 2, 4, 5, 6, 9, 10)]
    asyncio.run(ticks(scheduler, clock, *minutes))
    assert len(invoke.events) == 2  # at 5 and 10 minutes
    event = invoke.events[0]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"][0].startswith("arn:aws:events:us-east-1:000000000000:rule/")
    assert event["time"] == (created_at(cloud) + timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    state.close()


def test_without_a_permission_for_eventbridge_nothing_runs(
    cloud: LocalCloud, caplog: pytest.LogCaptureFixture
) -> None:
    cloud.apply_stack(with_resources(cloud, {"Tick": rule("rate(1 minute)")}), Events())
    clock = ManualClock(created_at(cloud))
    invoke = FakeInvoke()
    scheduler, state = scheduler_for(cloud, invoke, clock)
    with caplog.at_level(logging.WARNING):
        asyncio.run(ticks(scheduler, clock, timedelta(0), timedelta(minutes=1, seconds=1)))
    assert invoke.events == []
    assert "does not let EventBridge invoke it" in caplog.text
    state.close()


def test_a_failed_invocation_is_tried_twice_more_a_minute_then_two_later(
    cloud: LocalCloud,
) -> None:
    resources = {"Tick": rule("cron(0 12 * * ? *)"), "TickPermission": EVENTS_PERMISSION}
    cloud.apply_stack(with_resources(cloud, resources), Events())
    noon = datetime(2030, 1, 1, 11, 59, 30, tzinfo=UTC)
    clock = ManualClock(noon)
    invoke = FakeInvoke(fail=5)
    scheduler, state = scheduler_for(cloud, invoke, clock)
    seconds = [timedelta(seconds=s) for s in (0, 31, 60, 91, 120, 151, 300)]
    asyncio.run(ticks(scheduler, clock, *seconds))
    assert len(invoke.events) == 3  # at noon, 12:01 and 12:03
    assert len({e["id"] for e in invoke.events}) == 1  # the same event each time
    state.close()


def test_a_disabled_rule_never_fires(cloud: LocalCloud) -> None:
    resources = {"Tick": rule("rate(1 minute)", "DISABLED"), "TickPermission": EVENTS_PERMISSION}
    cloud.apply_stack(with_resources(cloud, resources), Events())
    clock = ManualClock(created_at(cloud))
    invoke = FakeInvoke()
    scheduler, state = scheduler_for(cloud, invoke, clock)
    asyncio.run(ticks(scheduler, clock, timedelta(0), timedelta(minutes=3)))
    assert invoke.events == []
    state.close()


# --------------------------------------------------------------------- the poller


def poller_for(cloud: LocalCloud, invoke: FakeInvoke, now: list[int]) -> QueuePoller:
    state = StoreServingState(cloud.paths)
    return QueuePoller(connect(cloud.paths.database), invoke, state.function_by_arn, lambda: now[0])


async def poll(poller: QueuePoller) -> None:
    poller.tick()
    await asyncio.sleep(0)
    await poller.settled()


def test_the_poller_deletes_a_delivered_batch_and_returns_a_failed_one(cloud: LocalCloud) -> None:
    request = with_resources(
        cloud,
        {
            "Jobs": queue(VisibilityTimeout=10),
            "Consumer": mapping({"Fn::GetAtt": ["Jobs", "Arn"]}, BatchSize=2),
        },
        {"JobsUrl": {"Value": {"Ref": "Jobs"}}},
    )
    url = cloud.apply_stack(request, Events()).outputs["JobsUrl"]
    conn = cloud.store.connection
    jobs = queues.find_queue(conn, url)
    assert jobs is not None
    with cloud.store.transaction() as writing:
        for body in ("a", "b", "c"):
            queues.send_message(writing, jobs, body, 0)
    invoke = FakeInvoke(fail=1)
    now = [1_000]
    poller = poller_for(cloud, invoke, now)

    asyncio.run(poll(poller))  # a and b: the invocation fails
    asyncio.run(poll(poller))  # c: delivered and deleted
    now[0] = 11_000  # a and b are visible again
    asyncio.run(poll(poller))

    batches = [
        [(r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in e["Records"]]
        for e in invoke.events
    ]
    assert batches == [[("a", "1"), ("b", "1")], [("c", "1")], [("a", "2"), ("b", "2")]]
    assert invoke.events[0]["Records"][0]["eventSource"] == "aws:sqs"
    assert invoke.events[0]["Records"][0]["eventSourceARN"] == jobs.arn
    assert queues.count_messages(conn, jobs.arn) == 0


# --------------------------------------------------------------------- the deploy's notes


def test_notes_name_what_the_local_cloud_does_not_do_once(
    cloud: LocalCloud, caplog: pytest.LogCaptureFixture
) -> None:
    request = with_resources(
        cloud,
        {
            "Posts": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]},
            }
        },
    )
    template = deepcopy(request.template)
    template["Resources"]["Role"]["Properties"]["ManagedPolicyArns"] = [
        "arn:aws:iam::aws:policy/ReadOnlyAccess"
    ]
    template["Resources"]["Handler"]["Properties"]["ReservedConcurrentExecutions"] = 3
    found = template_notes(template, providers())
    assert len(found) == 3
    assert found[0].startswith("the local cloud does not enforce IAM")
    assert found[1] == (
        "the local cloud ignores the functions' reserved concurrency: they apply on AWS only"
    )
    assert "AWS::DynamoDB::Table" in found[2]
    notes = Notes()
    with caplog.at_level(logging.WARNING, logger="teal.warnings"):
        notes.say(template, providers())
        notes.say(template, providers())
    assert caplog.text.count("does not enforce IAM") == 1
    assert template_notes(request.template, providers())[-1].endswith(
        "AWS::DynamoDB::Table; local functions that use them reach AWS, if anything"
    )
