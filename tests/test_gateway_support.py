"""Shared pieces of the data plane tests: a fake ServingState, code packages, free ports,
and a gateway process serving the fake (the ``cloud`` fixture).

The fake is a typed implementation of ``teal.cloud.local.model.ServingState``.
:class:`JsonServingState` keeps the same facts in a JSON file under
TEAL_HOME, so a gateway *process* can serve them (``--serving-state
test_gateway_support:JsonServingState``) while the test edits them.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ports import free_port
from runtime_here import RUNTIME
from teal.cloud.local.gateway.lifecycle import ensure_gateway, stop_gateway
from teal.cloud.local.model import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    AuthorizerSpec,
    DomainRoute,
    FunctionSpec,
    GatewayResponseSpec,
    HostSettings,
    MockAnswer,
    RouteIntegration,
    ServedStage,
)
from teal.cloud.local.paths import LocalPaths
from teal.project.config import DEFAULT_BINARY_MEDIA_TYPES
from teal.project.package import build_package

APP_SOURCE = """
import os
import subprocess
import sys
import time

import teal
from teal import App, Response

VERSION = "{version}"
app = App()
COUNTER = {{"n": 0}}


@app.route("/hello", function="hello")
def hello(request):
    return {{"hello": "world", "version": VERSION}}


@app.route("/echo/{{id}}", methods=["GET", "POST", "DELETE"], function="echo")
def echo(request):
    return {{"event": request.event, "body": request.text}}


@app.route("/count", function="count")
def count(request):
    COUNTER["n"] += 1
    return {{"n": COUNTER["n"], "pid": os.getpid(), "version": VERSION}}


@app.route("/sleep", function="sleep")
def sleep(request):
    time.sleep(float(request.query.get("s", "0")))
    return {{"slept": request.query.get("s", "0"), "pid": os.getpid()}}


@app.route("/crash", function="crash")
def crash(request):
    os._exit(3)


@app.route("/exit", function="leave")
def leave(request):
    sys.exit(1)


@app.route("/print", function="talk")
def talk(request):
    print("hello from the handler")
    sys.stderr.write("a warning\\n")
    return "ok"


@app.route("/raw", function="raw", raw=True)
def raw(event, context):
    if event["queryStringParameters"] and "bad" in event["queryStringParameters"]:
        return {{"statusCode": 200, "bogus": True}}
    return {{
        "statusCode": 201,
        "headers": {{"X-One": "1", "Set-Cookie": "c=3"}},
        "multiValueHeaders": {{"Set-Cookie": ["a=1", "b=2"]}},
        "body": "raw body",
    }}


@app.route("/headers", function="headers", raw=True)
def headers(event, context):
    # one response header, its name and value from the query (percent-decoded)
    query = event["queryStringParameters"]
    return {{"statusCode": 200, "headers": {{query["name"]: query["value"]}}, "body": "ok"}}


@app.route("/binary", function="binary")
def binary(request):
    return bytes(range(256))


@app.route("/upload", methods=["POST"], function="upload")
def upload(request):
    return {{"received": len(request.body)}}


@app.route("/sized", function="sized", raw=True)
def sized(event, context):
    # a proxy response whose JSON is exactly n bytes long
    n = int(event["queryStringParameters"]["n"])
    return {{"statusCode": 200, "body": "x" * (n - len('{{"statusCode":200,"body":""}}'))}}


@app.route("/spawn", function="spawn")
def spawn(request):
    # a child the handler never waits for; its pid goes to a file first, then the handler
    # may outstay its timeout
    child = subprocess.Popen(["sleep", "1000"])
    with open(request.query["pidfile"], "w") as out:
        out.write(str(child.pid))
    time.sleep(float(request.query.get("s", "0")))
    return {{"child": child.pid}}


@app.route("/context", function="ctx")
def ctx(request):
    c = request.context
    return {{
        "function_name": c.function_name,
        "function_version": c.function_version,
        "invoked_function_arn": c.invoked_function_arn,
        "memory_limit_in_mb": c.memory_limit_in_mb,
        "aws_request_id": c.aws_request_id,
        "log_group_name": c.log_group_name,
        "log_stream_name": c.log_stream_name,
        "remaining": c.get_remaining_time_in_millis(),
        "teal_file": teal.__file__,
        "region": os.environ.get("AWS_REGION"),
        "custom": os.environ.get("CUSTOM"),
        "cwd": os.getcwd(),
    }}
