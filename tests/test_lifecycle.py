"""The gateway as a real background process: start, stop, crash recovery, domains, switches."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import psutil
import pytest

from teal.cloud.local.gateway.lifecycle import (
    UnboundDomain,
    gateway_status,
    log_file,
    stop_gateway,
)
from teal.cloud.local.model import DomainRoute
from teal.processes import is_running
from teal.runtime.errors import OperationError
from test_gateway_support import Cloud, cloud, free_port

__all__ = ["cloud"]  # the fixture


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def api(path: str, api_id: str = "blue") -> str:
    return f"/restapis/{api_id}/dev/_user_request_{path}"


def wait_for(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_start_serves_reuses_and_stops(cloud: Cloud) -> None:
    pid = cloud.start()
    assert get(cloud.port, api("/hello")) == (200, b'{"hello":"world","version":"v1"}')
    assert cloud.start() == pid  # already running: the same process
    status = gateway_status(cloud.paths)
    assert (status.running, status.pid, status.port) == (True, pid, cloud.port)
    assert stop_gateway(cloud.paths).pid == pid
    assert not is_running(pid)
    assert not cloud.paths.gateway_state.exists()
    assert not gateway_status(cloud.paths).running


def test_a_killed_gateway_and_worker_recover(cloud: Cloud) -> None:
    pid = cloud.start()
    status, body = get(cloud.port, api("/sleep"))
    worker_pid = json.loads(body)["pid"]

    # kill -9 the worker while it serves a request: that request fails, the next succeeds
    answers: list[int] = []
    slow = threading.Thread(target=lambda: answers.append(get(cloud.port, api("/sleep?s=5"))[0]))
    slow.start()
    time.sleep(0.5)
    os.kill(worker_pid, signal.SIGKILL)
    slow.join()
    assert answers == [502]
    status, body = get(cloud.port, api("/sleep"))
    assert status == 200 and json.loads(body)["pid"] != worker_pid

    # kill -9 the gateway: its supervisor starts another, which the next command finds
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not is_running(pid))
    new_pid = cloud.start()
    assert new_pid != pid
    assert get(cloud.port, api("/hello"))[0] == 200

    # kill -9 the supervisor and its gateway: the state files go stale, the next start
    # replaces them
    supervision = gateway_status(cloud.paths).supervision
    assert supervision is not None
    for process in (supervision.pid, new_pid):
        os.kill(process, signal.SIGKILL)
    wait_for(lambda: not is_running(supervision.pid) and not is_running(new_pid))
    assert gateway_status(cloud.paths).state == "stopped"
    newest = cloud.start()
    assert newest not in (pid, new_pid)
    assert get(cloud.port, api("/hello"))[0] == 200


def test_a_restarted_gateway_serves_apis_and_domains(cloud: Cloud) -> None:
    domain_port = free_port()
    cloud.map_domain(domain_port, "blue")
    cloud.start()
    wait_for(lambda: _answers(domain_port))
    stop_gateway(cloud.paths)
    cloud.start()
    wait_for(lambda: _answers(domain_port))
    assert get(domain_port, "/hello")[0] == 200
    assert get(cloud.port, api("/hello"))[0] == 200


def _answers(port: int) -> bool:
    try:
        return get(port, "/hello", timeout=2)[0] == 200
    except OSError:
        return False


def test_a_new_domain_gets_its_port_without_a_restart(cloud: Cloud) -> None:
    pid = cloud.start()
    domain_port = free_port()
    cloud.map_domain(domain_port, "blue")
    wait_for(lambda: _answers(domain_port))  # the gateway's own poll picks it up
    assert gateway_status(cloud.paths).pid == pid


def test_domain_ports_listen_once_ensure_gateway_returns(cloud: Cloud) -> None:
    first = free_port()
    cloud.map_domain(first, "blue")
    pid = cloud.start()  # a fresh gateway: domain ports open before it answers health
    assert get(first, "/hello")[0] == 200
    second = free_port()
    cloud.state.put_domain(DomainRoute("b.example.com", second, {"": ("blue", "dev")}))
    cloud.state.save(cloud.paths)
    assert cloud.start() == pid  # a running one: its health call syncs the listeners
    assert get(second, "/hello")[0] == 200


def test_switching_a_domain_under_steady_traffic_loses_no_request(cloud: Cloud) -> None:
    cloud.deploy("green", "v2")
    domain_port = free_port()
    cloud.map_domain(domain_port, "blue")
    cloud.start()
    wait_for(lambda: _answers(domain_port))
    results: list[tuple[int, str]] = []
    done = threading.Event()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", domain_port, timeout=10)
        while not done.is_set():
            connection.request("GET", "/hello")
            response = connection.getresponse()
            body = response.read()
            version = json.loads(body)["version"] if response.status == 200 else ""
            results.append((response.status, version))
        connection.close()

    thread = threading.Thread(target=client)
    thread.start()
    for target in ("green", "blue", "green", "blue", "green"):
        time.sleep(0.15)
        cloud.map_domain(domain_port, target)
    time.sleep(0.3)
    done.set()
    thread.join()
    assert len(results) > 20
    assert {status for status, _ in results} == {200}
    assert {version for _, version in results} == {"v1", "v2"}
    assert results[-1][1] == "v2"


def test_a_port_held_by_another_program_is_a_clear_error(cloud: Cloud) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", cloud.port))
        squatter.listen(1)
        with pytest.raises(OperationError, match="already used by another program"):
            cloud.start()


def test_two_commands_starting_the_gateway_at_once_agree_on_one(cloud: Cloud) -> None:
    pids: list[int] = []
    threads = [threading.Thread(target=lambda: pids.append(cloud.start())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pids) == 2 and pids[0] == pids[1]
    assert gateway_status(cloud.paths).pid == pids[0]


def test_over_http_headers_binary_bodies_and_host_routing_survive(cloud: Cloud) -> None:
    cloud.map_domain(free_port(), "blue")
    cloud.start()
    connection = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=10)
    connection.request("GET", api("/raw"))
    raw = connection.getresponse()
    assert (raw.status, raw.read()) == (201, b"raw body")
    assert raw.headers.get_all("Set-Cookie") == ["a=1", "b=2", "c=3"]
    assert raw.headers["Content-Length"] == "8"
    connection.request("GET", api("/binary"), headers={"Accept": "application/octet-stream"})
    assert connection.getresponse().read() == bytes(range(256))
    connection.request("GET", "/hello", headers={"Host": "api.example.com"})
    by_host = connection.getresponse()
    assert (by_host.status, json.loads(by_host.read())["version"]) == (200, "v1")
    connection.close()


def process_gone(pid: int) -> bool:
    """Ended, or a zombie waiting for init (nothing left of it to run)."""
    return not is_running(pid)


def spawned_child(cloud: Cloud) -> int:
    """Ask the handler to start `sleep 1000` it never waits for; that child's pid."""
    pidfile = cloud.tmp / f"child-{time.monotonic_ns()}.pid"
    assert get(cloud.port, api(f"/spawn?pidfile={pidfile}"))[0] == 200
    child = int(pidfile.read_text())
    assert not process_gone(child)
    return child


