"""Every worker process belongs to the gateway that started it, which ends it: a
version retired while its worker starts, a start given up half-way, a gateway
killed with -9 while a worker could not notice. Real processes throughout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
import uvloop

from teal.cloud.local.functions.worker_records import Owner, recorded_workers
from teal.cloud.local.functions.workers import WorkerManager
from teal.cloud.local.model import FunctionSpec
from teal.cloud.local.paths import LocalPaths
from teal.processes import is_running
from teal.project.package import build_package
from test_gateway_support import Cloud, cloud, make_function
from test_lifecycle import api, get, wait_for

__all__ = ["cloud"]  # the fixture

T = TypeVar("T")
INIT_S = 2.0  # how long the slow function takes to import: its cold start
SLOW_MODULE = f"""
import os
import time

time.sleep({INIT_S})


def handler(event, context):
    return {{"pid": os.getpid()}}
"""


LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,  # the gateway's
}


@pytest.fixture(params=sorted(LOOPS))
def loop(request: pytest.FixtureRequest) -> Callable[[], asyncio.AbstractEventLoop]:
    """Each scene on asyncio's loop and on uvloop's: their subprocess transports differ."""
    return LOOPS[request.param]


def run(coroutine: Coroutine[Any, Any, T], loop: Callable[[], asyncio.AbstractEventLoop]) -> T:
    with asyncio.Runner(loop_factory=loop) as runner:
        return runner.run(coroutine)


def slow_function(paths: LocalPaths, tmp_path: Path) -> FunctionSpec:
    """A function whose cold start takes :data:`INIT_S` seconds."""
    project = tmp_path / "slow"
    project.mkdir()
    (project / "slow.py").write_text(SLOW_MODULE)
    package = build_package(project)
    artifact = paths.artifact(package.key)
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_bytes(package.data)
    spec = make_function("t-slow", package.sha256, package.key, timeout_s=10)
    return replace(spec, handler="slow.handler")


async def worker_started() -> int:
    """The pid of the worker this process started, once it exists (still importing)."""
    for _ in range(400):
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error):
                if any(part.endswith("worker_main.py") for part in child.cmdline()):
                    return child.pid
        await asyncio.sleep(0.025)
    raise AssertionError("no worker was started")


async def gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while is_running(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def test_a_worker_started_while_its_version_is_retired_stays_known_and_is_reaped(
    tmp_path: Path, loop: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    """A deploy retires a version while a request for it cold-starts a worker: the pool
    must stay the manager's until that request is done, or the worker it started
    would go back to a pool nobody knows, and live on, idle, until the gateway stops."""
    paths = LocalPaths(tmp_path / "home")
    spec = slow_function(paths, tmp_path)

    async def scenario() -> tuple[int, Any, set[int], bool]:
        manager = WorkerManager(paths)
        call = asyncio.ensure_future(manager.invoke(spec, {}, "req-1"))
        pid = await worker_started()  # importing the handler: the worker is not ready
        await manager.reap(lambda _spec: False)  # the version is no longer served
        answer = await call
        known = {w.pid for w in manager.workers()}
        await manager.reap(lambda _spec: False)
        ended = await gone(pid)
        await manager.close()
        return pid, answer, known, ended

    pid, answer, known, ended = run(scenario(), loop)
    assert answer == {"pid": pid}
    assert pid in known, "the worker went back to a pool the manager no longer has"
    assert ended, "the retired version's worker outlived the reap"


def test_a_start_given_up_half_way_ends_its_worker(
    tmp_path: Path, loop: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    paths = LocalPaths(tmp_path / "home")
    spec = slow_function(paths, tmp_path)

    async def scenario() -> bool:
        manager = WorkerManager(paths)
        call = asyncio.ensure_future(manager.invoke(spec, {}, "req-1"))
        pid = await worker_started()
        call.cancel()  # the gateway shutting down, say
        with contextlib.suppress(asyncio.CancelledError):
            await call
        ended = await gone(pid)
        await manager.close()
        return ended

    assert run(scenario(), loop), "a worker whose start was cancelled lived on"


def test_each_worker_is_recorded_with_its_gateway_until_it_exits(
    tmp_path: Path, loop: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    paths = LocalPaths(tmp_path / "home")
    spec = slow_function(paths, tmp_path)

    async def scenario() -> tuple[int, list[Any]]:
        manager = WorkerManager(paths)
        answer = await manager.invoke(spec, {}, "req-1")
        records = recorded_workers(paths)
        await manager.close()
        return int(answer["pid"]), records

    pid, records = run(scenario(), loop)
    assert [(r.pid, r.owner) for r in records] == [(pid, Owner.this_process())]
    assert recorded_workers(paths) == []  # it exited: its record went with it


def test_a_new_gateway_ends_the_workers_a_killed_one_left(cloud: Cloud) -> None:
    """A worker that cannot run to notice its gateway died (stopped here; a handler
    holding the interpreter in C code does the same) is ended by the next gateway of
    the home, with what its handler started."""
    gateway = cloud.start()
    status, body = get(cloud.port, api("/sleep"))
    assert status == 200
    worker = int(json.loads(body)["pid"])
    pidfile = cloud.tmp / "child.pid"
    assert get(cloud.port, api(f"/spawn?pidfile={pidfile}"))[0] == 200
    spawner = psutil.Process(int(pidfile.read_text())).ppid()  # the /spawn function's worker
    child = int(pidfile.read_text())
    stopped = [worker, spawner]
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    try:
        os.kill(gateway, signal.SIGKILL)
        wait_for(lambda: not is_running(gateway))
        wait_for(lambda: cloud.start() != gateway, timeout_s=30)  # restarted, or started
        for pid in (worker, spawner, child):
            wait_for(lambda pid=pid: not is_running(pid), timeout_s=10)
        assert recorded_workers(cloud.paths) == []
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
