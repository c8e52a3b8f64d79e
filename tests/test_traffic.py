"""The local gateway's traffic numbers and request feed: recorded per request, written in
batches, read back per stage; and its invoke endpoint."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from teal.cloud.base import StageRef
from teal.cloud.local.functions.workers import FailureKind, InvocationError
from teal.cloud.local.gateway.handler import Gateway, GatewayResponse
from teal.cloud.local.gateway.traffic import (
    RequestFeed,
    RequestRecorder,
    TrafficWriter,
    bucket_ms,
    bucket_of,
    histogram_of,
    percentile,
    read_traffic,
)
from teal.cloud.local.paths import LocalPaths
from test_gateway import (
    MAIN_PORT,
    TOKEN,
    WITH_TOKEN,
    ScriptedInvoker,
    api,
    fake_stage,
    handle,
    request,
)
from test_gateway_support import FakeServingState


@pytest.fixture
def paths(tmp_path: Path) -> LocalPaths:
    home = LocalPaths(tmp_path / "home")
    home.home.mkdir()
    return home


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(recorder: RequestRecorder, status: int, ms: float, api_id: str = "blue") -> None:
    recorder.record(time.perf_counter() - ms / 1000, api_id, "dev", "GET", "/x", status, "f", "r")


def test_latency_buckets_are_at_most_five_percent_wide() -> None:
    for ms in (0.3, 1.0, 12.5, 480.0, 29_000.0):
        assert ms <= bucket_ms(bucket_of(ms)) <= ms * 1.05 + 1e-9


def test_a_batchs_histogram_counts_each_latency_in_its_bucket() -> None:
    latencies = [0.01, 0.05, 0.3, 0.31, 1.0, 1.0, 12.5, 480.0, 29_000.0, 0.3]
    expected: dict[int, int] = {}
    for ms in latencies:
        expected[bucket_of(ms)] = expected.get(bucket_of(ms), 0) + 1
    assert histogram_of(latencies) == expected
    assert histogram_of([]) == {}


def test_percentiles_from_a_histogram() -> None:
    histogram: dict[int, int] = {}
    for ms in [*([10.0] * 98), 500.0, 900.0]:
        histogram[bucket_of(ms)] = histogram.get(bucket_of(ms), 0) + 1
    p50 = percentile(histogram, 0.50)
    p99 = percentile(histogram, 0.99)
    assert p50 is not None and 10.0 <= p50 <= 10.5
    assert p99 is not None and 500.0 <= p99 <= 525.0
    assert percentile({}, 0.5) is None


def test_traffic_is_written_once_a_second_per_stage_and_read_back(paths: LocalPaths) -> None:
    clock, recorder = Clock(time.time()), RequestRecorder()
    writer = TrafficWriter(paths, recorder, clock)
    for _ in range(8):
        record(recorder, 200, 10.0)
    record(recorder, 502, 40.0)
    record(recorder, 200, 5.0, api_id="green")
    writer.flush()
    assert not paths.traffic.exists()  # less than a second since the last write
    clock.now += 1.0
    writer.flush()
    lines = [json.loads(line) for line in paths.traffic.read_text().splitlines()]
    assert [(line["api"], line["n"], line["e"]) for line in lines] == [
        ("blue", 9, 1),
        ("green", 1, 0),
    ]
    blue, green, other = read_traffic(
        paths,
        [StageRef("blue", "b", "dev"), StageRef("green", "g", "dev"), StageRef("x", "x", "dev")],
        300,
        now=clock.now,
    )
    assert (blue.requests, blue.errors) == (9, 1)
    assert blue.p50_ms is not None and 10.0 <= blue.p50_ms <= 10.6
    assert blue.p99_ms is not None and 40.0 <= blue.p99_ms <= 42.5
    assert (green.requests, other.requests, other.p50_ms) == (1, 0, None)
    # five minutes later, these requests are out of the window
    assert (
        read_traffic(paths, [StageRef("blue", "b", "dev")], 300, now=clock.now + 301)[0].requests
        == 0
    )


def test_request_lines_are_written_only_while_someone_reads_them(paths: LocalPaths) -> None:
    clock, recorder = Clock(time.time()), RequestRecorder()
    writer = TrafficWriter(paths, recorder, clock)
    record(recorder, 200, 1.0)
    writer.flush()
    assert not paths.requests.exists()
    feed = RequestFeed(paths)
    feed.want()
    writer.flush()  # the gateway's next batch hears of it
    record(recorder, 503, 2.0)
    writer.flush()
    (line,) = feed.read()
    assert (line.api_id, line.status, line.function, line.request_id) == ("blue", 503, "f", "r")
    assert feed.read() == []  # each line once


def test_a_request_answered_right_after_a_reader_asked_is_written(paths: LocalPaths) -> None:
    """teal dev asks, its deploy has nothing to do, and the first request comes before the
    gateway's next batch: the line of that request is written all the same."""
    recorder = RequestRecorder()
    writer = TrafficWriter(paths, recorder, Clock(time.time()))
    writer.flush()  # a batch while nobody reads
    feed = RequestFeed(paths)
    feed.want()
    record(recorder, 500, 1.0)  # before the gateway's next batch
    writer.flush()
    assert [line.status for line in feed.read()] == [500]


