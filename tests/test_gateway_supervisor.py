"""The gateway's supervisor, as real processes: a gateway killed with -9 is started again
on the same ports with the same token, requests sent meanwhile wait rather than fail,
status and the console say it was restarted, and stopping leaves no process behind."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from teal.cloud.local.console.auth import ConsoleAuth
from teal.cloud.local.gateway.lifecycle import (
    GatewayStatus,
    ensure_gateway,
    gateway_status,
    stop_gateway,
)
from teal.cloud.local.gateway.own_endpoints import read_token
from teal.cloud.local.gateway.supervision import Supervision, read_supervision
from teal.cloud.local.gateway.supervisor import RESTART_PAUSES_S, Supervisor
from teal.cloud.local.model import DomainRoute
from teal.cloud.local.paths import LocalPaths
from teal.processes import is_running
from teal.runtime.errors import OperationError
from test_gateway_support import Cloud, cloud, free_port
from test_lifecycle import api, get, wait_for

__all__ = ["cloud"]  # the fixture


def restarted(cloud: Cloud, old_pid: int, timeout_s: float = 30.0) -> GatewayStatus:
    """The gateway that replaced ``old_pid``, once it answers (polled, bounded)."""
    found: list[GatewayStatus] = []

    def answers() -> bool:
        status = gateway_status(cloud.paths)
        found[:] = [status]
        return status.running and status.pid != old_pid

    wait_for(answers, timeout_s)
    return found[0]


def kill_gateway(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not is_running(pid))


def test_a_killed_gateway_is_started_again_on_its_ports_with_its_token(cloud: Cloud) -> None:
    domain_port = free_port()
    cloud.map_domain(domain_port, "blue")
    pid = cloud.start()
    assert get(domain_port, "/hello")[0] == 200
    token = read_token(cloud.paths)
    supervisor = gateway_status(cloud.paths).supervision
    assert supervisor is not None and supervisor.gateway_pid == pid

    kill_gateway(pid)
    status = restarted(cloud, pid)
    assert (status.port, get(domain_port, "/hello")[0]) == (cloud.port, 200)
    assert get(cloud.port, api("/hello"))[0] == 200
    assert read_token(cloud.paths) == token  # still what teal's commands send
    assert status.supervision is not None
    assert status.supervision.pid == supervisor.pid
    assert status.supervision.restarts == 1
    assert status.supervision.last_restart_reason == "killed by signal 9 (SIGKILL)"
    health = status.health().to_json()
    assert health["state"] == "serving" and health["restarts"] == 1
    assert health["last_restart"]["reason"] == "killed by signal 9 (SIGKILL)"
    assert cloud.start() == status.pid  # a command finds the new one, starts none


def test_a_request_sent_while_no_gateway_runs_waits_for_the_next(cloud: Cloud) -> None:
    """The supervisor keeps the listening sockets: a connection made between the death
    and the restart is queued by the kernel and answered by the new gateway."""
    domain_port = free_port()
    cloud.map_domain(domain_port, "blue")
    pid = cloud.start()
    assert get(domain_port, "/hello")[0] == 200
    kill_gateway(pid)
    # no gateway runs now (the supervisor pauses before a second restart in a row, too)
    assert get(domain_port, "/hello", timeout=30)[0] == 200
    assert get(cloud.port, api("/hello"), timeout=30)[0] == 200


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_removed_domain_closes_its_port_for_good(cloud: Cloud) -> None:
    """The gateway has the supervisor let go of its copy before it stops listening: the
    port refuses connections, rather than queueing them for nobody."""
    domain_port = free_port()
    cloud.map_domain(domain_port, "blue")
    cloud.start()
    assert get(domain_port, "/hello")[0] == 200
    cloud.state.domain_routes.clear()
    cloud.state.counter += 1
    cloud.state.save(cloud.paths)
    wait_for(lambda: refused(domain_port), timeout_s=15)


def test_status_says_the_gateway_is_down_while_it_is_restarted(cloud: Cloud) -> None:
    pid = cloud.start()
    supervisor = gateway_status(cloud.paths).supervision
    assert supervisor is not None
    os.kill(supervisor.pid, signal.SIGSTOP)  # it cannot start the next one meanwhile
    try:
        kill_gateway(pid)
        down = gateway_status(cloud.paths)
        assert (down.running, down.state) == (False, "restarting")
        assert down.health().to_json()["state"] == "restarting"
    finally:
        os.kill(supervisor.pid, signal.SIGCONT)
    assert restarted(cloud, pid).supervision is not None


def console_page(port: int, paths: LocalPaths) -> str:
    token = read_token(paths)
    assert token is not None
    auth = ConsoleAuth(token, port)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        cookie = auth.cookie_header().split(";")[0]
        connection.request("GET", f"{auth.base}/", headers={"Cookie": cookie})
        response = connection.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        connection.close()


def test_the_console_says_the_gateway_was_restarted(cloud: Cloud) -> None:
    pid = cloud.start()
    assert "was restarted" not in console_page(cloud.port, cloud.paths)
    kill_gateway(pid)
    restarted(cloud, pid)
    page = console_page(cloud.port, cloud.paths)  # the cookie of before still opens it
    assert "The gateway was restarted once" in page
    assert "killed by signal 9 (SIGKILL)" in page


def teal_local(cloud: Cloud, *args: str) -> Any:
    env = {**os.environ, "TEAL_HOME": str(cloud.paths.home), "TEAL_LOCAL_PORT": str(cloud.port)}
    done = subprocess.run(
        [sys.executable, "-m", "teal", "local", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def family(pid: int) -> list[psutil.Process]:
    """The process and every process it started, and they started."""
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def test_teal_local_stop_ends_the_supervisor_its_gateway_and_their_workers(
    cloud: Cloud,
) -> None:
    pid = cloud.start()
    assert get(cloud.port, api("/hello"))[0] == 200
    kill_gateway(pid)  # the first gateway's workers, and a second gateway with its own
    restarted(cloud, pid)
    assert get(cloud.port, api("/hello"))[0] == 200
    local = teal_local(cloud, "status")
    assert (local["state"], local["restarts"]) == ("serving", 1)
    assert local["last_restart"]["reason"] == "killed by signal 9 (SIGKILL)"
    processes = family(int(local["supervisor_pid"]))
    assert len(processes) >= 3  # the supervisor, the gateway, a worker
    stopped = teal_local(cloud, "stop")
    assert stopped["stopped"] is True
    _, alive = psutil.wait_procs(processes, timeout=10)
    assert alive == []
    assert not cloud.paths.supervisor_state.exists()
    assert list(cloud.paths.worker_records.glob("*.json")) == []
    assert teal_local(cloud, "status")["state"] == "stopped"


def test_a_gateway_that_keeps_dying_waits_longer_each_time(tmp_path: Path) -> None:
    """The pauses before a restart grow while gateways die young, and start over once
    one lived long enough."""
    paths = LocalPaths(tmp_path / "home")
    paths.home.mkdir()
    supervisor = Supervisor(paths, free_port(), None, {})
    supervisor.ever_ready = True
    pauses = []
    for lived_s in (1.0, 1.0, 1.0, 60.0, 1.0):
        before = time.monotonic()
        assert supervisor._gateway_ended(-signal.SIGKILL, lived_s) is None
        assert supervisor.restart_at is not None
        pauses.append(round(supervisor.restart_at - before, 1))
    assert pauses == [0.0, *RESTART_PAUSES_S[1:3], 0.0, RESTART_PAUSES_S[1]]
    record = read_supervision(paths)
    assert record is not None
    assert (record.state, record.restarts) == ("restarting", 5)
    assert supervisor._gateway_ended(0, 1.0) == 0  # stopped by a SIGTERM of its own: no restart


def test_a_first_gateway_that_cannot_start_is_reported_by_the_command(
    cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor restarts gateways that served once; the first one failing ends it,
    and the command that started it says why."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "broken_state.py").write_text("def make(paths):\n    raise SystemExit(3)\n")
    monkeypatch.setenv("PYTHONPATH", f"{broken}{os.pathsep}{os.environ['PYTHONPATH']}")
    with pytest.raises(OperationError, match="exited with status 3"):
        ensure_gateway(cloud.paths, cloud.port, serving_state="broken_state:make", timeout_s=30)
    assert read_supervision(cloud.paths) is None
    assert stop_gateway(cloud.paths).running is False


def test_a_domain_port_of_the_state_is_the_same_after_a_restart(cloud: Cloud) -> None:
    """A domain added while the gateway runs is handed to the supervisor too."""
    pid = cloud.start()
    domain_port = free_port()
    cloud.state.put_domain(DomainRoute("b.example.com", domain_port, {"": ("blue", "dev")}))
    cloud.state.save(cloud.paths)
    assert cloud.start() == pid  # its health call opens the new domain's port
    assert get(domain_port, "/hello")[0] == 200
    kill_gateway(pid)
    assert get(domain_port, "/hello", timeout=30)[0] == 200


def test_a_gateway_its_supervisor_starts_for_the_first_time_is_starting_not_down(
    tmp_path: Path,
) -> None:
    """Only a gateway that served once and died is down; the first one is on its way."""
    paths = LocalPaths(tmp_path / "home")
    paths.home.mkdir()
    for written, said in (("starting", "starting"), ("restarting", "restarting")):
        supervisor = Supervision(os.getpid(), None, free_port(), written, None)
        paths.supervisor_state.write_text(json.dumps(supervisor.to_json()))
        status = gateway_status(paths)
        assert (status.running, status.state) == (False, said)
        assert status.health().to_json()["state"] == said
    paths.supervisor_state.unlink()
    assert gateway_status(paths).state == "stopped"
