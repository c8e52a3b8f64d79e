"""The gateway's supervisor: ``python -m teal.cloud.local.gateway.supervisor --home DIR
--port N``, what teal starts in the background (:mod:`.lifecycle`).

A small process that runs the gateway (:mod:`.main`) as its child and starts
a new one when it dies (kill -9, a crash), at once the first time and with a
growing pause while new ones keep dying young. It serves nothing itself, but
it keeps a copy of every listening socket: it binds the main port before the
first gateway starts, and each gateway hands it the domain ports it binds.
A gateway that dies therefore takes no port with it: the kernel keeps
accepting connections into the sockets' queues, and the next gateway, which
inherits the very same sockets, answers them. The ports never change, and a
request sent in between waits instead of being refused; only the requests the
dead gateway was answering fail.

Each gateway gets the same token (:mod:`.own_endpoints`) and writes it again,
unchanged, once it serves, so ``gateway.token`` stays valid across restarts.
The workers of a dead gateway are ended by the next one as it starts
(:mod:`teal.cloud.local.functions.worker_records`).

``supervisor.json`` says what happened, for ``teal local status``, ``teal
status`` and the console: the gateway's pid and state (``starting``,
``serving``, ``restarting``), how many times it was restarted, and when and
why last (``killed by signal 9 (SIGKILL)``). On SIGTERM or SIGINT the
supervisor stops its gateway (which stops its workers) and exits; a gateway
that exits by itself with status 0 (it was stopped directly) ends the
supervisor too. If the very first gateway fails to start, the supervisor
exits with its status, so the command that started it reports the failure.

Between the two, over a Unix datagram socket pair (the gateway's end is
``--link FD``), go small JSON messages: to the gateway, first, its token;
from it ``hold`` (with the socket, as SCM_RIGHTS), ``drop`` (answered
``dropped``, so the port closes for good only once the supervisor let go
of its copy) and ``ready``. Inherited sockets arrive as ``--listener
PORT:FD``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teal.cloud.local.functions.worker_records import end_orphaned_workers
from teal.cloud.local.gateway.own_endpoints import new_token
from teal.cloud.local.gateway.supervision import (
    GATEWAY_MODULE,
    MESSAGE_BYTES,
    STATE_RESTARTING,
    STATE_SERVING,
    STATE_STARTING,
    CannotListen,
    Supervision,
    bind,
    read_supervision,
    write_atomically,
)
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.store import private_home
from teal.processes import signal_name, start_time

log = logging.getLogger("teal.local.supervisor")

# pauses before starting a gateway again, while each one dies young (the last repeats)
RESTART_PAUSES_S = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
STABLE_S = 10.0  # a gateway that served this long died of something new: no pause
READY_TIMEOUT_S = 15.0  # a restarted gateway that does not serve by then is ended
GATEWAY_STOP_S = 8.0  # at stop, SIGTERM then this long before SIGKILL (the caller waits 10)


def exit_reason(returncode: int) -> str:
    """How a child ended, in words: ``killed by signal 9 (SIGKILL)``, ``exited with status 1``."""
    if returncode < 0:
        return f"killed by signal {-returncode} ({signal_name(-returncode)})"
    return f"exited with status {returncode}"


# ---------------------------------------------------------------- the supervisor


@dataclass
class Child:
    """One gateway process and the supervisor's end of its socket pair."""

    process: subprocess.Popen[bytes]
    link: socket.socket
    started: float  # monotonic
    ready: bool = False