def test_a_reader_busy_for_longer_than_the_gateway_waits_is_still_served(
    paths: LocalPaths,
) -> None:
    """teal dev in a deploy slower than WANTED_FOR_S: its word is kept fresh meanwhile."""
    feed = RequestFeed(paths)
    with feed.kept_wanted(every_s=0.05):
        first = paths.requests_wanted.stat().st_mtime_ns
        os.utime(paths.requests_wanted, (0, 0))  # as if the last word were long ago
        deadline = time.monotonic() + 5
        while paths.requests_wanted.stat().st_mtime_ns < first and time.monotonic() < deadline:
            time.sleep(0.01)
        assert paths.requests_wanted.stat().st_mtime_ns >= first
    os.utime(paths.requests_wanted, (0, 0))
    time.sleep(0.2)  # the keeper stopped with the block: no more words
    assert paths.requests_wanted.stat().st_mtime == 0


def test_the_feed_reads_whole_lines_only_and_follows_a_move_aside(paths: LocalPaths) -> None:
    feed = RequestFeed(paths)
    line = {
        "time": 1.0,
        "api_id": "a",
        "stage": "dev",
        "method": "GET",
        "path": "/",
        "status": 200,
        "ms": 1.0,
        "function": "f",
        "request_id": "r1",
    }
    text = json.dumps(line) + "\n"
    paths.requests.write_text(text[:20])
    assert feed.read() == []
    with paths.requests.open("a") as file:
        file.write(text[20:])
    assert [found.request_id for found in feed.read()] == ["r1"]
    paths.requests.replace(paths.home / "requests.1.jsonl")
    paths.requests.write_text(json.dumps({**line, "request_id": "r2"}) + "\n")
    assert [found.request_id for found in feed.read()] == ["r2"]
    # lines the old file got after the last read, before it was moved aside, come first
    with paths.requests.open("a") as file:
        file.write(json.dumps({**line, "request_id": "r3"}) + "\n")
    paths.requests.replace(paths.home / "requests.1.jsonl")
    paths.requests.write_text(json.dumps({**line, "request_id": "r4"}) + "\n")
    assert [found.request_id for found in feed.read()] == ["r3", "r4"]


def test_large_files_move_aside_and_both_parts_are_read(paths: LocalPaths) -> None:
    recorder, clock = RequestRecorder(), Clock(time.time())
    writer = TrafficWriter(paths, recorder, clock)
    record(recorder, 200, 1.0)
    writer.flush(final=True)
    with paths.traffic.open("a") as file:  # as if it had grown past the limit
        file.truncate(5 * 1024 * 1024)
    record(recorder, 200, 1.0)
    clock.now += 1
    writer.flush(final=True)
    assert (paths.home / "traffic.1.jsonl").exists()
    assert os.path.getsize(paths.traffic) < 1024
    (found,) = read_traffic(paths, [StageRef("blue", "b", "dev")], 300, now=clock.now)
    assert found.requests == 2


# ---------------------------------------------------------------- through the gateway


def gateway(state: FakeServingState, invoker: ScriptedInvoker, **kwargs: Any) -> Gateway:
    return Gateway(state, invoker, main_port=MAIN_PORT, token=TOKEN, **kwargs)


