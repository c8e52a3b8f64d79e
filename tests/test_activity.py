"""Progress on stderr: lines always, a live footer on a terminal, heartbeats when piped."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from teal.cli.output import HEARTBEAT_S, Activity
from teal.cloud.base import StackEvent

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def event(
    stack: str, logical_id: str, status: str, kind: str = "AWS::Lambda::Function"
) -> StackEvent:
    return StackEvent(
        NOW, stack, logical_id, kind, status, reason="because" if "FAILED" in status else None
    )


def piped() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, force_terminal=False), out


def test_piped_output_has_steps_stack_lines_failures_and_heartbeats() -> None:
    console, out = piped()
    clock = Clock()
    with Activity(console, clock=clock) as activity:
        activity.step("updating blog-dev in place")
        activity(event("blog-dev", "blog-dev", "UPDATE_IN_PROGRESS", "AWS::CloudFormation::Stack"))
        for n in range(30):
            clock.now += 1.0
            activity(event("blog-dev", f"Fn{n}", "UPDATE_COMPLETE"))
        activity(event("blog-dev", "FnBad", "UPDATE_FAILED"))
    lines = out.getvalue().splitlines()
    assert lines[0] == "» updating blog-dev in place"
    assert "UPDATE_IN_PROGRESS" in lines[1] and "blog-dev" in lines[1]
    heartbeats = [line for line in lines if "resource operations done" in line]
    assert len(heartbeats) == int(30 // HEARTBEAT_S)
    assert "15/15 resource operations done (15 s)" in heartbeats[0]
    assert "UPDATE_FAILED" in lines[-1] and "because" in lines[-1]
    assert not any("Fn3 " in line for line in lines)  # a resource's success is not a line


def test_the_live_footer_shows_the_step_its_time_and_nested_stacks_as_one_row() -> None:
    console = Console(file=io.StringIO(), width=200, force_terminal=True)
    clock = Clock()
    activity = Activity(console, clock=clock)
    activity.step("creating blog-dev")
    activity(event("blog-dev", "Api", "CREATE_COMPLETE", "AWS::ApiGateway::RestApi"))
    activity(event("blog-dev", "ApiPage1", "CREATE_IN_PROGRESS", "AWS::CloudFormation::Stack"))
    for n in range(40):
        activity(
            event("blog-dev-ApiPage1-X", f"Res{n}", "CREATE_COMPLETE", "AWS::ApiGateway::Resource")
        )
    clock.now = 12.0
    rendered = io.StringIO()
    Console(file=rendered, width=200).print(activity)
    text = rendered.getvalue()
    assert "… creating blog-dev (12 s)" in text
    assert "41/42 resource operations done" in text
    assert "blog-dev-ApiPage1-X" in text and "40/40 resources done" in text
    assert "Res7" not in text  # a page's resources are summed up, not listed
    assert "AWS::ApiGateway::RestApi" in text


def test_verbose_prints_every_event() -> None:
    console, out = piped()
    with Activity(console, verbose=True) as activity:
        activity(event("blog-dev", "Fn1", "CREATE_COMPLETE"))
    assert "Fn1" in out.getvalue()


def test_changing_figures_are_the_footer_on_a_terminal_and_a_line_now_and_then_piped() -> None:
    console, out = piped()
    clock = Clock()
    activity = Activity(console, clock=clock)
    activity.step("watching blog-dev-2")
    for second in range(1, 31):
        clock.now = float(second)
        activity.update(f"watching blog-dev-2: {second}/30 s: {second * 10} requests")
    lines = out.getvalue().splitlines()
    assert lines[1:] == [
        "  watching blog-dev-2: 1/30 s: 10 requests",
        "  watching blog-dev-2: 16/30 s: 160 requests",
    ]
    terminal = Console(file=io.StringIO(), width=200, force_terminal=True)
    live = Activity(terminal, clock=clock)
    live.step("watching")
    live.update("watching blog-dev-2: 3/30 s: 30 requests")
    rendered = io.StringIO()
    Console(file=rendered, width=200).print(live)
    assert "… watching blog-dev-2: 3/30 s: 30 requests" in rendered.getvalue()
