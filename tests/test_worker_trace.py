"""The trace variable a worker sets for each request: seen by the handler and by the
processes it starts, cleared when a request has none, and free of the C library's
leak of every value ``setenv`` was given."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from teal.cloud.local.functions import worker_main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="reads /proc and runs sh")

# Runs in its own process (the worker writes its log to fd 2): serves requests
# with unique trace ids, as the gateway sends them, and reports what it saw.
DRIVER = textwrap.dedent(
    """
    import importlib.util, json, os, subprocess, sys

    spec = importlib.util.spec_from_file_location("worker_main", sys.argv[1])
    worker_main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker_main)

    def resident_kib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    def handler(event, context):
        return os.environ.get("_X_AMZN_TRACE_ID")

    def serve(number, trace_id):
        request = {"request_id": f"r{number}", "deadline_ms": 0, "trace_id": trace_id,
                   "event": {}}
        frame = worker_main.serve_one(handler, request, 6 * 1024 * 1024)
        return json.loads(frame[4:])["result"]

    def trace(number):
        return f"Root=1-00000000-{number:024x};Parent={number:016x};Sampled=0"

    count = int(sys.argv[2])
    for number in range(2000):  # the interpreter's own allocations settle first
        serve(number, trace(number))
    before = resident_kib()
    all_seen = True
    for number in range(2000, 2000 + count):  # nothing kept: only the worker may grow
        all_seen = serve(number, trace(number)) == trace(number) and all_seen
    grown = resident_kib() - before
    child = subprocess.run(["sh", "-c", 'printf %s "$_X_AMZN_TRACE_ID"'],
                           capture_output=True, text=True).stdout
    cleared = serve(0, None)
    child_cleared = subprocess.run(["sh", "-c", 'printf %s "${_X_AMZN_TRACE_ID-unset}"'],
                                   capture_output=True, text=True).stdout
    print(json.dumps({"grown_kib": grown, "all_seen": all_seen, "child": child,
                      "last": trace(1999 + count), "cleared": cleared,
                      "child_cleared": child_cleared}))
    """
)


def drive(count: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", DRIVER, worker_main.__file__, str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_each_request_sets_its_trace_for_the_handler_and_the_processes_it_starts() -> None:
    seen = drive(200)
    assert seen["all_seen"] is True
    assert seen["child"] == seen["last"]
    assert seen["cleared"] is None  # a request without a trace id: no variable at all
    assert seen["child_cleared"] == "unset"


def test_a_trace_id_per_request_does_not_grow_the_worker() -> None:
    # setenv kept a copy of each value for good: 60,000 requests grew a worker by ~8 MiB
    seen = drive(60_000)
    assert seen["all_seen"] is True
    assert int(str(seen["grown_kib"])) < 2048


# The handler may change the variable itself, through os.environ or behind it; a long
# id, or one no environment can hold, must not upset the next request.
CHANGES = textwrap.dedent(
    """
    import importlib.util, json, os, subprocess, sys

    spec = importlib.util.spec_from_file_location("worker_main", sys.argv[1])
    worker_main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker_main)

    def child():
        return subprocess.run(["sh", "-c", 'printf %s "${_X_AMZN_TRACE_ID-unset}"'],
                              capture_output=True, text=True).stdout

    def handler(event, context):
        if event.get("set") is not None:
            os.environ["_X_AMZN_TRACE_ID"] = event["set"]
        if event.get("delete"):
            del os.environ["_X_AMZN_TRACE_ID"]
        if event.get("putenv") is not None:  # the C environment alone, behind os.environ
            os.putenv("_X_AMZN_TRACE_ID", event["putenv"])
        if event.get("unsetenv"):
            os.unsetenv("_X_AMZN_TRACE_ID")
        return [os.environ.get("_X_AMZN_TRACE_ID"), child()]

    def serve(trace_id, **event):
        request = {"request_id": "r", "deadline_ms": 0, "trace_id": trace_id, "event": event}
        return json.loads(worker_main.serve_one(handler, request, 6 * 1024 * 1024)[4:])["result"]

    long_id = "Root=1-00000000-" + "a" * 400
    print(json.dumps([
        serve("Root=1-a", set="the-handlers-own"),
        serve("Root=1-b"),
        serve("Root=1-c", delete=True),
        serve("Root=1-d"),
        serve(long_id),
        serve("Root=1-e"),
        serve(None),
        serve("Root=1-f"),
        serve("Root=1-g", putenv="set-behind-os-environ"),
        serve("Root=1-h"),
        serve("Root=1-i", unsetenv=True),
        serve("Root=1-j"),
        serve("Root=1-\\x00k"),
        serve("Root=1-l"),
    ]))
    """
)


def test_the_next_request_sets_its_trace_whatever_the_handler_did_to_it() -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", CHANGES, worker_main.__file__],
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(done.stdout)
    long_id = "Root=1-00000000-" + "a" * 400
    assert seen == [
        ["the-handlers-own", "the-handlers-own"],
        ["Root=1-b", "Root=1-b"],
        [None, "unset"],
        ["Root=1-d", "Root=1-d"],
        [long_id, long_id],
        ["Root=1-e", "Root=1-e"],
        [None, "unset"],
        ["Root=1-f", "Root=1-f"],
        ["Root=1-g", "set-behind-os-environ"],
        ["Root=1-h", "Root=1-h"],
        ["Root=1-i", "unset"],
        ["Root=1-j", "Root=1-j"],
        [None, "unset"],  # a NUL cannot be in the environment: no trace, a live worker
        ["Root=1-l", "Root=1-l"],
    ]
