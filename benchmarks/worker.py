"""CPU time of one warm worker per invocation, with no HTTP and no gateway in between.

    python benchmarks/worker.py [--invocations 4000] [--runs 3]

Deploys the hello app of ``benchmarks/gateway.py`` into a private TEAL_HOME,
stops the gateway, then drives one warm worker of it through teal's own
``WorkerManager`` (the gateway's code path to its workers), one invocation at
a time. It prints, per run, the worker's CPU time per invocation (user and
system, from the kernel's accounting, psutil), the caller's, and the round
trip. CPU time rather than throughput: it hardly moves when other work shares
the machine, so two commits can be compared on a busy one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import psutil
from gateway import deploy_hello, teal
from loopback import free_port

from teal.cloud.local.model import FunctionSpec
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.serving import StoreServingState
from teal.cloud.local.workers import WorkerManager

EVENT = {"resource": "/hello", "httpMethod": "GET", "path": "/hello", "headers": {}, "body": None}
WARM_UP = 200


def hello_spec(work: Path) -> tuple[LocalPaths, FunctionSpec]:
    env = {**os.environ, "TEAL_HOME": str(work / "home"), "TEAL_LOCAL_PORT": str(free_port())}
    deployed = deploy_hello(work, env)
    teal(env, work / "hello", "local", "stop")
    paths = LocalPaths(work / "home")
    state = StoreServingState(paths)
    try:
        served = state.stage(deployed.api_id, "dev")
        assert served is not None and served.routes[0].function_arn is not None
        spec = state.function_by_arn(served.routes[0].function_arn)
        assert spec is not None
        return paths, spec
    finally:
        state.close()


async def one_run(paths: LocalPaths, spec: FunctionSpec, invocations: int) -> tuple[float, ...]:
    """(worker µs, of it system µs, caller µs, round trip µs) per invocation."""
    manager = WorkerManager(paths)
    try:
        for number in range(WARM_UP):
            await manager.invoke(spec, EVENT, f"warm-{number}")
        [worker] = manager.workers()
        process = psutil.Process(worker.pid)
        before, caller = process.cpu_times(), time.process_time()
        started = time.perf_counter()
        for number in range(invocations):
            await manager.invoke(spec, EVENT, f"run-{number}")
        wall = time.perf_counter() - started
        after, caller = process.cpu_times(), time.process_time() - caller
    finally:
        await manager.close()
    worker_s = after.user + after.system - before.user - before.system
    per = 1e6 / invocations
    return worker_s * per, (after.system - before.system) * per, caller * per, wall * per


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invocations", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths, spec = hello_spec(Path(folder))
        workers = []
        for run in range(1, args.runs + 1):
            worker, system, caller, trip = asyncio.run(one_run(paths, spec, args.invocations))
            workers.append(worker)
            print(
                f"run {run}: worker {worker:.1f} µs/invocation (system {system:.1f}), "
                f"caller {caller:.1f} µs, round trip {trip:.1f} µs"
            )
    print(f"worker CPU per invocation: median {statistics.median(workers):.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