"""

FUNCTIONS = (
    "hello",
    "echo",
    "count",
    "sleep",
    "crash",
    "leave",
    "talk",
    "raw",
    "headers",
    "binary",
    "upload",
    "sized",
    "spawn",
    "ctx",
)
ROUTES = {
    "hello": [("/hello", "GET")],
    "echo": [("/echo/{id}", m) for m in ("GET", "POST", "DELETE")],
    "count": [("/count", "GET")],
    "sleep": [("/sleep", "GET")],
    "crash": [("/crash", "GET")],
    "leave": [("/exit", "GET")],
    "talk": [("/print", "GET")],
    "raw": [("/raw", "GET")],
    "headers": [("/headers", "GET")],
    "binary": [("/binary", "GET")],
    "upload": [("/upload", "POST")],
    "sized": [("/sized", "GET")],
    "spawn": [("/spawn", "GET")],
    "ctx": [("/context", "GET")],
}


def publish_code(paths: LocalPaths, project: Path, version: str) -> tuple[str, str]:
    """Write the test app, package it with teal's packager, store the artifact."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "app.py").write_text(textwrap.dedent(APP_SOURCE.format(version=version)))
    package = build_package(project)
    target = paths.artifact(package.key)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(package.data)
    return package.sha256, package.key


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{name}"


def make_function(
    name: str,
    sha: str,
    key: str,
    *,
    timeout_s: int = 5,
    api_id: str = "*",
    app_function: str | None = None,
) -> FunctionSpec:
    return FunctionSpec(
        name=name,
        arn=function_arn(name),
        code_sha256=sha,
        code_key=key,
        handler="teal.runtime.entry.handler",
        runtime=RUNTIME,
        memory_mb=256,
        timeout_s=timeout_s,
        variables={
            "TEAL_ENTRY": "app:app",
            "TEAL_FUNCTION": app_function or name.rsplit("-", 1)[-1],
            "CUSTOM": "yes",
        },
        invoke_source_arns=(
            f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{api_id}/*/*/*",
        ),
    )


@dataclass
class FakeServingState:
    """An in-memory ServingState; every change bumps the generation."""

    stages: dict[tuple[str, str], ServedStage] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    domain_routes: dict[str, DomainRoute] = field(default_factory=dict)
    # (api id, stage, key value) -> the id of a key a usage plan of the stage holds
    api_keys: dict[tuple[str, str, str], str] = field(default_factory=dict)
    counter: int = 0

    def generation(self) -> int:
        return self.counter

    def stage(self, api_id: str, stage_name: str) -> ServedStage | None:
        return self.stages.get((api_id, stage_name))

    def function_by_arn(self, arn: str) -> FunctionSpec | None:
        return self.functions.get(arn)

    def function_named(self, name: str) -> FunctionSpec | None:
        return next((f for f in self.functions.values() if f.name == name), None)

    def domains(self) -> list[DomainRoute]:
        return list(self.domain_routes.values())

    def api_key(self, api_id: str, stage_name: str, value: str) -> str | None:
        return self.api_keys.get((api_id, stage_name, value))

    # -- writing, as the control plane would

    def put_api_key(self, api_id: str, stage_name: str, value: str, key_id: str) -> None:
        self.api_keys[(api_id, stage_name, value)] = key_id
        self.counter += 1

    def put_function(self, spec: FunctionSpec) -> None:
        self.functions[spec.arn] = spec
        self.counter += 1

    def put_stage(self, served: ServedStage) -> None:
        self.stages[(served.api_id, served.stage_name)] = served
        self.counter += 1

    def put_domain(self, domain: DomainRoute) -> None:
        self.domain_routes[domain.name] = domain
        self.counter += 1

    def deploy_app(
        self,
        paths: LocalPaths,
        project: Path,
        *,
        api_id: str,
        version: str,
        stage: str = "dev",
        timeout_s: int = 5,
        binary_media_types: tuple[str, ...] = DEFAULT_BINARY_MEDIA_TYPES,
    ) -> None:
        """Every test function under its own name, prefixed by the API id, and a stage."""
        sha, key = publish_code(paths, project, version)
        routes: list[RouteIntegration] = []
        for fn in FUNCTIONS:
            spec = make_function(
                f"{api_id}-{fn}", sha, key, timeout_s=timeout_s, api_id=api_id, app_function=fn
            )
            self.put_function(spec)
            routes.extend(RouteIntegration(p, m, spec.arn) for p, m in ROUTES[fn])
        deployment = f"dep-{api_id}-{version}"
        self.put_stage(
            ServedStage(api_id, stage, deployment, tuple(routes), {}, binary_media_types)
        )

    # -- a JSON form, for a gateway running in another process

    def to_json(self) -> dict[str, Any]:
        return {
            "counter": self.counter,
            "stages": [asdict(s) for s in self.stages.values()],
            "functions": [asdict(f) for f in self.functions.values()],
            "domains": [asdict(d) for d in self.domain_routes.values()],
            "api_keys": [[*where, key_id] for where, key_id in self.api_keys.items()],
        }

    def save(self, paths: LocalPaths) -> None:
        target = paths.home / JsonServingState.FILE
        scratch = target.with_suffix(".tmp")
        scratch.write_text(json.dumps(self.to_json()))
        scratch.replace(target)