def test_teal_local_stop_leaves_no_process_a_handler_started(cloud: Cloud) -> None:
    cloud.start()
    child = spawned_child(cloud)
    env = {**os.environ, "TEAL_HOME": str(cloud.paths.home), "TEAL_LOCAL_PORT": str(cloud.port)}
    stop = subprocess.run(
        [sys.executable, "-m", "teal", "local", "stop"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert stop.returncode == 0, stop.stderr
    wait_for(lambda: process_gone(child), timeout_s=5)


def test_a_killed_gateway_leaves_no_process_a_handler_started(cloud: Cloud) -> None:
    pid = cloud.start()
    child = spawned_child(cloud)
    os.kill(pid, signal.SIGKILL)  # no shutdown at all: the workers notice their parent left
    wait_for(lambda: process_gone(child), timeout_s=5)


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send bytes as they are; everything the server answers until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        sock.settimeout(2)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def test_header_names_with_line_breaks_get_an_http_answer_and_no_traceback(cloud: Cloud) -> None:
    cloud.start()
    # in the request: HTTP cannot parse it, the server answers 400 and closes
    request = f"GET {api('/hello')} HTTP/1.1\r\nHost: x\r\nX-Bad\rName: 1\r\n\r\n"
    assert raw_exchange(cloud.port, request.encode()).startswith(b"HTTP/1.1 400 ")
    # from the function: a proxy response HTTP cannot carry is malformed, 502
    for name, value in (("X-Bad%0D%0AName", "1"), ("X-Ok", "a%0D%0AInjected:%201")):
        path = api(f"/headers?name={name}&value={value}")
        answer = raw_exchange(
            cloud.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        assert answer.startswith(b"HTTP/1.1 502 "), answer
        assert answer.endswith(b'{"message": "Internal server error"}')
        assert b"Injected" not in answer
    # a blank around a value is not part of it; a character beyond latin-1 travels as UTF-8
    status, headers, _ = fetch(cloud.port, api("/headers?name=X-Ok&value=%20caf%C3%A9%E2%82%AC%20"))
    assert status == 200
    assert headers["X-Ok"].encode("latin-1").decode("utf-8") == "café€"
    log = log_file(cloud.paths).read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log


def fetch(port: int, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_a_domain_port_held_elsewhere_is_reported_said_once_and_taken_when_free(
    cloud: Cloud,
) -> None:
    domain_port = free_port()
    cloud.map_domain(domain_port, "blue")
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", domain_port))
    squatter.listen(8)
    try:
        cloud.start()  # the main port serves all the same
        assert get(cloud.port, api("/hello"))[0] == 200
        held = UnboundDomain("api.example.com", domain_port, "Address already in use")
        assert gateway_status(cloud.paths).unbound_domains == (held,)
        time.sleep(2.5)  # a few retries meanwhile
        assert log_file(cloud.paths).read_text().count("cannot listen on") == 1
    finally:
        squatter.close()
    wait_for(lambda: _answers(domain_port), timeout_s=15)  # the gateway's own retry
    assert gateway_status(cloud.paths).unbound_domains == ()


def test_a_gateway_stopped_as_soon_as_it_started_is_stopped(tmp_path: Any) -> None:
    """It answers health a moment before it writes gateway.json: a start returns only once
    the file names it, so a stop right after always finds what to stop."""
    from teal.cloud.local.gateway.lifecycle import ensure_gateway
    from teal.cloud.local.paths import LocalPaths

    for attempt in range(8):
        paths = LocalPaths(tmp_path / f"home-{attempt}")
        started = ensure_gateway(paths, free_port())
        assert started.pid is not None
        stop_gateway(paths)
        assert not is_running(started.pid), f"attempt {attempt}: the gateway outlived its stop"


def test_a_gateway_an_earlier_teal_started_is_still_stopped(tmp_path: Any) -> None:
    """Its module had another name (teal.cloud.local.gateway_main): teal local stop still
    recognises it as a gateway, and ends it, rather than forgetting a process that holds
    the port and runs code the upgrade removed."""
    from teal.cloud.local.paths import LocalPaths

    paths = LocalPaths(tmp_path / "home")
    paths.home.mkdir(parents=True)
    # a process whose command line names the earlier module, as such a gateway's did
    earlier = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "-m", "teal.cloud.local.gateway_main"]
    )
    try:
        # until it has exec'd, the child's command line is still this process's
        deadline = time.monotonic() + 10
        while "teal.cloud.local.gateway_main" not in " ".join(
            psutil.Process(earlier.pid).cmdline()
        ):
            assert time.monotonic() < deadline, "the stand-in never started"
            time.sleep(0.01)
        record = {"pid": earlier.pid, "port": free_port(), "started_at": time.time()}
        paths.gateway_state.write_text(json.dumps(record))
        stopped = stop_gateway(paths, timeout_s=5.0)
        assert stopped.running and stopped.pid == earlier.pid
        assert earlier.wait(timeout=10) is not None
        assert not paths.gateway_state.exists()
    finally:
        earlier.kill()
        earlier.wait()
