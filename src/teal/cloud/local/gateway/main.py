"""The gateway process: ``python -m teal.cloud.local.gateway.main --home DIR --port N``,
run by its supervisor (:mod:`teal.cloud.local.gateway.supervisor`, which starts
a new one if it dies), or alone.

One process serves the main port and one port per custom domain, all on
127.0.0.1, with teal's own HTTP/1.1 server
(:mod:`teal.cloud.local.gateway.http_server`) on uvloop. It polls the serving
state so new domains get a listener without a restart (and a domain gone
loses its own once the requests it took are answered), stops idle workers by
the workers' rule (:class:`teal.cloud.local.functions.workers.WorkerManager`),
fires scheduled rules and drains queues into their consumers
(:mod:`teal.cloud.local.triggers.runner`), writes ``gateway.json`` once it
answers, and on SIGTERM/SIGINT stops its listeners and workers and
removes that file. Its health answer lists the workers and the memory of
the gateway and its workers, for ``teal local status``. It makes the token
that guards its own endpoints, the web console's included, as it starts
(:mod:`teal.cloud.local.gateway.own_endpoints`), or takes it from its
supervisor, which gives every gateway it starts the same one. Under a
supervisor it serves the listening sockets it inherits (the same ports, and
the connections waiting in them) and hands the supervisor a copy of each
one it binds. As it starts, it ends the workers that gateways gone before it
left behind (:mod:`teal.cloud.local.functions.worker_records`).

A domain port another program holds is logged once and tried again with a
growing pause (quietly); its health answer lists such domains
(``unbound_domains``), so commands can say which domain is not served.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from teal.cloud.local.console import ConsoleMount
from teal.cloud.local.functions.worker_records import end_orphaned_workers
from teal.cloud.local.functions.workers import WorkerManager
from teal.cloud.local.gateway.handler import Gateway
from teal.cloud.local.gateway.http_server import BODY_MEMORY_BYTES, BodyMemory, HttpListener
from teal.cloud.local.gateway.own_endpoints import SERVICE, new_token, write_token
from teal.cloud.local.gateway.supervision import HOST, CannotListen, SupervisorLink, bind
from teal.cloud.local.gateway.traffic import RequestRecorder, TrafficWriter
from teal.cloud.local.gateway.watch_judge import JUDGE_EVERY_S, judge_watches
from teal.cloud.local.model import FunctionSpec, ServingState
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.store import Store, private_home
from teal.cloud.local.triggers.runner import TriggerRunner
from teal.processes import resident_bytes
from teal.runtime.errors import OperationError

log = logging.getLogger("teal.local.gateway")

POLL_S = 0.25
REAP_EVERY_S = 5.0  # how often idle workers are checked against the rule (see WorkerManager)
RETRY_FIRST_S = 1.0  # a domain port that could not be bound: the first pause before a retry
RETRY_MAX_S = 8.0  # ... doubling up to this
BODY_MEMORY_VARIABLE = "TEAL_LOCAL_BODY_MEMORY"  # tests and benchmarks only: bytes of bodies


@dataclass
class Unbound:
    """A domain port the gateway could not listen on, and when to try it again."""

    domain: str
    reason: str
    attempts: int
    next_try: float

    def to_json(self, port: int) -> dict[str, object]:
        return {"domain": self.domain, "port": port, "reason": self.reason}


class GatewayServer:
    """The main listener plus one per domain port, kept in line with the serving state."""

    def __init__(
        self,
        gateway: Gateway,
        workers: WorkerManager,
        port: int,
        *,
        traffic: TrafficWriter | None = None,
        judge: Callable[[], object] | None = None,
        link: SupervisorLink | None = None,
    ) -> None:
        self.gateway = gateway
        self.workers = workers
        self.port = port
        self.traffic = traffic
        self.judge = judge  # the watches whose command is gone (watch_judge)
        self.bodies = BodyMemory(body_memory_limit())  # one room for every listener's bodies
        self.link = link  # to the supervisor, when there is one
        self._listeners: dict[int, HttpListener] = {}
        self._unbound: dict[int, Unbound] = {}
        self._stop = asyncio.Event()
        self._reaping: set[asyncio.Task[int]] = set()
        self._draining: set[asyncio.Task[None]] = set()  # listeners closed, requests finishing
        self._syncing = asyncio.Lock()

    def stop(self) -> None:
        self._stop.set()

    async def _listen(self, port: int) -> None:
        listener = HttpListener(self.gateway, self._socket(port), bodies=self.bodies)
        try:
            await listener.start()
        except OSError as exc:
            raise CannotListen(port, exc.strerror or str(exc)) from exc
        self._listeners[port] = listener

    def _socket(self, port: int) -> socket.socket:
        """The socket the supervisor handed over for the port, or a new one it gets a
        copy of (so the port outlives this process)."""
        if self.link is None:
            return bind(port)
        inherited = self.link.take(port)
        if inherited is not None:
            return inherited
        sock = bind(port)
        self.link.hold(port, sock)
        return sock

    def _close(self, port: int, *, for_good: bool = True) -> None:
        """Stop listening at once; the requests the port took are answered in the
        background (a blue-green switch or a domain's removal fails none of them, and
        neither the state's poll nor a health call waits for the slowest). A port
        closed ``for_good`` is let go by the supervisor first; at shutdown the
        supervisor keeps its copies (it closes them itself when it stops)."""
        listener = self._listeners.pop(port)
        if for_good and self.link is not None:
            self.link.drop(port)
        listener.stop_accepting()
        task = asyncio.get_running_loop().create_task(listener.close())
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def _sync_domain_ports(self, *, retry_now: bool = False) -> None:
        """One listener per domain port of the current state (the poll and health call it).

        A port that could not be bound is tried again once its pause is over, or
        at once with ``retry_now`` (a command asking: someone may have freed it).
        """
        async with self._syncing:
            await self._sync_domain_ports_now(retry_now)

    async def _sync_domain_ports_now(self, retry_now: bool) -> None:
        await self.gateway.refresh()
        wanted = {p: d for p, d in self.gateway.domain_ports().items() if p != self.port}
        now = time.monotonic()
        for port in sorted(set(wanted) - set(self._listeners)):
            unbound = self._unbound.get(port)
            if unbound is None or retry_now or now >= unbound.next_try:
                await self._try_listen(port, wanted[port])
        for port in sorted(set(self._unbound) - set(wanted)):
            del self._unbound[port]
        for port in sorted(set(self._listeners) - set(wanted) - {self.port}):
            self._close(port)

    async def _try_listen(self, port: int, domain: str) -> None:
        try:
            await self._listen(port)
        except OperationError as error:
            self._note_unbound(port, domain, error)
            return
        if self._unbound.pop(port, None) is not None:
            log.info("domain %s: listening on %s:%d now", domain, HOST, port)

    def _note_unbound(self, port: int, domain: str, error: OperationError) -> None:
        """Remember the failure; say it once, then retry quietly with a growing pause."""
        reason = error.reason if isinstance(error, CannotListen) else error.what
        known = self._unbound.get(port)
        attempts = known.attempts + 1 if known else 1
        pause = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (attempts - 1))
        self._unbound[port] = Unbound(domain, reason, attempts, time.monotonic() + pause)
        if known is None:
            log.warning(
                "domain %s: cannot listen on %s:%d (%s); another program may hold the port; "
                "retrying quietly",
                domain,
                HOST,
                port,
                reason,
            )

    async def health_details(self) -> dict[str, object]:
        """For the health answer, after a sync: the domains whose port could not be bound,
        and the workers with the memory they and the gateway hold."""
        await self._sync_domain_ports(retry_now=True)
        found = [(w, resident_bytes(w.pid) or 0) for w in self.workers.workers()]  # 0: gone
        workers = [{**w.to_json(), "rss_bytes": rss} for w, rss in found]
        gateway_rss = resident_bytes(os.getpid()) or 0
        workers_rss = sum(rss for _, rss in found)
        return {
            "unbound_domains": [u.to_json(p) for p, u in sorted(self._unbound.items())],
            "workers": workers,
            "memory": {
                "gateway_rss_bytes": gateway_rss,
                "workers_rss_bytes": workers_rss,
                "total_rss_bytes": gateway_rss + workers_rss,
            },
            "bodies": self.bodies.to_json(),
        }

    def _is_current(self, spec: FunctionSpec) -> bool:
        """Whether the state still holds this version of the function."""
        now = self.gateway.state.function_by_arn(spec.invoked_arn or spec.arn)
        return now is not None and spec.version_key in now.version_keys()

    def _is_live(self, spec: FunctionSpec) -> bool:
        """Whether a custom domain serves this function (its warm worker stays longer)."""
        return (spec.invoked_arn or spec.arn) in self.gateway.live_functions()

    async def reap(self) -> int:
        """Stop the idle workers the workers' rule lets go (versions gone, idle too long)."""
        return await self.workers.reap(self._is_current, self._is_live)

    def schedule_reap(self) -> None:
        """After a change: stop idle workers of function versions no longer served."""
        task = asyncio.get_running_loop().create_task(self.reap())
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)

    async def run(self, on_ready: Callable[[], None]) -> None:
        # domains first: once the main port answers health, every domain port listens
        await self._sync_domain_ports()
        await self._listen(self.port)
        if self.link is not None:
            self.link.release_unused()  # domains that went while no gateway served
        on_ready()
        last_reap = last_judged = time.monotonic()
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), POLL_S)
            try:
                await self._sync_domain_ports()
                if time.monotonic() - last_reap >= REAP_EVERY_S:
                    last_reap = time.monotonic()
                    await self.reap()
            except Exception:  # a broken state read must not end the gateway
                log.exception("reading the serving state failed")
            self._flush_traffic()
            if self.judge is not None and time.monotonic() - last_judged >= JUDGE_EVERY_S:
                last_judged = time.monotonic()
                await self._judge_watches(self.judge)
        for port in list(self._listeners):  # all stop accepting at once
            self._close(port, for_good=False)
        await asyncio.gather(*self._draining)
        self._flush_traffic(final=True)
        await self.workers.close()

    async def _judge_watches(self, judge: Callable[[], object]) -> None:
        """Off the loop's thread: it reads the store and the traffic files."""
        try:
            await asyncio.to_thread(judge)
        except Exception:  # judged again at the next tick
            log.exception("judging the watched switches failed")

    def _flush_traffic(self, *, final: bool = False) -> None:
        """The requests answered since the last tick: traffic numbers, request lines."""
        if self.traffic is None:
            return
        try:
            self.traffic.flush(final=final)
        except OSError:  # a full disk, say: the numbers are lost, the gateway serves on
            log.exception("writing the traffic numbers failed")


