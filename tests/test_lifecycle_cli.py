"""`teal local start|status|stop|reset` as a user runs them, with the real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e import LocalCloudEnv, get
from teal.processes import is_running
from test_gateway_support import free_port


class Local:
    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.env = {**os.environ, "TEAL_HOME": str(home), "TEAL_LOCAL_PORT": str(port)}

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "teal", "local", *args],
            capture_output=True,  # a gateway holding these pipes would make run() hang
            text=True,
            env=self.env,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )

    def json(self, *args: str) -> dict[str, object]:
        done = self.run(*args, "--json")
        assert done.returncode == 0, done.stderr
        result: dict[str, object] = json.loads(done.stdout)
        return result


@pytest.fixture
def teal_local(tmp_path: Path) -> Iterator[Local]:
    local = Local(tmp_path / "home", free_port())
    yield local
    local.run("stop")


def test_start_status_stop(teal_local: Local) -> None:
    started = teal_local.json("start")
    assert started["running"] is True and started["started"] is True
    assert started["url"] == f"http://127.0.0.1:{teal_local.port}"
    pid = started["pid"]
    assert isinstance(pid, int)
    again = teal_local.json("start")
    assert (again["pid"], again["started"]) == (pid, False)
    status = teal_local.json("status")
    assert status["running"] is True and status["pid"] == pid
    assert status["apis"] == [] and status["domains"] == []
    stopped = teal_local.json("stop")
    assert stopped == {"stopped": True, "pid": pid, "home": str(teal_local.home)}
    assert not is_running(pid)
    assert teal_local.json("status")["running"] is False


def wait_for(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_a_killed_gateway_is_reported_down_then_restarted(teal_local: Local) -> None:
    started = teal_local.json("start")
    pid = started["pid"]
    assert isinstance(pid, int) and started["restarts"] == 0
    supervisor = started["supervisor_pid"]
    assert isinstance(supervisor, int) and supervisor != pid
    os.kill(supervisor, signal.SIGSTOP)  # hold the restart, to see the gateway down
    try:
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not is_running(pid))
        down = teal_local.json("status")
        assert (down["running"], down["state"]) == (False, "restarting")
        assert down["restarts"] == 0  # its supervisor, stopped, did not see it die yet
        text = teal_local.run("status").stdout
        assert "local gateway: DOWN; its supervisor is starting it again" in text
    finally:
        os.kill(supervisor, signal.SIGCONT)
    wait_for(lambda: teal_local.json("status")["state"] == "serving")
    status = teal_local.json("status")
    assert status["pid"] != pid and status["supervisor_pid"] == supervisor
    assert status["restarts"] == 1
    assert status["last_restart"]["reason"] == "killed by signal 9 (SIGKILL)"
    assert "restarted once, last at" in teal_local.run("status").stdout
    assert teal_local.json("start")["pid"] == status["pid"]  # found, not started again


def test_reset_needs_yes_without_a_terminal_and_empties_the_home(teal_local: Local) -> None:
    teal_local.json("start")
    refused = teal_local.run("reset")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    done = teal_local.json("reset", "--yes")
    assert done["reset"] is True
    assert teal_local.home.is_dir() and list(teal_local.home.iterdir()) == []
    assert teal_local.json("status")["running"] is False


def test_status_lists_the_apis_and_domains_of_the_store(teal_local: Local) -> None:
    from teal.cloud.base import BasePathMapping
    from teal.cloud.local.cloud import LocalCloud
    from teal.cloud.local.paths import LocalPaths
    from teal.project.config import DomainSpec
    from test_local_engine_support import Events, blog_request

    cloud = LocalCloud(LocalPaths(teal_local.home))
    try:
        api_id = cloud.apply_stack(blog_request(cloud), Events()).outputs["ApiId"]
        domain = cloud.ensure_domain(DomainSpec("api.example.com"), {})
        cloud.create_mapping(BasePathMapping("api.example.com", "", api_id, "dev"))
    finally:
        cloud.close()
    teal_local.json("start")
    status = teal_local.json("status")
    apis = status["apis"]
    assert isinstance(apis, list) and [a["id"] for a in apis] == [api_id]
    assert apis[0]["endpoint"] == (
        f"http://127.0.0.1:{teal_local.port}/restapis/{api_id}/dev/_user_request_/"
    )
    domains = status["domains"]
    assert isinstance(domains, list) and domains[0]["url"] == domain.url
    assert domains[0]["mappings"] == [{"base_path": "", "api_id": api_id, "stage": "dev"}]


def test_status_shows_the_workers_and_the_memory_they_and_the_gateway_hold(
    local_cloud: LocalCloudEnv,
) -> None:
    deployed = local_cloud.teal_ok("deploy", "--json").json()
    assert get(deployed["domain"]["url"] + "health")[0] == 200
    status = local_cloud.teal_ok("local", "status", "--json").json()
    workers, memory = status["workers"], status["memory"]
    assert len(workers) == 1
    (worker,) = workers
    assert worker["function"].startswith("blog-dev") and worker["state"] == "idle"
    assert worker["version"] == deployed["code_sha256"][:12]
    assert worker["invocations"] >= 1 and is_running(worker["pid"])
    assert worker["rss_bytes"] > 1024 * 1024 and memory["gateway_rss_bytes"] > 1024 * 1024
    assert memory["workers_rss_bytes"] == worker["rss_bytes"]
    assert memory["total_rss_bytes"] == memory["gateway_rss_bytes"] + worker["rss_bytes"]
    text = local_cloud.teal_ok("local", "status").out
    assert "workers: 1 (0 busy)" in text
    assert f"{worker['function']} {worker['version']}  pid {worker['pid']}  idle" in text


def test_the_domain_serves_again_after_kill_9_and_teal_status_says_so(
    local_cloud: LocalCloudEnv,
) -> None:
    deployed = local_cloud.teal_ok("deploy", "--json").json()
    health = deployed["domain"]["url"] + "health"
    assert get(health)[0] == 200
    before = local_cloud.teal_ok("status", "--json").json()["gateway"]
    assert (before["state"], before["restarts"], before["last_restart"]) == ("serving", 0, None)
    pid = local_cloud.teal_ok("local", "status", "--json").json()["pid"]
    os.kill(pid, signal.SIGKILL)
    # no teal command until the domain answers again: the supervisor alone brings it back
    wait_for(lambda: _answers(health))
    gateway = local_cloud.teal_ok("status", "--json").json()["gateway"]
    assert gateway["state"] == "serving" and gateway["pid"] != pid
    assert gateway["restarts"] == 1
    assert gateway["last_restart"]["reason"] == "killed by signal 9 (SIGKILL)"
    assert "local gateway: serving" in local_cloud.teal_ok("status").out


def _answers(url: str) -> bool:
    try:
        return get(url, timeout=5)[0] == 200
    except OSError:
        return False


def test_teal_status_says_when_the_gateway_is_down_and_when_it_is_stopped(
    local_cloud: LocalCloudEnv,
) -> None:
    local_cloud.teal_ok("deploy", "--json")
    local = local_cloud.teal_ok("local", "status", "--json").json()
    pid, supervisor = local["pid"], local["supervisor_pid"]
    os.kill(supervisor, signal.SIGSTOP)  # hold the restart, to see the gateway down
    try:
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not is_running(pid))
        down = local_cloud.teal_ok("status", "--json").json()["gateway"]
        assert (down["state"], down["pid"]) == ("restarting", None)
        assert "local gateway: DOWN" in local_cloud.teal_ok("status").out
    finally:
        os.kill(supervisor, signal.SIGCONT)
    wait_for(lambda: local_cloud.teal_ok("status", "--json").json()["gateway"]["restarts"] == 1)
    local_cloud.teal_ok("local", "stop")
    stopped = local_cloud.teal_ok("status", "--json").json()["gateway"]
    assert (stopped["state"], stopped["restarts"]) == ("stopped", 0)
    assert "local gateway: not running" in local_cloud.teal_ok("status").out


def test_the_deploy_that_starts_the_gateway_says_so_once(local_cloud: LocalCloudEnv) -> None:
    started = f"started the local gateway in the background at http://127.0.0.1:{local_cloud.port}"
    first = local_cloud.teal_ok("deploy")
    assert first.err.count(started) == 1, first.err
    assert f"log: {local_cloud.home / 'gateway.log'}" in first.err.replace("\n", " ")
    assert "teal local stop ends it" in first.err.replace("\n", " ")
    again = local_cloud.teal_ok("deploy")
    assert "started the local gateway" not in again.err  # it was running: nothing to say
    shown = local_cloud.teal_ok("local", "status").out
    assert f"log: {local_cloud.home / 'gateway.log'}" in shown
