"""The local cloud as a user meets it: real events, crashes and restarts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess

from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel

from e2e import LocalCloudEnv, get

ECHO_ROUTE = """

@app.route("/echo/{name}", methods=["GET", "POST"], raw=True)
def echo(event, context):
    import json
    return {"statusCode": 200, "body": json.dumps({"event": event,
            "function": context.function_name, "memory": context.memory_limit_in_mb})}
"""


def test_handlers_see_api_gateway_proxy_events(local_cloud: LocalCloudEnv) -> None:
    app = local_cloud.project / "app.py"
    app.write_text(app.read_text() + ECHO_ROUTE)
    endpoint = local_cloud.teal_ok("deploy", "--json").json()["endpoint"]
    status, body = get(endpoint + "echo/ana%20b?tag=a&tag=b", "POST", b'{"x": 1}')
    assert status == 200
    seen = json.loads(body)
    event = seen["event"]
    APIGatewayProxyEventModel.model_validate(event)
    assert event["resource"] == "/echo/{name}"
    # as sent, percent-encoded, as API Gateway passes them (docs/api-gateway.md)
    assert event["path"] == "/echo/ana%20b"
    assert event["pathParameters"] == {"name": "ana%20b"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"]}
    assert event["queryStringParameters"] == {"tag": "b"}
    assert event["requestContext"]["stage"] == "dev"
    assert event["requestContext"]["resourcePath"] == "/echo/{name}"
    assert json.loads(event["body"]) == {"x": 1}
    # As in AWS's Python runtime, the memory size comes from the environment: a str.
    assert seen["function"] == "blog-dev-echo" and seen["memory"] == "256"


def _gateway_pid(cloud: LocalCloudEnv) -> int:
    return int(json.loads((cloud.home / "gateway.json").read_text())["pid"])


def _worker_pids(gateway_pid: int) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-P", str(gateway_pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(pid) for pid in out.split()]


def test_killed_gateway_and_worker_recover(local_cloud: LocalCloudEnv) -> None:
    endpoint = local_cloud.teal_ok("deploy", "--json").json()["endpoint"]
    assert get(endpoint + "health")[0] == 200
    gateway = _gateway_pid(local_cloud)
    workers = _worker_pids(gateway)
    assert workers, "a request leaves a warm worker behind"
    os.kill(workers[0], signal.SIGKILL)
    statuses = [get(endpoint + "health")[0] for _ in range(3)]
    assert statuses[-1] == 200  # a fresh worker took over

    os.kill(gateway, signal.SIGKILL)
    again = local_cloud.teal_ok("url", "--json").json()  # any command that serves restarts it
    assert again["endpoint"] == endpoint
    assert get(endpoint + "health")[0] == 200
    assert _gateway_pid(local_cloud) != gateway


def test_restarted_gateway_serves_everything_deployed(local_cloud: LocalCloudEnv) -> None:
    first = local_cloud.teal_ok("deploy", "--json").json()
    local_cloud.teal_ok("local", "stop")
    assert local_cloud.teal_ok("local", "status", "--json").json()["running"] is False
    local_cloud.teal_ok("local", "start")
    assert get(first["endpoint"] + "posts/1")[0] == 200
    assert get(first["domain"]["url"] + "health")[0] == 200


def _processes_of(cloud: LocalCloudEnv) -> list[str]:
    out = subprocess.run(
        ["pgrep", "-f", str(cloud.home)], capture_output=True, text=True, check=False
    ).stdout
    return out.split()


def test_stop_ends_busy_workers_too(local_cloud: LocalCloudEnv) -> None:
    import time

    app = local_cloud.project / "app.py"
    app.write_text(
        app.read_text() + '\n\n@app.route("/spin")\ndef spin(request):\n'
        "    while True:\n        pass\n"
    )
    endpoint = local_cloud.teal_ok("deploy", "--json").json()["endpoint"]
    with contextlib.suppress(OSError):  # the client gives up; the handler spins on
        get(endpoint + "spin", timeout=1.5)
    local_cloud.teal_ok("local", "stop")
    deadline = time.monotonic() + 10
    while _processes_of(local_cloud) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_of(local_cloud) == []
