"""The watch after a switch, with a fake cloud and a fake clock: its rules (error rate
against at least MIN_REQUESTS requests, p99 once there are that many, not enough
traffic said), one traffic read per period, Ctrl-C, and its length per cloud."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from teal.cloud.base import StageRef, Traffic, TrafficTiming
from teal.cloud.local.gateway.traffic import LINE_SPAN_S, read_traffic_since
from teal.cloud.local.paths import LocalPaths
from teal.ops.watch import check_watch_length, watch_limits, watch_traffic
from teal.project.config import WatchSettings
from teal.rules.watch_rules import (
    MIN_REQUESTS,
    WatchFigures,
    WatchLimits,
    WatchReport,
    WatchResult,
    breach_of,
)
from teal.runtime.errors import OperationError, UserError

STAGE = StageRef("green", "blog-dev-2", "dev")
LOCAL_TIMING = TrafficTiming(period_s=1, delay_s=1)
ONE_PERCENT = WatchLimits(seconds=10, max_error_rate=1.0)


@pytest.mark.parametrize(
    ("requests", "errors", "p99", "limits", "breached"),
    [
        (0, 0, None, ONE_PERCENT, False),
        (200, 2, 30.0, ONE_PERCENT, False),  # exactly 1 %: at the limit, not over it
        (200, 3, 30.0, ONE_PERCENT, True),
        (5, 3, 30.0, ONE_PERCENT, True),  # 3 of at least 20: 15 %
        (5, 1, 30.0, ONE_PERCENT, False),  # one error never decides alone
        (40, 1, 30.0, ONE_PERCENT, False),  # 2.5 %, but a single error
        (40, 2, 30.0, ONE_PERCENT, True),  # 5 %
        (10, 1, 30.0, WatchLimits(10, 10.0), False),  # 1 of at least 20: 5 %, under 10 %
        (10, 3, 30.0, WatchLimits(10, 10.0), True),  # 3 of at least 20: 15 %
        (19, 0, 900.0, WatchLimits(10, 1.0, 500.0), False),  # p99 of 19 requests: not judged
        (20, 0, 900.0, WatchLimits(10, 1.0, 500.0), True),
        (20, 0, 400.0, WatchLimits(10, 1.0, 500.0), False),
    ],
)
def test_the_rules_of_a_breach(
    requests: int, errors: int, p99: float | None, limits: WatchLimits, breached: bool
) -> None:
    figures = WatchFigures(5.0, requests, errors, p99)
    assert (breach_of(figures, limits) is not None) is breached


def test_a_breach_says_what_and_how_it_was_counted() -> None:
    few = breach_of(WatchFigures(2.0, 5, 3, None), ONE_PERCENT)
    assert few == (
        "error rate 15.0% (3 of 5 requests answered 5xx, counted against 20 requests) is "
        "over the limit of 1%"
    )
    slow = breach_of(WatchFigures(2.0, 50, 0, 812.4), WatchLimits(10, 1.0, 800.0))
    assert slow == "p99 latency 812 ms is over the limit of 800 ms"


SWITCHED = datetime(2026, 11, 26, 9, 0, 30, tzinfo=UTC)


@dataclass
class FakeClock:
    now: float = SWITCHED.timestamp()
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class FakeCloud:
    """Answers ``traffic`` from a script, one answer per call, and counts the calls."""

    answers: list[Traffic | OperationError]
    name: str = "local"
    traffic_timing: TrafficTiming = LOCAL_TIMING
    calls: list[tuple[tuple[StageRef, ...], datetime]] = field(default_factory=list)

    def traffic_since(self, stages: Sequence[StageRef], since: datetime) -> list[Traffic]:
        self.calls.append((tuple(stages), since))
        answer = self.answers[min(len(self.calls), len(self.answers)) - 1]
        if isinstance(answer, OperationError):
            raise answer
        return [answer]


def traffic(requests: int, errors: int = 0, p99: float | None = 12.0) -> Traffic:
    return Traffic(0, requests, errors, p99 / 2 if p99 else None, p99)


def watch(cloud: FakeCloud, clock: FakeClock, limits: WatchLimits = ONE_PERCENT) -> WatchResult:
    lines: list[str] = []
    result = watch_traffic(
        cloud,  # type: ignore[arg-type]
        STAGE,
        limits,
        since=clock.now,
        live=lines.append,
        clock=clock,
        sleep=clock.sleep,
    )
    assert len(lines) == len(cloud.calls)  # live figures after every read
    return result


def test_a_healthy_watch_reads_once_a_period_one_call_each_until_its_end() -> None:
    cloud, clock = FakeCloud([traffic(40 * n) for n in range(1, 11)]), FakeClock()
    result = watch(cloud, clock)
    assert result == WatchResult(WatchFigures(10.0, 400, 0, 12.0))
    assert cloud.calls == [((STAGE,), SWITCHED)] * 10  # always what began after the switch
    assert clock.slept == [1.0] * 10


def test_a_breach_ends_the_watch_at_the_read_that_saw_it() -> None:
    answers = [traffic(30), traffic(60, errors=9), traffic(90)]
    cloud, clock = FakeCloud(answers), FakeClock()
    result = watch(cloud, clock)
    assert len(cloud.calls) == 2 and result.figures.errors == 9
    assert result.breach is not None and "over the limit of 1%" in result.breach


def test_aws_is_read_once_a_minute() -> None:
    timing = TrafficTiming(period_s=60, delay_s=120)
    cloud = FakeCloud([traffic(100)], name="aws", traffic_timing=timing)
    clock = FakeClock()
    watch(cloud, clock, WatchLimits(300, 1.0))
    assert len(cloud.calls) == 5 and clock.slept == [60.0] * 5


def test_ctrl_c_ends_the_watch_and_keeps_what_it_saw() -> None:
    cloud, clock = FakeCloud([traffic(30)]), FakeClock()

    def interrupted_after_one_read(seconds: float) -> None:
        if cloud.calls:
            raise KeyboardInterrupt
        clock.sleep(seconds)

    result = watch_traffic(
        cloud,  # type: ignore[arg-type]
        STAGE,
        ONE_PERCENT,
        since=clock.now,
        live=lambda _: None,
        clock=clock,
        sleep=interrupted_after_one_read,
    )
    assert result.interrupted and result.figures.requests == 30


def test_a_watch_without_traffic_says_it_could_not_judge() -> None:
    cloud, clock = FakeCloud([traffic(0, p99=None)]), FakeClock()
    result = watch(cloud, clock, WatchLimits(3, 1.0))
    report = WatchReport(result, WatchLimits(3, 1.0), "held")
    assert result.breach is None
    assert report.reason == (
        f"not enough traffic to judge: 0 requests in 3 s (at least {MIN_REQUESTS} needed)"
    )
    assert report.to_json() == {
        "seconds": 3.0,
        "requests": 0,
        "errors": 0,
        "error_rate": None,
        "p99_ms": None,
        "verdict": "held",
        "enough_traffic": False,
        "min_requests": MIN_REQUESTS,
        "reason": report.reason,
        "limits": {"seconds": 3, "max_error_rate": 1.0, "max_p99_ms": None},
    }


def test_unreadable_numbers_are_read_again_and_never_pass_silently() -> None:
    refused = OperationError("AWS refused GetMetricData: AccessDenied")
    cloud, clock = FakeCloud([refused]), FakeClock()
    result = watch(cloud, clock, WatchLimits(3, 1.0))
    assert len(cloud.calls) == 3 and result.unreadable == refused.what
    assert "not enough traffic to judge" in WatchReport(result, ONE_PERCENT, "held").reason


def test_a_watch_is_as_long_as_the_clouds_numbers_need() -> None:
    aws = TrafficTiming(period_s=60, delay_s=120)
    check_watch_length(WatchLimits(300, 1.0), aws, "aws")
    with pytest.raises(UserError) as short:
        check_watch_length(WatchLimits(120, 1.0, where="teal.toml:12"), aws, "aws")
    assert short.value.where == "teal.toml:12" and short.value.hint == "watch at least 5m"
    assert "CloudWatch" in short.value.what
    local = TrafficTiming(period_s=1, delay_s=1)
    check_watch_length(WatchLimits(3, 1.0), local, "local")
    with pytest.raises(UserError, match="too short"):
        check_watch_length(WatchLimits(2, 1.0), local, "local")


def test_the_flags_go_over_deploy_watch() -> None:
    configured = WatchSettings(120, 2.0, 800.0, "teal.toml:9")
    assert watch_limits(WatchSettings(), seconds=None, max_error_rate=5, max_p99_ms=None) is None
    assert watch_limits(configured, seconds=None, max_error_rate=None, max_p99_ms=None) == (
        WatchLimits(120, 2.0, 800.0, "teal.toml:9")
    )
    assert watch_limits(configured, seconds=60, max_error_rate=0.5, max_p99_ms=None) == (
        WatchLimits(60, 0.5, 800.0, "--watch")
    )


def test_locally_a_watch_counts_only_lines_that_began_after_the_switch(tmp_path: Path) -> None:
    """A traffic line reaches back up to LINE_SPAN_S before it was written: a line written
    sooner after the switch may hold requests from before it, so it is left out."""
    paths = LocalPaths(tmp_path / "home")
    paths.home.mkdir()
    switched = time.time() - 60  # the file, written now, is newer than every line in it
    before = {"api": "green", "stage": "dev", "n": 250, "e": 120, "h": {"60": 250}}
    after = {"api": "green", "stage": "dev", "n": 40, "e": 0, "h": {"60": 40}}
    early = [{"t": switched - 0.5, **before}, {"t": switched + LINE_SPAN_S - 0.1, **before}]
    later = [
        {"t": switched + LINE_SPAN_S + 0.5, **after},
        {"t": switched + LINE_SPAN_S + 1.5, **after},
    ]
    stage = StageRef("green", "blog-dev-2", "dev")

    def written(lines: list[dict[str, object]]) -> None:
        with paths.traffic.open("a") as file:
            file.writelines(json.dumps(line) + "\n" for line in lines)

    written(early)  # the second may hold requests of before the switch
    (none_yet,) = read_traffic_since(paths, [stage], switched, now=switched + 1.6)
    assert none_yet.requests == 0 and none_yet.window_s == 0
    written(later)
    (seen,) = read_traffic_since(paths, [stage], switched, now=switched + 4.0)
    assert (seen.requests, seen.errors) == (80, 0)
