"""The workers' logs: what Lambda's log stream would hold, read back as CloudWatch serves it."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import textwrap
import time
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from teal.cloud.base import LogQuery
from teal.cloud.local.functions import worker_main
from teal.cloud.local.functions.log_files import (
    UNFINISHED_LINE_S,
    LocalLogs,
    parse_stamp,
    read_stream,
    stamp,
)
from teal.cloud.local.functions.workers import FailureKind, InvocationError, WorkerManager
from teal.cloud.local.model import FunctionSpec
from teal.cloud.local.paths import LocalPaths
from teal.project.package import build_package
from teal.rules.lambda_logs import LogEvent
from test_gateway_support import make_function

T = TypeVar("T")

APP = """
import sys
import time

from teal import App

app = App()


@app.route("/talk", function="talk")
def talk(request):
    print("marker one")
    print("two\\nlines")
    sys.stderr.write("to stderr\\n")
    return "ok"


def fail(event, context):  # a plain Lambda handler (not through teal's runtime)
    print("before the error")
    raise ValueError("broken on purpose")


@app.route("/hang", function="hang")
def hang(request):
    print("about to hang")
    while True:
        time.sleep(0.05)
"""
REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>\S+)\tDuration: [0-9.]+ ms\tBilled Duration: [0-9]+ ms\t"
    r"Memory Size: 256 MB\tMax Memory Used: [0-9]+ MB(?P<init>\tInit Duration: [0-9.]+ ms)?$"
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def paths(tmp_path: Path) -> LocalPaths:
    return LocalPaths(tmp_path / "home")


@pytest.fixture
def code(paths: LocalPaths, tmp_path: Path) -> tuple[str, str]:
    project = tmp_path / "app"
    project.mkdir()
    (project / "app.py").write_text(textwrap.dedent(APP))
    package = build_package(project)
    artifact = paths.artifact(package.key)
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_bytes(package.data)
    return package.sha256, package.key


def spec(code: tuple[str, str], fn: str, *, group: str = "", timeout_s: int = 5) -> FunctionSpec:
    made = make_function(f"env-{fn}", *code, app_function=fn, timeout_s=timeout_s)
    handler = "app.fail" if fn == "fail" else made.handler
    return replace(made, log_group=group, handler=handler)


def invoke_all(paths: LocalPaths, function: FunctionSpec, *request_ids: str) -> list[Any]:
    async def scenario() -> list[Any]:
        manager = WorkerManager(paths)
        try:
            results: list[Any] = []
            for request_id in request_ids:
                path = "/" + function.variables["TEAL_FUNCTION"]
                event = {"resource": path, "path": path, "httpMethod": "GET"}
                try:
                    results.append(await manager.invoke(function, event, request_id))
                except InvocationError as error:
                    results.append(error)
            return results
        finally:
            await manager.close()

    return run(scenario())


def events_of(paths: LocalPaths, group: str) -> list[LogEvent]:
    return [e for page in LocalLogs(paths).read(LogQuery(group, 0)) for e in page.events]


def test_an_invocation_logs_as_lambda_does(paths: LocalPaths, code: tuple[str, str]) -> None:
    invoke_all(paths, spec(code, "talk"), "req-1", "req-2")
    messages = [e.message for e in events_of(paths, "/aws/lambda/env-talk")]
    assert messages[:4] == [
        "START RequestId: req-1 Version: $LATEST",
        "marker one",
        "two\nlines",  # one write, one event
        "to stderr",
    ]
    assert messages[4] == "END RequestId: req-1"
    first, second = (REPORT.match(m) for m in messages if m.startswith("REPORT"))
    assert first is not None and second is not None
    assert (first["id"], second["id"]) == ("req-1", "req-2")
    assert first["init"] and not second["init"]  # the init duration, once, as Lambda reports it


def test_an_unhandled_error_is_one_event_with_its_whole_traceback(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    (failure,) = invoke_all(paths, spec(code, "fail"), "req-9")
    assert isinstance(failure, InvocationError)
    (error,) = [
        e.message for e in events_of(paths, "/aws/lambda/env-fail") if "[ERROR]" in e.message
    ]
    lines = error.splitlines()
    assert lines[0] == "[ERROR] ValueError: broken on purpose"
    assert lines[1] == "Traceback (most recent call last):"
    assert any('app.py", line' in line and "in fail" in line for line in lines)


def test_output_before_a_timeout_is_kept(paths: LocalPaths, code: tuple[str, str]) -> None:
    """Each write reaches the log at once: a worker killed at its timeout loses nothing."""
    (failure,) = invoke_all(paths, spec(code, "hang", timeout_s=1), "req-5")
    assert isinstance(failure, InvocationError)
    assert failure.kind is FailureKind.TIMEOUT
    messages = [e.message for e in events_of(paths, "/aws/lambda/env-hang")]
    assert "about to hang" in messages
    assert "req-5 Task timed out after 1.00 seconds" in messages
    assert "END RequestId: req-5" in messages
    assert any(m.startswith("REPORT RequestId: req-5") and "Status: timeout" in m for m in messages)


def test_functions_sharing_a_log_group_write_streams_named_after_them(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    """LoggingConfig.LogGroup: one folder for the environment, a stream per worker."""
    group = "/aws/lambda/env"
    invoke_all(paths, spec(code, "talk", group=group), "req-1")
    invoke_all(paths, spec(code, "fail", group=group), "req-2")
    streams = {e.stream for e in events_of(paths, group)}
    names = sorted(s.split("/")[3].split("[")[0] for s in streams)
    assert names == ["env-fail", "env-talk"]
    assert all(re.fullmatch(r"\d{4}/\d\d/\d\d/env-\w+\[\$LATEST\][0-9a-f]{32}", s) for s in streams)
    assert (paths.logs / "env").is_dir()


def test_an_invocations_log_is_its_lines_from_start_to_report(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    invoke_all(paths, spec(code, "talk"), "req-1", "req-2")
    text = LocalLogs(paths).invocation_log("/aws/lambda/env-talk", "req-2", 0)
    lines = text.splitlines()
    assert lines[0] == "START RequestId: req-2 Version: $LATEST"
    assert lines[-1].startswith("REPORT RequestId: req-2")
    assert "req-1" not in text


def test_the_worker_and_the_reader_agree_on_the_time_stamp() -> None:
    """worker_main runs on its own (the runtime's Python, no teal): its stamp is a copy."""
    spec_ = importlib.util.find_spec("teal.cloud.local.functions.worker_main")
    assert spec_ is not None
    for moment in (0.0, 1_777_593_600.123456, 1_800_000_000.999999):
        assert worker_main.stamp(moment) == stamp(moment)
        parsed = parse_stamp(stamp(moment).encode() + b"message")
        assert parsed == int(moment * 1000)


def test_lines_without_a_time_belong_to_the_event_before(paths: LocalPaths) -> None:
    """Bytes written to the log's descriptor directly (a child process) carry no time."""
    group = "/aws/lambda/env-raw"
    file = paths.log_file(group, "2026/05/01/[$LATEST]abc")
    file.parent.mkdir(parents=True)
    file.write_text(f"{stamp(100.0)}first\nraw child output\n{stamp(101.0)}second\n")
    events = events_of(paths, group)
    assert [(e.timestamp_ms, e.message) for e in events] == [
        (100_000, "first\nraw child output"),
        (101_000, "second"),
    ]
    assert events[0].stream == "2026/05/01/[$LATEST]abc"


def test_a_line_still_being_written_is_read_once_it_ends(tmp_path: Path) -> None:
    """print("processing...", end="") then " done": a follower that took the first part
    as the event would never show the rest (it reads each event once)."""
    file = tmp_path / "stream.log"
    now = time.time()
    file.write_text(f"{stamp(now)}START RequestId: r1\n{stamp(now)}processing...")
    assert [e.message for e in read_stream(file, "g")] == ["START RequestId: r1"]
    with file.open("a") as log:
        log.write(" done\n")
    assert [e.message for e in read_stream(file, "g")][-1] == "processing... done"
    file.write_text(f"{stamp(now)}left unfinished")  # by a worker that died, say
    old = now - 10
    os.utime(file, (old, old))
    assert [e.message for e in read_stream(file, "g")] == ["left unfinished"]


def test_a_line_left_unfinished_is_read_by_the_same_reader_once_its_time_is_up(
    tmp_path: Path,
) -> None:
    """The reader keeps each file's parse until the file changes: a parse that left out
    an unfinished line must not be kept, or a line that never ends would never show."""
    paths = LocalPaths(tmp_path)
    group = "/aws/lambda/blog-dev"
    file = paths.log_file(group, "2026/12/01/posts[$LATEST]abc")
    file.parent.mkdir(parents=True)
    now = time.time()
    file.write_text(f"{stamp(now)}START RequestId: r1\n{stamp(now)}left unfinished")
    written = now - UNFINISHED_LINE_S + 0.5  # and never again: its worker died
    os.utime(file, (written, written))
    logs = LocalLogs(paths)
    query = LogQuery(group, int(now * 1000) - 60_000, None)

    def messages() -> list[str]:
        return [e.message for page in logs.read(query) for e in page.events]

    assert messages() == ["START RequestId: r1"]
    time.sleep(0.6)  # the file is unchanged, the line's time is up
    assert messages() == ["START RequestId: r1", "left unfinished"]