def test_the_gateway_records_each_request_of_a_stage_with_its_function() -> None:
    state = FakeServingState()
    fake_stage(state, "blue", {"list": [("/posts", "GET")], "boom": [("/boom", "GET")]})

    def boom(_event: Any) -> Any:
        raise InvocationError(FailureKind.UNHANDLED, "ValueError: no")

    recorder = RequestRecorder()
    invoker = ScriptedInvoker({"list": lambda _e: {"statusCode": 200, "body": "[]"}, "boom": boom})
    gw = gateway(state, invoker, recorder=recorder)
    statuses = [handle(gw, request(api(path))).status for path in ("/posts", "/boom", "/nothing")]
    handle(gw, request("/_teal/health", headers=WITH_TOKEN))  # the gateway's own: not traffic
    assert statuses == [200, 502, 403]
    batch = recorder.take()
    lines = batch.lines
    (samples,) = batch.samples.values()
    assert (len(samples.latencies), samples.errors) == (3, 1)
    assert [(r.api_id, r.path, r.status, r.function) for r in lines] == [
        ("blue", "/posts", 200, "list"),
        ("blue", "/boom", 502, "boom"),
        ("blue", "/nothing", 403, ""),
    ]
    assert all(r.ms >= 0 and r.request_id for r in lines)


def invoke_through(gw: Gateway, name: str, event: Any) -> GatewayResponse:
    body = json.dumps(event).encode()
    return handle(gw, request(f"/_teal/invoke/{name}", "POST", body=body, headers=WITH_TOKEN))


def test_the_invoke_endpoint_runs_the_function_with_the_event_given() -> None:
    state = FakeServingState()
    fake_stage(state, "blue", {"list": [("/posts", "GET")]})
    invoker = ScriptedInvoker({"list": lambda event: {"statusCode": 200, "body": event["x"]}})
    answer = invoke_through(gateway(state, invoker), "list", {"x": "given"})
    assert answer.status == 200
    body = answer.json()
    assert body["result"] == {"statusCode": 200, "body": "given"}
    assert body["error"] is None
    assert body["function"] == "list"
    assert body["log_group"] == "/aws/lambda/list"
    assert invoker.events == [{"x": "given"}]


def test_the_invoke_endpoint_reports_the_error_as_lambda_names_it() -> None:
    state = FakeServingState()
    fake_stage(state, "blue", {"boom": [("/boom", "GET")], "slow": [("/slow", "GET")]})

    def fail(kind: FailureKind, message: str) -> Any:
        def answer(_event: Any) -> Any:
            raise InvocationError(kind, message)

        return answer

    invoker = ScriptedInvoker(
        {
            "boom": fail(FailureKind.UNHANDLED, "ZeroDivisionError: division by zero"),
            "slow": fail(FailureKind.TIMEOUT, "Task timed out after 3.00 seconds"),
        }
    )
    gw = gateway(state, invoker)
    assert invoke_through(gw, "boom", {}).json()["error"] == {
        "type": "ZeroDivisionError",
        "message": "division by zero",
    }
    assert invoke_through(gw, "slow", {}).json()["error"] == {
        "type": "Sandbox.Timedout",
        "message": "Task timed out after 3.00 seconds",
    }


def test_the_invoke_endpoint_is_only_the_main_ports_and_knows_its_functions() -> None:
    state = FakeServingState()
    fake_stage(state, "blue", {"list": [("/posts", "GET")]})
    gw = gateway(state, ScriptedInvoker({}))
    missing = invoke_through(gw, "nope", {})
    assert missing.status == 404
    assert missing.json()["message"].startswith("Function not found: arn:aws:lambda:")
    bad = request("/_teal/invoke/list", "POST", body=b"{", headers=WITH_TOKEN)
    assert handle(gw, bad).status == 400
    # on a domain's port /_teal/ is the domain's API's path, never the gateway's endpoint
    on_domain = request("/_teal/invoke/list", "POST", port=MAIN_PORT + 1, body=b"{}")
    assert handle(gw, on_domain).status == 403


def test_only_the_end_of_a_long_traffic_file_counts_and_is_read_whole(paths: LocalPaths) -> None:
    """Lines are appended in time order; a window reaching far back reads further back."""
    now = time.time()
    line = '{{"t": {t}, "api": "blue", "stage": "dev", "n": 1, "e": 0, "h": {{"10": 1}}}}\n'
    old = "".join(line.format(t=now - 1_000 + i * 0.001) for i in range(20_000))
    recent = "".join(line.format(t=now - 250 + i * 0.1) for i in range(2_000))  # ~190 KB
    paths.traffic.write_text(old + recent)
    (found,) = read_traffic(paths, [StageRef("blue", "b", "dev")], 300, now=now)
    assert found.requests == 2_000
    (wider,) = read_traffic(paths, [StageRef("blue", "b", "dev")], 1_001, now=now)
    assert wider.requests == 22_000
