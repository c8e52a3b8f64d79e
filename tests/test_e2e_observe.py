"""Seeing what functions do, through the CLI against a private local cloud:
``teal logs`` (also ``--follow`` and across a replacement), ``teal invoke``,
``teal dev`` and the traffic in ``teal status``."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from e2e import LocalCloudEnv, get, rename_id_to_post_id
from teal.cloud.local.paths import LocalPaths

FAILING_ROUTES = """

@app.route("/boom", function="boom")
def boom(request):
    print("marker-boom", request.query.get("n", ""))
    return 1 / 0


@app.route("/slow", function="slow", raw=True)
def slow(event, context):
    print("marker-slow")
    import time
    time.sleep(5)
"""
SLOW_TIMEOUT = """
[functions.slow]
timeout = 1
"""
INTERNAL_ERROR = {"message": "Internal server error"}


@pytest.fixture
def blog(local_cloud: LocalCloudEnv) -> LocalCloudEnv:
    """The blog example with a function that raises and one that times out, deployed."""
    app = local_cloud.project / "app.py"
    text = app.read_text().replace(
        '    post_id = request.path_params["id"]\n',
        '    post_id = request.path_params["id"]\n    print("showing", post_id, VERSION)\n',
    )
    app.write_text(text + FAILING_ROUTES)
    toml = local_cloud.project / "teal.toml"
    toml.write_text(toml.read_text() + SLOW_TIMEOUT)
    local_cloud.teal_ok("deploy")
    return local_cloud


def endpoint(cloud: LocalCloudEnv) -> str:
    return str(cloud.teal_ok("url", "--json").json()["endpoint"])


def logs(cloud: LocalCloudEnv, *args: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = cloud.teal_ok("logs", "--json", *args).json()["events"]
    return events


class Lines:
    """A child's stdout, line by line, read by a thread so a test can wait with a deadline;
    its stderr is read too (a full pipe would stop the child) and kept for the failure."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.errors: list[str] = []
        assert process.stdout is not None and process.stderr is not None
        stdout, stderr = process.stdout, process.stderr
        threading.Thread(
            target=lambda: [self._queue.put(line) for line in stdout], daemon=True
        ).start()
        self._stderr_reader = threading.Thread(
            target=lambda: self.errors.extend(stderr), daemon=True
        )
        self._stderr_reader.start()

    def stderr_at_exit(self, timeout: float = 30) -> str:
        """All the child wrote on stderr, once it has exited."""
        self._stderr_reader.join(timeout)
        return "".join(self.errors)

    def wait_for(self, match: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if match(line):
                return line
        raise AssertionError(
            f"no such line within {timeout} s; stdout so far:\n{''.join(self.seen[-20:])}"
            f"stderr so far:\n{''.join(self.errors[-20:])}"
        )


def request_feed_state(cloud: LocalCloudEnv) -> str:
    """What the gateway wrote for teal dev, and when teal dev last asked for it."""
    paths = LocalPaths(cloud.home)
    try:
        asked = f"{time.time() - paths.requests_wanted.stat().st_mtime:.1f} s ago"
    except OSError as error:
        asked = str(error)
    try:
        written = paths.requests.read_text()[-2000:]
    except OSError as error:
        written = str(error)
    return f"requests.wanted touched {asked}; requests.jsonl:\n{written}"


@contextmanager
def background(cloud: LocalCloudEnv, *args: str) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "teal", *args, "--project", str(cloud.project)],
        env=cloud.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, Lines(process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


# ---------------------------------------------------------------- teal logs


def test_a_print_and_a_traceback_are_in_teal_logs_with_function_and_request_id(
    blog: LocalCloudEnv,
) -> None:
    status, body = get(endpoint(blog) + "boom?n=7")
    assert status >= 500 and json.loads(body) == INTERNAL_ERROR  # as API Gateway answers

    events = logs(blog)
    (marker,) = [e for e in events if e["message"] == "marker-boom 7"]
    assert marker["function"] == "boom"
    assert marker["request_id"]
    (failure,) = [e for e in events if "Traceback (most recent call last):" in e["message"]]
    assert failure["request_id"] == marker["request_id"]
    assert failure["function"] == "boom"
    assert failure["message"].rstrip().endswith("ZeroDivisionError: division by zero")
    assert 'app.py", line' in failure["message"]  # the traceback whole, in one event
    # the frame names the project's own file, the one to open, not the running copy
    assert f'File "{blog.project.resolve()}/app.py", line' in failure["message"]
    assert not re.search(r"/code/[0-9a-f]{64}/app\.py", failure["message"])

    text = blog.teal_ok("logs", "boom")
    assert "1 failed invocation" in text.err and "ZeroDivisionError" in text.err  # named first
    assert "marker-boom 7" in text.out
    assert "home" not in text.out.split()  # only the function asked for


def test_teal_logs_follow_shows_a_new_request_within_two_seconds(blog: LocalCloudEnv) -> None:
    url = endpoint(blog) + "boom?n=follow"
    with background(blog, "logs", "--follow", "--json", "--since", "1s") as (process, lines):
        time.sleep(2.0)  # the follower is up and has read once
        assert process.poll() is None
        get(url)
        answered = time.monotonic()
        line = lines.wait_for(lambda text: "marker-boom follow" in text, timeout=10)
        latency = time.monotonic() - answered
        event = json.loads(line)  # one JSON object per line
        assert event["function"] == "boom" and event["request_id"]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0  # Ctrl-C is how a follow ends
    print(f"teal logs --follow: a new request's line after {latency:.2f} s")
    assert latency < 2.0


def test_logs_read_as_one_stream_across_a_replacement(blog: LocalCloudEnv) -> None:
    get(endpoint(blog) + "posts/1")
    rename_id_to_post_id(blog)  # /posts/{id} -> /posts/{post_id}: a new API, and version 2
    deployed = blog.teal_ok("deploy", "--json").json()
    assert deployed["api_replaced"] is True
    get(deployed["endpoint"] + "posts/1")

    shown = [e for e in logs(blog, "posts") if e["message"].startswith("showing 1")]
    assert [(e["message"], e["function"]) for e in shown] == [
        ("showing 1 1", "posts"),
        ("showing 1 2", "posts"),
    ]
    assert [e["function_name"] for e in shown] == ["blog-dev-posts", "blog-dev-posts-g1"]


# ---------------------------------------------------------------- teal invoke


def test_teal_invoke_returns_the_result_and_the_log_tail(blog: LocalCloudEnv) -> None:
    answer = blog.teal_ok("invoke", "posts", "--json").json()
    assert answer["function"] == "posts"
    assert (answer["error"], answer["failed"]) == (None, False)
    assert answer["result"]["statusCode"] == 200
    assert "Hello, teal" in answer["result"]["body"]  # the sample event: GET /posts
    assert answer["logs"].startswith(f"START RequestId: {answer['request_id']}")
    assert "REPORT RequestId" in answer["logs"]
    assert answer["duration_ms"] > 0

    event = {
        "resource": "/boom",
        "path": "/boom",
        "httpMethod": "GET",
        "queryStringParameters": {"n": "given"},
    }
    given = subprocess.run(  # the event from stdin
        [sys.executable, "-m", "teal", "invoke", "boom", "--event", "-", "--json"],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=blog.env,
        cwd=blog.project,
        timeout=120,
        check=False,
    )
    assert given.returncode == 1, given.stderr  # docs/debugging.md's promise: exit 1
    failed = json.loads(given.stdout)
    assert failed["result"]["statusCode"] == 500  # teal's runtime answered for the handler
    assert (failed["failed"], failed["error"]) == (True, None)
    assert "marker-boom given" in failed["logs"]
    assert "ZeroDivisionError: division by zero" in failed["logs"]


def test_teal_invoke_sends_the_path_and_method_asked_for(blog: LocalCloudEnv) -> None:
    shown = blog.teal_ok("invoke", "posts", "--path", "/posts/1?x=y", "--json").json()
    assert json.loads(shown["result"]["body"])["title"] == "Hello, teal"  # GET /posts/{id}
    deleted = blog.teal_ok("invoke", "posts", "--path", "/posts/1", "--method", "delete", "--json")
    assert json.loads(deleted.json()["result"]["body"])["id"] == "1"  # DELETE's answer

    elsewhere = blog.teal("invoke", "posts", "--path", "/health")
    assert elsewhere.code == 2
    assert "served by function 'health', not 'posts'" in elsewhere.err
    assert "teal invoke health --path /health" in elsewhere.err
    both = blog.teal("invoke", "posts", "--path", "/posts", "--event", "-")
    assert both.code == 2 and "--event" in both.err


def test_teal_invoke_reports_a_failed_invocation_with_exit_1(blog: LocalCloudEnv) -> None:
    timed_out = blog.teal("invoke", "slow", "--json")
    assert timed_out.code == 1
    answer = timed_out.json()
    assert answer["error"] == {
        "type": "Sandbox.Timedout",
        "message": "Task timed out after 1.00 seconds",
    }
    assert "marker-slow" in answer["logs"]

    unknown = blog.teal("invoke", "nope")
    assert unknown.code == 2
    assert "no function 'nope'" in unknown.err


# ---------------------------------------------------------------- teal status


def test_teal_status_fits_a_narrow_terminal_and_wide_shows_every_column(
    blog: LocalCloudEnv,
) -> None:
    url = endpoint(blog)
    blog.teal_ok("deploy", "--extra", "2")
    blog.teal_ok("switch", "--to", "2")
    narrow = blog.teal("status", env={"COLUMNS": "100"})
    assert narrow.code == 0, narrow.err
    lines = narrow.out.splitlines()
    assert max(len(line) for line in lines) <= 100, narrow.out
    assert f"  {url}" in lines  # the endpoint whole, on a line of its own
    assert re.search(r"updated (just now|\d+ s ago)", narrow.out), narrow.out
    assert re.search(r"switch blog-dev → blog-dev-2 ", narrow.out), narrow.out

    wide = blog.teal("status", "--wide", env={"COLUMNS": "100"})
    assert wide.code == 0, wide.err
    assert re.search(r"environment +status +live +endpoint +updated", wide.out), wide.out
    assert url in wide.out
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", wide.out), wide.out


def test_teal_status_shows_the_traffic_of_the_last_five_minutes(blog: LocalCloudEnv) -> None:
    url = endpoint(blog)
    for _ in range(5):
        assert get(url + "posts")[0] == 200
    assert get(url + "boom")[0] >= 500
    time.sleep(1.5)  # the gateway writes its numbers once a second
    (environment,) = blog.teal_ok("status", "--json").json()["environments"]
    traffic = environment["traffic"]
    assert traffic["window_s"] == 300
    assert traffic["requests"] >= 6  # and the deploy's own checks
    assert traffic["errors"] == 1
    assert 0 < traffic["p50_ms"] <= traffic["p99_ms"]
    assert "5xx" in blog.teal_ok("status").out


# ---------------------------------------------------------------- teal dev


def test_teal_dev_serves_reloads_and_shows_requests_with_their_tracebacks(
    blog: LocalCloudEnv,
) -> None:
    with background(blog, "dev", "--json") as (process, lines):
        first = json.loads(lines.wait_for(lambda text: '"deployed"' in text, timeout=60))
        url = first["endpoint"]

        assert get(url + "boom?n=dev")[0] >= 500
        try:
            found = lines.wait_for(lambda text: '"request"' in text and "/boom" in text, 10)
        except AssertionError as missing:
            raise AssertionError(f"{missing}\n{request_feed_state(blog)}") from None
        request = json.loads(found)
        assert (request["method"], request["status"], request["function"]) == ("GET", 500, "boom")
        assert request["ms"] > 0
        traceback = json.loads(lines.wait_for(lambda text: "Traceback" in text, timeout=10))
        assert traceback["event"] == "log" and traceback["function"] == "boom"
        assert f'File "{blog.project.resolve()}/app.py", line' in traceback["message"]

        blog.edit_app('VERSION = "1"', 'VERSION = "2"')
        saved = time.monotonic()
        body = ""
        while "version 2" not in body and time.monotonic() - saved < 30:
            body = get(url)[1]
        latency = time.monotonic() - saved
        reloaded = json.loads(lines.wait_for(lambda text: '"deployed"' in text, timeout=30))
        print(f"teal dev: saved -> new code answering in {latency:.2f} s")
        assert "version 2" in body
        assert reloaded["latency_s"] is not None

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    assert "version 2" in get(url)[1]  # Ctrl-C leaves the app served
    (environment,) = blog.teal_ok("status", "--json").json()["environments"]
    assert environment["status"] == "UPDATE_COMPLETE"


def test_teal_dev_replaces_the_api_when_a_route_change_needs_it(blog: LocalCloudEnv) -> None:
    """The change is saved right after the first deploy, maybe before the watcher runs:
    it is not missed."""
    with background(blog, "dev", "--json") as (process, lines):
        lines.wait_for(lambda text: '"deployed"' in text, timeout=60)
        rename_id_to_post_id(blog)
        replaced = json.loads(
            lines.wait_for(lambda text: '"api_replaced": true' in text, timeout=60)
        )
        assert get(replaced["endpoint"] + "posts/1")[0] == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    assert "needed a new API" in lines.stderr_at_exit()


def test_teal_dev_is_for_the_local_cloud(blog: LocalCloudEnv) -> None:
    refused = blog.teal("dev", "--cloud", "aws")
    assert refused.code == 2
    assert "teal dev runs on the local cloud" in refused.err


def test_ctrl_c_during_a_reload_lets_the_deploy_finish(blog: LocalCloudEnv) -> None:
    with background(blog, "dev", "--json") as (process, lines):
        first = json.loads(lines.wait_for(lambda text: '"deployed"' in text, timeout=60))
        blog.edit_app('VERSION = "1"', 'VERSION = "3"')
        time.sleep(0.3)  # the watcher saw it and the deploy is under way
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    (environment,) = blog.teal_ok("status", "--json").json()["environments"]
    assert environment["status"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    assert get(first["endpoint"])[0] == 200