@dataclass
class Supervisor:
    paths: LocalPaths
    port: int
    serving_state: str | None
    listeners: dict[int, socket.socket]  # port -> the supervisor's copy
    token: str = field(default_factory=new_token)
    restarts: int = 0
    last_restart_at: float | None = None
    last_restart_reason: str | None = None
    down_since: float | None = None
    child: Child | None = None
    ever_ready: bool = False
    quick_deaths: int = 0  # gateways in a row that died young
    restart_at: float | None = None  # monotonic: when to start the next gateway
    stopping: bool = False
    started: float | None = field(default_factory=lambda: start_time(os.getpid()))
    _selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)

    # -- the record

    def _write_state(self, state: str) -> None:
        record = Supervision(
            os.getpid(),
            self.started,
            self.port,
            state,
            self.child.process.pid if self.child is not None else None,
            self.restarts,
            self.last_restart_at,
            self.last_restart_reason,
            self.down_since,
        )
        write_atomically(self.paths.supervisor_state, record.to_json())

    def _remove_state(self) -> None:
        found = read_supervision(self.paths)
        if found is not None and found.pid == os.getpid():
            self.paths.supervisor_state.unlink(missing_ok=True)

    # -- one gateway

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        ours.sendall(json.dumps({"token": self.token}).encode())  # read as it starts
        command = [sys.executable, "-m", GATEWAY_MODULE, "--home", str(self.paths.home)]
        command += ["--port", str(self.port), "--link", str(theirs.fileno())]
        for port, sock in sorted(self.listeners.items()):
            command += ["--listener", f"{port}:{sock.fileno()}"]
        if self.serving_state:
            command += ["--serving-state", self.serving_state]
        fds = [theirs.fileno(), *(sock.fileno() for sock in self.listeners.values())]
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, pass_fds=fds)
        finally:
            theirs.close()
        ours.setblocking(False)
        self._selector.register(ours, selectors.EVENT_READ, self._receive)
        self.child = Child(process, ours, time.monotonic())
        self.restart_at = None
        if self.ever_ready:
            self.last_restart_at = time.time()
        self._write_state(STATE_STARTING if not self.ever_ready else STATE_RESTARTING)

    def _receive(self) -> None:
        child = self.child
        if child is None:
            return
        while True:
            try:
                data, fds, _flags, _address = socket.recv_fds(child.link, MESSAGE_BYTES, 8)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not data:
                for fd in fds:
                    os.close(fd)
                return
            self._handle(child, json.loads(data), fds)

    def _handle(self, child: Child, message: dict[str, Any], fds: list[int]) -> None:
        if "hold" in message and fds:
            port = int(message["hold"])
            previous = self.listeners.pop(port, None)
            if previous is not None:
                previous.close()
            self.listeners[port] = socket.socket(fileno=fds[0])
            fds = fds[1:]
        elif "drop" in message:
            port = int(message["drop"])
            held = self.listeners.pop(port, None)
            if held is not None and port != self.port:
                held.close()
            elif held is not None:
                self.listeners[port] = held  # the main port is the supervisor's to keep
            with contextlib.suppress(OSError):
                child.link.send(json.dumps({"dropped": port}).encode())
        elif message.get("ready"):
            child.ready = True
            self.ever_ready = True
            self.down_since = None
            self._write_state(STATE_SERVING)
        for fd in fds:  # nothing else comes with a descriptor
            os.close(fd)

    def _collect(self) -> int | None:
        """The exit status of the gateway if it ended (its record then names none)."""
        child = self.child
        if child is None:
            return None
        returncode = child.process.poll()
        if returncode is None:
            return None
        self._receive()  # what it said last (a socket it bound, say) still counts
        self._selector.unregister(child.link)
        child.link.close()
        self.child = None
        return returncode

    def _gateway_ended(self, returncode: int, lived_s: float) -> int | None:
        """A gateway died: plan the next one; the supervisor's own exit status when it
        should end instead."""
        reason = exit_reason(returncode)
        if not self.ever_ready:
            return returncode if returncode > 0 else 1  # the first one failed: say so
        if returncode == 0:
            log.info("the gateway stopped (%s): the supervisor stops too", reason)
            return 0
        if lived_s >= STABLE_S:
            self.quick_deaths = 0
        pause = RESTART_PAUSES_S[min(self.quick_deaths, len(RESTART_PAUSES_S) - 1)]
        self.quick_deaths += 1
        log.warning("the gateway %s; starting it again in %gs", reason, pause)
        self.restarts += 1
        self.last_restart_at = time.time() + pause  # set again as it starts
        self.last_restart_reason = reason
        self.down_since = time.time()
        self.restart_at = time.monotonic() + pause
        self._write_state(STATE_RESTARTING)
        return None

    def _too_slow(self) -> None:
        """A restarted gateway that does not serve in time is ended (and started again)."""
        child = self.child
        if child is None or child.ready or not self.ever_ready:
            return
        if time.monotonic() - child.started > READY_TIMEOUT_S:
            log.warning("the gateway did not serve within %gs: ending it", READY_TIMEOUT_S)
            child.process.kill()

    def _stop_child(self) -> None:
        child = self.child
        if child is None:
            return
        child.process.terminate()
        try:
            child.process.wait(GATEWAY_STOP_S)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
        self._collect()

    # -- the loop

    def run(self) -> int:
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._asked_to_stop)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the loop through the pipe
        self._selector.register(wake_read, selectors.EVENT_READ, lambda: _drain(wake_read))
        status = 0
        try:
            self._write_state(STATE_STARTING)  # commands starting one now wait for this one
            self._spawn()
            status = self._loop()
        finally:
            self._stop_child()
            for sock in self.listeners.values():
                sock.close()
            end_orphaned_workers(self.paths)  # a gateway that had to be killed leaves some
            self._remove_state()
        return status

    def _asked_to_stop(self, *_: object) -> None:
        self.stopping = True

    def _loop(self) -> int:
        while not self.stopping:
            timeout = 1.0
            if self.restart_at is not None:
                timeout = max(0.0, min(timeout, self.restart_at - time.monotonic()))
            for key, _events in self._selector.select(timeout):
                key.data()
            if self.stopping:
                break
            lived = time.monotonic() - self.child.started if self.child else 0.0
            returncode = self._collect()
            if returncode is not None:
                status = self._gateway_ended(returncode, lived)
                if status is not None:
                    return status
            restart_due = self.restart_at is not None and time.monotonic() >= self.restart_at
            if self.child is None and restart_due:
                self._spawn()
            self._too_slow()
        return 0


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while os.read(fd, 512):
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="teal-local-gateway-supervisor")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--serving-state", default=None, help="module:factory (tests)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    paths = LocalPaths(args.home)
    private_home(paths.home)
    try:
        main_socket = bind(args.port)
    except CannotListen as error:
        print(f"local gateway: {error.what}", file=sys.stderr)  # one line: starters quote it
        return 1
    supervisor = Supervisor(paths, args.port, args.serving_state, {args.port: main_socket})
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
