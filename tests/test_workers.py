"""Lambda-like workers: real processes started from real code packages."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from teal.cloud.local.functions import workers
from teal.cloud.local.functions.workers import (
    LIVE_IDLE_S,
    MAX_EVENT_BYTES,
    STANDBY_IDLE_S,
    ChannelClosed,
    FailureKind,
    InvocationError,
    WorkerManager,
    _Channel,
    ensure_code,
)
from teal.cloud.local.model import FunctionSpec
from teal.cloud.local.paths import LocalPaths
from test_gateway_support import make_function, publish_code

T = TypeVar("T")
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,  # the gateway's
}
_loop_factory = asyncio.new_event_loop


@pytest.fixture(autouse=True, params=sorted(LOOPS))
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test runs on asyncio's loop and on uvloop's: their subprocess transports differ."""
    global _loop_factory
    _loop_factory = LOOPS[request.param]
    yield request.param
    _loop_factory = asyncio.new_event_loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=_loop_factory) as runner:
        return runner.run(coro)


def event(path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    return {"resource": path, "path": path, "httpMethod": "GET", "queryStringParameters": query}


@pytest.fixture
def paths(tmp_path: Path) -> LocalPaths:
    return LocalPaths(tmp_path / "home")


@pytest.fixture
def code(paths: LocalPaths, tmp_path: Path) -> tuple[str, str]:
    return publish_code(paths, tmp_path / "blue", "blue")


def spec_for(code: tuple[str, str], fn: str, **kwargs: Any) -> FunctionSpec:
    return make_function(f"t-{fn}", *code, app_function=fn, **kwargs)


async def call(manager: WorkerManager, spec: FunctionSpec, ev: dict[str, Any]) -> Any:
    return await manager.invoke(spec, ev, "req-1")


def test_warm_worker_keeps_module_state_and_sees_a_lambda_context(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    async def scenario() -> list[Any]:
        manager = WorkerManager(paths)
        spec = spec_for(code, "count")
        first = await call(manager, spec, event("/count"))
        second = await call(manager, spec, event("/count"))
        context = await call(manager, spec_for(code, "ctx"), event("/context"))
        await manager.close()
        return [first, second, context]

    first, second, context = run(scenario())

    one, two, ctx = (json.loads(r["body"]) for r in (first, second, context))
    assert (one["n"], two["n"]) == (1, 2)
    assert one["pid"] == two["pid"]
    assert ctx["function_name"] == "t-ctx"
    assert ctx["invoked_function_arn"].endswith(":function:t-ctx")
    assert ctx["memory_limit_in_mb"] == "256"
    assert ctx["aws_request_id"] == "req-1"
    assert ctx["log_group_name"] == "/aws/lambda/t-ctx"
    assert "[$LATEST]" in ctx["log_stream_name"]
    assert 0 < ctx["remaining"] <= 5000
    assert (ctx["region"], ctx["custom"]) == ("us-east-1", "yes")
    # the code's own teal copy wins over the installed one
    assert ctx["teal_file"].startswith(str(paths.code / code[0]))
    assert ctx["cwd"] == str(paths.code / code[0])


def test_timeout_kills_the_worker_and_the_next_request_gets_a_new_one(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    async def scenario() -> tuple[InvocationError, Any, Any]:
        manager = WorkerManager(paths)
        spec = spec_for(code, "sleep", timeout_s=1)
        before = await call(manager, spec, event("/sleep"))
        with pytest.raises(InvocationError) as caught:
            await call(manager, spec, event("/sleep", {"s": "3"}))
        after = await call(manager, spec, event("/sleep"))
        await manager.close()
        return caught.value, before, after

    error, before, after = run(scenario())
    assert error.kind is FailureKind.TIMEOUT
    assert "Task timed out after 1.00 seconds" in error.message
    assert '"pid"' in before["body"] and before["body"] != after["body"]


@pytest.mark.parametrize(("fn", "path"), [("crash", "/crash"), ("leave", "/exit")])
def test_a_dying_handler_takes_only_its_worker(
    paths: LocalPaths, code: tuple[str, str], fn: str, path: str
) -> None:
    async def scenario() -> tuple[InvocationError, Any]:
        manager = WorkerManager(paths)
        hello = spec_for(code, "hello")
        warm = await call(manager, hello, event("/hello"))
        with pytest.raises(InvocationError) as caught:
            await call(manager, spec_for(code, fn), event(path))
        again = await call(manager, hello, event("/hello"))
        stats = {s.function_name: s.started for s in manager.stats()}
        await manager.close()
        assert warm == again
        assert stats["t-hello"] == 1  # the hello worker survived
        return caught.value, again

    error, _ = run(scenario())
    assert error.kind is FailureKind.CRASH


def test_handler_output_goes_to_the_function_log_with_request_ids(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    async def scenario() -> Any:
        manager = WorkerManager(paths)
        result = await manager.invoke(spec_for(code, "talk"), event("/print"), "req-42")
        await manager.close()
        return result

    result = run(scenario())
    assert result["body"] == "ok"  # the print did not corrupt the protocol
    logs = list((paths.logs / "t-talk").glob("*.log"))
    text = "".join(p.read_text() for p in logs)
    assert "START RequestId: req-42" in text
    assert "hello from the handler" in text
    assert "a warning" in text
    assert "END RequestId: req-42" in text


def test_blue_and_green_versions_of_one_module_run_side_by_side(
    paths: LocalPaths, tmp_path: Path, code: tuple[str, str]
) -> None:
    green_code = publish_code(paths, tmp_path / "green", "green")

    async def scenario() -> list[Any]:
        manager = WorkerManager(paths)
        blue, green = spec_for(code, "count"), spec_for(green_code, "count")
        results = await asyncio.gather(
            *(call(manager, s, event("/count")) for s in (blue, green, blue, green))
        )
        await manager.close()
        return results

    versions = [json.loads(r["body"])["version"] for r in run(scenario())]
    assert versions == ["blue", "green", "blue", "green"]


def test_concurrency_is_capped_per_version(paths: LocalPaths, code: tuple[str, str]) -> None:
    async def scenario() -> tuple[set[int], int]:
        manager = WorkerManager(paths, concurrency=2)
        spec = spec_for(code, "sleep")
        results = await asyncio.gather(
            *(call(manager, spec, event("/sleep", {"s": "0.2"})) for _ in range(5))
        )
        started = manager.stats()[0].started
        await manager.close()

        return {json.loads(r["body"])["pid"] for r in results}, started

    pids, started = run(scenario())
    assert started == 2
    assert len(pids) == 2


def test_reap_stops_idle_workers_of_versions_no_longer_served(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    async def scenario() -> tuple[int, int]:
        manager = WorkerManager(paths)
        spec = spec_for(code, "hello")
        await call(manager, spec, event("/hello"))
        kept = await manager.reap(lambda s: s.version_key == spec.version_key)
        gone = await manager.reap(lambda s: False)
        assert manager.stats() == []
        return kept, gone

    assert run(scenario()) == (0, 1)


def test_import_error_is_an_init_failure(paths: LocalPaths, tmp_path: Path) -> None:
    project = tmp_path / "broken"
    sha, key = publish_code(paths, project, "x")
    spec = make_function("t-broken", sha, key)
    spec = FunctionSpec(**{**spec.__dict__, "handler": "nowhere.handler"})

    async def scenario() -> InvocationError:
        manager = WorkerManager(paths)
        with pytest.raises(InvocationError) as caught:
            await call(manager, spec, event("/hello"))
        return caught.value

    error = run(scenario())
    assert error.kind is FailureKind.INIT
    assert "nowhere" in error.message


def test_concurrent_unpackers_do_not_clash(paths: LocalPaths, code: tuple[str, str]) -> None:
    spec = spec_for(code, "hello")
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_code(paths, spec))) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert (results[0] / "app.py").is_file()
    assert [p.name for p in paths.code.iterdir()] == [code[0]]


def test_missing_artifact_is_an_init_failure_naming_the_file(paths: LocalPaths) -> None:
    spec = make_function("t-lost", "0" * 64, "code/lost.zip")
    with pytest.raises(InvocationError, match=r"lost\.zip"):
        ensure_code(paths, spec)


def test_large_events_and_results_cross_the_pipes_intact(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    body = "x" * 3_000_000

    async def scenario() -> Any:
        manager = WorkerManager(paths)
        ev = {**event("/echo/{id}"), "httpMethod": "POST", "body": body}
        result = await call(manager, spec_for(code, "echo"), ev)
        await manager.close()
        return result

    assert json.loads(run(scenario())["body"])["body"] == body


def test_an_event_over_lambdas_limit_is_refused_before_any_worker_starts(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    async def scenario() -> tuple[InvocationError, int]:
        manager = WorkerManager(paths)
        ev = {**event("/echo/{id}"), "httpMethod": "POST", "body": "x" * MAX_EVENT_BYTES}
        with pytest.raises(InvocationError) as caught:
            await call(manager, spec_for(code, "echo"), ev)
        started = sum(s.started for s in manager.stats())
        await manager.close()
        return caught.value, started

    error, started = run(scenario())
    assert error.kind is FailureKind.EVENT_TOO_LARGE
    assert "Request must be smaller than 6291456 bytes" in error.message
    assert started == 0


# ---------------------------------------------------------------- what handlers start


def process_gone(pid: int) -> bool:
    """Ended, or a zombie waiting for init (nothing left of it to run)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def wait_gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not process_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_processes_a_handler_starts_end_with_its_worker_on_timeout_and_close(
    paths: LocalPaths, code: tuple[str, str], tmp_path: Path
) -> None:
    timed_out, served = tmp_path / "timed-out.pid", tmp_path / "served.pid"

    async def scenario() -> FailureKind:
        manager = WorkerManager(paths)
        spec = spec_for(code, "spawn", timeout_s=1)
        with pytest.raises(InvocationError) as caught:
            await call(manager, spec, event("/spawn", {"pidfile": str(timed_out), "s": "5"}))
        await call(manager, spec, event("/spawn", {"pidfile": str(served)}))
        assert not process_gone(int(served.read_text()))  # alive while its worker is
        await manager.close()
        return caught.value.kind

    assert run(scenario()) is FailureKind.TIMEOUT
    assert wait_gone(int(timed_out.read_text())), "the timed-out handler's child survived"
    assert wait_gone(int(served.read_text())), "a closed worker's child survived"


# ---------------------------------------------------------------- the frame channel


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def test_the_channel_cuts_frames_out_of_the_bytes_however_they_arrive() -> None:
    async def scenario() -> list[bytes]:
        channel = _Channel()
        stream = frame(b'{"type":"ready"}') + frame(b"one") + frame(b"") + frame(b"x" * 70_000)
        # before anyone waits: kept in order; then in pieces that split headers and payloads
        channel.pipe_data_received(1, stream[:25])
        received = [await channel.next_frame()]
        for start in range(25, len(stream), 3_001):
            channel.pipe_data_received(1, stream[start : start + 3_001])
        received += [await channel.next_frame() for _ in range(3)]
        return received

    assert run(scenario()) == [b'{"type":"ready"}', b"one", b"", b"x" * 70_000]


def test_a_closed_channel_fails_the_waiting_request_and_keeps_what_came_before() -> None:
    async def scenario() -> tuple[bytes, bool]:
        channel = _Channel()
        waiting = asyncio.ensure_future(channel.next_frame())
        await asyncio.sleep(0)
        channel.pipe_data_received(1, frame(b"last words"))
        first = await waiting
        waiting = asyncio.ensure_future(channel.next_frame())
        await asyncio.sleep(0)
        channel.pipe_connection_lost(1, None)
        with pytest.raises(ChannelClosed):
            await waiting
        with pytest.raises(ChannelClosed):
            await channel.next_frame()
        return first, channel.exited.done()

    # the process's exit is its own event: a closed stdout does not claim it
    assert run(scenario()) == (b"last words", False)


# ---------------------------------------------------------------- which workers leave


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def start_workers(manager: WorkerManager, spec: FunctionSpec, count: int) -> set[int]:
    """``count`` workers of the version, by as many requests at once; their pids."""
    results = await asyncio.gather(
        *(call(manager, spec, event("/sleep", {"s": "0.3"})) for _ in range(count))
    )
    return {json.loads(r["body"])["pid"] for r in results}


def pids_of(manager: WorkerManager) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for worker in manager.workers():
        found.setdefault(worker.function_name, set()).add(worker.pid)
    return found


def test_idle_workers_leave_after_the_standby_time_and_a_live_version_keeps_one_warm(
    paths: LocalPaths, code: tuple[str, str], tmp_path: Path
) -> None:
    green_code = publish_code(paths, tmp_path / "green", "green")
    blue, green = (
        spec_for(code, "sleep"),
        make_function("g-sleep", *green_code, app_function="sleep"),
    )
    clock = Clock()

    async def scenario() -> list[dict[str, set[int]]]:
        manager = WorkerManager(paths, clock=clock)
        await start_workers(manager, blue, 3)
        green_pids = await start_workers(manager, green, 2)
        await call(manager, green, event("/sleep"))  # one of them is now the warmest
        seen = [pids_of(manager)]

        def reap() -> Coroutine[Any, Any, int]:
            # a switch moved the domain to green: blue answers its endpoint only
            return manager.reap(lambda _spec: True, is_live=lambda s: s.name == green.name)

        clock.now += STANDBY_IDLE_S - 1
        assert await reap() == 0
        clock.now += 1
        assert await reap() == 4  # blue's three, green's extra one
        seen.append(pids_of(manager))
        clock.now += LIVE_IDLE_S - STANDBY_IDLE_S
        assert await reap() == 1
        seen.append(pids_of(manager))
        # an environment whose workers left still answers, with a cold start
        again = await call(manager, blue, event("/sleep"))
        seen.append({"again": {json.loads(again["body"])["pid"]}, **pids_of(manager)})
        await manager.close()
        assert len(green_pids) == 2
        return seen

    before, after_standby, after_live, served = run(scenario())
    assert len(before["t-sleep"]) == 3 and len(before["g-sleep"]) == 2
    assert "t-sleep" not in after_standby
    assert len(after_standby["g-sleep"]) == 1 and after_standby["g-sleep"] < before["g-sleep"]
    assert after_live == {}
    assert served["again"] == served["t-sleep"] and not served["again"] & before["t-sleep"]


def test_cold_starts_at_the_same_time_prepare_their_version_once(
    paths: LocalPaths, code: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst on a new version starts many workers at once; what they run on (code
    unpacked, interpreter, requirements, SDK) is worked out once for all of them."""
    calls: list[str] = []
    real_world, real_code = workers.local_world, workers.ensure_code

    def counted_world(*args: Any, **kwargs: Any) -> Any:
        calls.append("world")
        time.sleep(0.2)  # long enough for every request of the burst to arrive meanwhile
        return real_world(*args, **kwargs)

    def counted_code(*args: Any, **kwargs: Any) -> Any:
        calls.append("code")
        return real_code(*args, **kwargs)

    monkeypatch.setattr(workers, "local_world", counted_world)
    monkeypatch.setattr(workers, "ensure_code", counted_code)

    async def scenario() -> tuple[list[Any], int]:
        manager = WorkerManager(paths)
        spec = spec_for(code, "hello")
        results = await asyncio.gather(*(call(manager, spec, event("/hello")) for _ in range(5)))
        started = len(manager.workers())
        await manager.close()
        return results, started

    results, started = run(scenario())
    assert [r["statusCode"] for r in results] == [200] * 5
    assert started == 5  # one environment per concurrent request, as on Lambda
    assert sorted(calls) == ["code", "world"]


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux's scheduling policies")
def test_workers_never_preempt_the_gateway_that_wakes_them(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    async def scenario() -> list[int]:
        manager = WorkerManager(paths)
        await call(manager, spec_for(code, "hello"), event("/hello"))
        policies = [os.sched_getscheduler(w.pid) for w in manager.workers()]
        await manager.close()
        return policies

    assert run(scenario()) == [os.SCHED_BATCH]
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the caller, the gateway, is unchanged


def test_workers_report_their_function_version_and_state(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    clock = Clock()

    async def scenario() -> list[dict[str, object]]:
        manager = WorkerManager(paths, clock=clock)
        spec = spec_for(code, "sleep", timeout_s=60)
        # busy until the manager closes: it kills the worker mid-request
        busy = asyncio.ensure_future(call(manager, spec, event("/sleep", {"s": "600"})))
        await call(manager, spec_for(code, "hello"), event("/hello"))
        clock.now += 12
        while len(manager.workers()) < 2:
            await asyncio.sleep(0.01)
        shown = [w.to_json() for w in manager.workers()]
        await manager.close()
        with pytest.raises(InvocationError):
            await busy
        return shown

    shown = run(scenario())
    for worker in shown:
        assert isinstance(worker.pop("pid"), int)
    assert shown == [
        {
            "function": "t-hello",
            "version": code[0][:12],
            "lambda_version": "$LATEST",
            "state": "idle",
            "idle_s": 12.0,
            "invocations": 1,
        },
        {
            "function": "t-sleep",
            "version": code[0][:12],
            "lambda_version": "$LATEST",
            "state": "busy",
            "idle_s": 0.0,
            "invocations": 1,
        },
    ]
