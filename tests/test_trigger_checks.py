"""@app.schedule and @app.on_sqs_message: checked when teal reads the app, every problem
at once; and the runtime picks a function's handler by the event's kind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from teal.project.loader import load_app
from teal.project.trigger_checks import TriggerError, build_triggers
from teal.runtime.app import App
from teal.runtime.triggers import QUEUE, SCHEDULE, event_kind

ORDERS = "arn:aws:sqs:us-east-1:123456789012:orders"


def tick(event: Any, context: Any) -> None: ...


def tock(event: Any, context: Any) -> None: ...


def problems_of(app: App) -> list[str]:
    with pytest.raises(TriggerError) as raised:
        build_triggers(app.triggers)
    return raised.value.problems


def test_a_valid_app_gives_its_schedules_and_consumers_with_their_functions() -> None:
    app = App()
    app.schedule("rate(1 minute)")(tick)
    app.schedule("cron(0 12 * * ? *)", function="jobs")(tock)
    app.on_sqs_message(queue="jobs", batch_size=20, batch_window=2)(tick)
    app.on_sqs_message(queue=ORDERS, shared=True, function="orders")(tock)
    triggers = build_triggers(app.triggers)
    assert [(s.function, s.expression) for s in triggers.schedules] == [
        ("tick", "rate(1 minute)"),
        ("jobs", "cron(0 12 * * ? *)"),
    ]
    assert [(c.function, c.queue, c.batch_size) for c in triggers.consumers] == [
        ("tick", "jobs", 20),
        ("orders", ORDERS, 10),
    ]
    assert triggers.functions == ["jobs", "orders", "tick"]


def test_every_problem_is_listed() -> None:
    app = App()
    app.schedule("rate(1 minutes)")(tick)
    app.schedule("cron(0 12 * * * *)", function="9lives")(tock)
    app.on_sqs_message(queue=ORDERS)(tick)
    app.on_sqs_message(queue="jobs", shared=True, function="a")(tick)
    app.on_sqs_message(queue="jobs", batch_size=11, function="b")(tick)
    app.on_sqs_message(queue="jobs", batch_size=0, function="c")(tick)
    app.on_sqs_message(queue="no such queue", function="d")(tick)
    found = problems_of(app)
    assert len(found) == 8, found
    text = "\n".join(found)
    assert "EventBridge refuses it: rate: EventBridge wants the unit singular" in text
    assert "one of day-of-month and day-of-week must be '?'" in text
    assert "function name '9lives'" in text
    assert "say so with shared=True" in text
    assert "shared=True is for a queue referenced by ARN" in text
    assert "pass batch_window=1" in text
    assert "batch_size must be 1-10000" in text
    assert "queue= takes a name" in text


def test_one_function_runs_one_handler_per_kind() -> None:
    app = App()
    app.schedule("rate(1 minute)", function="cron")(tick)
    app.schedule("rate(5 minutes)", function="cron")(tock)
    app.schedule("rate(1 minute)", function="cron")(tick)
    found = problems_of(app)
    assert any("has two schedule handlers" in p for p in found)
    assert any("schedule 'rate(1 minute)' declared twice" in p for p in found)


def test_the_runtime_tells_the_kinds_of_event_apart() -> None:
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    batch = {"Records": [{"eventSource": "aws:sqs", "body": "x"}]}
    proxy = {"resource": "/", "httpMethod": "GET"}
    assert event_kind(scheduled) == SCHEDULE
    assert event_kind(batch) == QUEUE
    assert event_kind(proxy) is None
    assert event_kind([1]) is None
    app = App()
    app.schedule("rate(1 minute)")(tick)
    app.on_sqs_message(queue="jobs", function="tick")(tock)
    assert app.triggers.handler_for("tick", SCHEDULE) is tick
    assert app.triggers.handler_for("tick", QUEUE) is tock
    assert app.triggers.handler_for("other", QUEUE) is None


def test_the_loader_reads_triggers_through_the_runtimes_python(
    make_project: Any, tmp_path: Path
) -> None:
    root = make_project(
        """
        from teal import App

        app = App()

        @app.route("/")
        def home(request):
            return {}

        @app.schedule("rate(1 minute)")
        def tick(event, context):
            pass

        @app.on_sqs_message(queue="jobs", batch_size=2)
        def work(event, context):
            pass
        """,
        '[app]\nname = "demo"\nruntime = "python3.11"\n\n[functions.work]\ntimeout = 3\n',
    )
    loaded = load_app(root, "app:app", "python3.11")
    triggers = loaded.table.triggers
    assert [(s.function, s.expression) for s in triggers.schedules] == [("tick", "rate(1 minute)")]
    assert [(c.function, c.queue, c.batch_size) for c in triggers.consumers] == [
        ("work", "jobs", 2)
    ]
    assert repr(triggers.schedules[0].handler).startswith("<function tick")


def test_a_queue_table_must_name_a_queue_of_the_app(make_project: Any) -> None:
    from teal.runtime.errors import ConfigError

    root = make_project(
        """
        from teal import App

        app = App()

        @app.route("/")
        def home(request):
            return {}
        """,
        '[app]\nname = "demo"\nruntime = "python3.11"\n\n[queues.jobs]\nmax_receive_count = 3\n',
    )
    with pytest.raises(ConfigError) as raised:
        load_app(root, "app:app", "python3.11")
    assert raised.value.where is not None and raised.value.where.endswith("teal.toml:5")


TRIGGERS_APP = """
from teal import App