def body_memory_limit() -> int:
    """The bytes of request bodies the gateway keeps at once (a test may set fewer)."""
    text = os.environ.get(BODY_MEMORY_VARIABLE, "")
    return int(text) if text.isdigit() and int(text) > 0 else BODY_MEMORY_BYTES


def load_serving_state(paths: LocalPaths, factory: str | None) -> ServingState:
    """The store's serving state, or ``module:callable`` taking LocalPaths (for tests)."""
    if factory is None:
        from teal.cloud.local.gateway.serving import StoreServingState

        store_state: ServingState = StoreServingState(paths)
        return store_state
    module_name, _, attribute = factory.partition(":")
    make: Callable[[LocalPaths], ServingState] = getattr(
        importlib.import_module(module_name), attribute
    )
    return make(paths)


def write_state(
    paths: LocalPaths, port: int, started_at: float, supervisor_pid: int | None
) -> None:
    record = {
        "pid": os.getpid(),
        "port": port,
        "url": f"http://{HOST}:{port}",
        "started_at": started_at,
        "home": str(paths.home),
        "supervisor_pid": supervisor_pid,
    }
    scratch = paths.gateway_state.with_name(f".gateway-{os.getpid()}.json")
    scratch.write_text(json.dumps(record))
    scratch.replace(paths.gateway_state)