def _route_from(data: dict[str, Any]) -> RouteIntegration:
    mock = data.pop("mock", None)
    if mock is not None:
        mock = MockAnswer(mock["status"], tuple((k, v) for k, v in mock["headers"]))
    return RouteIntegration(**data, mock=mock)


def _stage_from(data: dict[str, Any]) -> ServedStage:
    routes = tuple(_route_from(r) for r in data.pop("routes"))
    data["authorizers"] = {
        key: AuthorizerSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
        for key, spec in data.get("authorizers", {}).items()
    }
    data["gateway_responses"] = {
        key: GatewayResponseSpec(
            spec["type"], spec["status"], tuple((k, v) for k, v in spec["headers"])
        )
        for key, spec in data.get("gateway_responses", {}).items()
    }
    types = tuple(data.pop("binary_media_types", ()))
    return ServedStage(routes=routes, binary_media_types=types, **data)


def _function_from(data: dict[str, Any]) -> FunctionSpec:
    data["invoke_source_arns"] = tuple(data["invoke_source_arns"])
    data["host"] = HostSettings(**data.get("host", {}))
    return FunctionSpec(**data)


def _domain_from(data: dict[str, Any]) -> DomainRoute:
    mappings = {k: (v[0], v[1]) for k, v in data.pop("mappings").items()}
    return DomainRoute(mappings=mappings, **data)


class JsonServingState:
    """ServingState read from ``$TEAL_HOME/fake-serving.json``, reloaded when it changes."""

    FILE = "fake-serving.json"

    def __init__(self, paths: LocalPaths) -> None:
        self.file = paths.home / self.FILE
        self._stamp: int = -1
        self._state = FakeServingState()

    def _current(self) -> FakeServingState:
        try:
            stamp = self.file.stat().st_mtime_ns
        except FileNotFoundError:
            return self._state
        if stamp != self._stamp:
            data = json.loads(self.file.read_text())
            state = FakeServingState(counter=int(data["counter"]))
            for s in data["stages"]:
                state.stages[(s["api_id"], s["stage_name"])] = _stage_from(s)
            for f in data["functions"]:
                state.functions[f["arn"]] = _function_from(f)
            for d in data["domains"]:
                state.domain_routes[d["name"]] = _domain_from(d)
            for api_id, stage_name, value, key_id in data.get("api_keys", []):
                state.api_keys[(api_id, stage_name, value)] = key_id
            self._state, self._stamp = state, stamp
        return self._state

    def generation(self) -> int:
        return self._current().generation()

    def stage(self, api_id: str, stage_name: str) -> ServedStage | None:
        return self._current().stage(api_id, stage_name)

    def function_by_arn(self, arn: str) -> FunctionSpec | None:
        return self._current().function_by_arn(arn)

    def function_named(self, name: str) -> FunctionSpec | None:
        return self._current().function_named(name)

    def domains(self) -> list[DomainRoute]:
        return self._current().domains()

    def api_key(self, api_id: str, stage_name: str, value: str) -> str | None:
        return self._current().api_key(api_id, stage_name, value)


# ---------------------------------------------------------------- a gateway process

FAKE_STATE = "test_gateway_support:JsonServingState"
TESTS = Path(__file__).resolve().parent


class Cloud:
    """A tmp TEAL_HOME with a fake serving state, and the gateway it runs."""

    def __init__(self, tmp_path: Path) -> None:
        self.paths = LocalPaths(tmp_path / "home")
        self.paths.home.mkdir(parents=True)
        self.port = free_port()
        self.state = FakeServingState()
        self.tmp = tmp_path

    def deploy(self, api_id: str, version: str) -> None:
        self.state.deploy_app(self.paths, self.tmp / api_id, api_id=api_id, version=version)
        self.state.save(self.paths)

    def map_domain(self, port: int, api_id: str) -> None:
        self.state.put_domain(DomainRoute("api.example.com", port, {"": (api_id, "dev")}))
        self.state.save(self.paths)

    def start(self) -> int:
        status = ensure_gateway(self.paths, self.port, serving_state=FAKE_STATE)
        assert status.running and status.pid
        return status.pid


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", f"{TESTS}{os.pathsep}{path}" if path else str(TESTS))
    cloud = Cloud(tmp_path)
    cloud.deploy("blue", "v1")
    yield cloud
    stop_gateway(cloud.paths)