app = App()
seen = []


@app.route("/")
def home(request):
    return {}


@app.schedule("rate(1 minute)", function="jobs")
def tick(event, context):
    seen.append(("tick", event["time"]))
    return "ticked"


@app.on_sqs_message(queue="jobs", function="jobs")
def work(event, context):
    bodies = [record["body"] for record in event["Records"]]
    if "fail" in bodies:
        raise ValueError("a failed batch fails the invocation")
    seen.append(("work", bodies))
    return {"batchItemFailures": []}
"""


@pytest.fixture
def triggers_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    import importlib
    import sys

    from teal.runtime import entry

    (tmp_path / "triggers_app.py").write_text(TRIGGERS_APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TEAL_ENTRY", "triggers_app:app")
    monkeypatch.setenv("TEAL_FUNCTION", "jobs")
    monkeypatch.setattr(entry, "_entry_read", True)  # a teal App, not a framework's
    monkeypatch.setattr(entry, "_framework", None)
    sys.modules.pop("triggers_app", None)
    yield importlib.import_module("triggers_app")
    sys.modules.pop("triggers_app", None)


def test_the_runtime_runs_a_functions_handler_for_each_kind_of_event(
    triggers_module: Any,
) -> None:
    from teal.cloud.local.triggers.queues import Message
    from teal.cloud.local.triggers.trigger_events import scheduled_event, sqs_event
    from teal.runtime.entry import handler

    when = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert handler(scheduled_event("arn:aws:events:us-east-1:1:rule/r", when), None) == "ticked"
    batch = sqs_event("arn:aws:sqs:us-east-1:1:q", [Message("m1", "hi", "r", 0, 1, 0)])
    assert handler(batch, None) == {"batchItemFailures": []}
    assert triggers_module.seen == [("tick", "2030-01-01T12:00:00Z"), ("work", ["hi"])]
    failing = sqs_event("arn:aws:sqs:us-east-1:1:q", [Message("m2", "fail", "r", 0, 1, 0)])
    with pytest.raises(ValueError, match="fails the invocation"):
        handler(failing, None)


def test_a_function_without_a_handler_of_that_kind_fails_the_invocation(
    triggers_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from teal.cloud.local.triggers.trigger_events import scheduled_event
    from teal.runtime.entry import handler

    monkeypatch.setenv("TEAL_FUNCTION", "home")
    with pytest.raises(RuntimeError, match="function home has no schedule handler"):
        handler(scheduled_event("arn:aws:events:us-east-1:1:rule/r", datetime.now(UTC)), None)