def remove_state(paths: LocalPaths) -> None:
    """Remove gateway.json if it still names this process."""
    try:
        record: dict[str, Any] = json.loads(paths.gateway_state.read_text())
    except (OSError, ValueError):
        return
    if record.get("pid") == os.getpid():
        paths.gateway_state.unlink(missing_ok=True)


async def serve(
    paths: LocalPaths, port: int, serving_state: str | None, link: SupervisorLink | None = None
) -> None:
    started_at = time.time()
    ended = end_orphaned_workers(paths)
    if ended:
        log.info("ended %d worker(s) a gateway gone before this one left", len(ended))
    state = load_serving_state(paths, serving_state)
    workers = WorkerManager(paths)
    identity = {
        "service": SERVICE,
        "pid": os.getpid(),
        "port": port,
        "home": str(paths.home),
        "started_at": started_at,
    }
    recorder = RequestRecorder()
    # the token guards every /_teal/ endpoint (the console's pages too); it is written
    # once the main port is ours, before gateway.json names this process, so the command
    # that started the gateway finds it (and a gateway that lost the port writes none);
    # a supervisor gives each gateway it starts the same one: it stays valid
    token = link.token() if link is not None else new_token()
    console = ConsoleMount(paths, port, state, token)
    gateway = Gateway(
        state,
        workers,
        main_port=port,
        token=token,
        identity=identity,
        recorder=recorder,
        console=console.handle,
    )
    judge = None if serving_state is not None else partial(judge_watches, Store(paths), paths)
    traffic = TrafficWriter(paths, recorder, peaks=workers.take_peaks)
    server = GatewayServer(gateway, workers, port, traffic=traffic, judge=judge, link=link)
    gateway.on_change = server.schedule_reap
    # a health call (every ensure_gateway makes one) returns only once the listeners
    # match the state, so a command that just created a domain can rely on its port,
    # or learns which domain ports another program holds
    gateway.on_health = server.health_details
    # schedules fire and queues are drained while the gateway runs, beside its listeners
    triggers = TriggerRunner.open(paths, workers.invoke, state.function_by_arn)
    running = asyncio.get_running_loop().create_task(triggers.run())

    def stop() -> None:
        triggers.stop()
        server.stop()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)

    def ready() -> None:
        write_token(paths, token)
        write_state(paths, port, started_at, os.getppid() if link is not None else None)
        if link is not None:
            link.ready()

    try:
        await server.run(ready)
    finally:
        triggers.stop()
        await running
        remove_state(paths)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (a dependency where it builds), else asyncio's.

    Profiling the gateway under load showed asyncio's own transports, handles
    and timers among its largest costs; uvloop does the same work in C.
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="teal-local-gateway")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--serving-state", default=None, help="module:factory (tests)")
    parser.add_argument("--link", type=int, default=None, help="the supervisor's socket")
    parser.add_argument(
        "--listener", action="append", default=[], help="PORT:FD, a socket inherited"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    paths = LocalPaths(args.home)
    private_home(paths.home)
    link = None
    if args.link is not None:
        link = SupervisorLink.from_arguments(args.link, args.listener)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(serve(paths, args.port, args.serving_state, link))
    except OperationError as error:
        print(f"local gateway: {error.what}", file=sys.stderr)  # one line: starters quote it
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
