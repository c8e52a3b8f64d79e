"""CPU time of warm workers per invocation, with no HTTP and no gateway in between.

    python benchmarks/worker.py [--invocations 4000] [--runs 3] [--concurrent 1]

Deploys the hello app of ``benchmarks/gateway.py`` into a private TEAL_HOME,
stops the gateway, then drives one warm worker of it through teal's own
``WorkerManager`` (the gateway's code path to its workers), one invocation at
a time; with ``--concurrent N``, N invocations at a time on N workers, which
then take turns on the CPUs as they do behind wrk. It prints, per run, the
workers' CPU time per invocation (user and system, from the kernel's
accounting, psutil), the caller's, and the wall time. CPU time rather than
throughput: it hardly moves when other work shares the machine, so two
commits can be compared on a busy one.

Each invocation carries the event the gateway sends for the request
``benchmarks/gateway.py`` drives with wrk through the custom domain's port
(``GET /hello``, only ``Host: 127.0.0.1:<port>``), built by the gateway's own
:func:`teal.rules.proxy_events.build_proxy_event`: its forwarded headers, trace
header, multi-value maps and request context, with a new request id and time
each time, as the gateway would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
from gateway import deploy_hello, teal
from loopback import free_port

from teal.cloud.local.functions.workers import WorkerManager
from teal.cloud.local.gateway.handler import new_trace_id
from teal.cloud.local.gateway.serving import StoreServingState
from teal.cloud.local.model import FunctionSpec
from teal.cloud.local.paths import LocalPaths
from teal.rules.proxy_events import IncomingRequest, RequestSource, build_proxy_event

WARM_UP = 200
Event = Callable[[str], dict[str, Any]]  # the event of one request, given its request id


def hello_function(work: Path) -> tuple[LocalPaths, FunctionSpec, Event]:
    """The deployed hello function, and the event wrk's request to its domain makes."""
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
        [domain] = state.domains()
    finally:
        state.close()
    port = urlsplit(deployed.domain_url).port or 80
    source = RequestSource(
        api_id=deployed.api_id,
        stage="dev",
        resource_path="/hello",
        path="/hello",
        context_path="/hello",
        domain_name=domain.name,
        stage_variables=served.stage_variables,
        binary_media_types=served.binary_media_types,
    )
    # what wrk sends: the request line and the Host header, nothing else
    request = IncomingRequest("GET", "", [("Host", f"127.0.0.1:{port}")], b"", port=port)

    def event(request_id: str) -> dict[str, Any]:
        now = time.time()
        trace_id = new_trace_id(now)
        return build_proxy_event(request, source, request_id=request_id, now=now, trace_id=trace_id)

    return paths, spec, event


async def one_run(
    paths: LocalPaths, spec: FunctionSpec, event: Event, invocations: int, concurrent: int
) -> tuple[float, ...]:
    """(worker µs, of it system µs, caller µs, wall µs) per invocation: with one in
    flight, the wall time is the round trip."""
    manager = WorkerManager(paths, concurrency=concurrent)
    warm_up = [event(f"warm-{number}") for number in range(WARM_UP)]
    events = [event(f"run-{number}") for number in range(invocations)]

    async def drive(batch: list[dict[str, Any]], prefix: str) -> None:
        """``concurrent`` callers, each one invocation at a time: that many workers."""

        async def caller(lane: int) -> None:
            for number in range(lane, len(batch), concurrent):
                await manager.invoke(spec, batch[number], f"{prefix}-{number}")

        await asyncio.gather(*(caller(lane) for lane in range(concurrent)))

    try:
        await drive(warm_up, "warm")
        processes = [psutil.Process(worker.pid) for worker in manager.workers()]
        before, caller = _cpu(processes), time.process_time()
        started = time.perf_counter()
        await drive(events, "run")
        wall = time.perf_counter() - started
        after, caller = _cpu(processes), time.process_time() - caller
    finally:
        await manager.close()
    per = 1e6 / invocations
    return (after[0] - before[0]) * per, (after[1] - before[1]) * per, caller * per, wall * per


def _cpu(processes: list[psutil.Process]) -> tuple[float, float]:
    """CPU seconds (user + system, and system alone) of the workers so far."""
    times = [process.cpu_times() for process in processes]
    return sum(t.user + t.system for t in times), sum(t.system for t in times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invocations", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--concurrent",
        type=int,
        default=1,
        help="invocations in flight, each on its own warm worker (the gateway under load has "
        "up to ten): the workers take turns on the CPUs, as they do behind wrk",
    )
    args = parser.parse_args()
    if args.concurrent < 1:
        parser.error("--concurrent must be at least 1")
    with tempfile.TemporaryDirectory() as folder:
        paths, spec, event = hello_function(Path(folder))
        workers = []
        for run in range(1, args.runs + 1):
            worker, system, caller, trip = asyncio.run(
                one_run(paths, spec, event, args.invocations, args.concurrent)
            )
            workers.append(worker)
            print(
                f"run {run}: worker {worker:.1f} µs/invocation (system {system:.1f}), "
                f"caller {caller:.1f} µs, wall time {trip:.1f} µs"
            )
    print(
        f"worker CPU per invocation, {args.concurrent} in flight: "
        f"median {statistics.median(workers):.1f} µs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
