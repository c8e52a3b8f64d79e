"""What a worker gets of Lambda's execution environment: read-only code, a private
/tmp, Lambda's variables, the environment's region and the user's credentials, and
the memory limit. Real worker processes."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import zipfile
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from e2e import LocalCloudEnv, free_port, get
from teal.cloud.local.functions.sandbox import lambda_trace_id
from teal.cloud.local.functions.workers import FailureKind, InvocationError, WorkerManager
from teal.cloud.local.model import LOCAL_ACCOUNT_ID, LOCAL_REGION, FunctionSpec, HostSettings
from teal.cloud.local.paths import LocalPaths
from teal.project.package import build_package
from test_gateway_support import make_function

T = TypeVar("T")

APP = """
import gc
import os
import tempfile
import time

from teal import App

app = App()
HOARD = []


@app.route("/write-code", function="files", raw=True)
def write_code(event, context):
    try:
        with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "new.txt"), "w") as out:
            out.write("x")
    except OSError as exc:
        return {"statusCode": 200, "body": type(exc).__name__}
    return {"statusCode": 200, "body": "written"}


@app.route("/write-tmp", function="files", raw=True)
def write_tmp(event, context):
    path = os.path.join(tempfile.gettempdir(), "note.txt")
    with open(path, "w") as out:
        out.write("kept")
    return {"statusCode": 200, "body": path}


@app.route("/env", function="env", raw=True)
def env(event, context):
    names = [
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
        "_X_AMZN_TRACE_ID", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "TMPDIR", "AWS_LAMBDA_RUNTIME_API",
    ]
    found = {name: os.environ.get(name) for name in names}
    found["tempdir"] = tempfile.gettempdir()
    found["arn"] = context.invoked_function_arn
    return {"statusCode": 200, "body": __import__("json").dumps(found)}


@app.route("/hoard", function="memory", raw=True)
def hoard(event, context):
    # keeps what it takes, a little at a time: a runaway the gateway must stop
    while True:
        HOARD.append(bytearray(8 * 1024 * 1024))
        time.sleep(0.01)


@app.route("/spike", function="memory", raw=True)
def spike(event, context):
    # a short peak over the limit, gone before the handler returns
    block = bytearray(int(event["queryStringParameters"]["mb"]) * 1024 * 1024)
    del block
    gc.collect()
    return {"statusCode": 200, "body": "survived"}
"""


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def publish(paths: LocalPaths, project: Path) -> tuple[str, str]:
    project.mkdir(parents=True, exist_ok=True)
    (project / "app.py").write_text(textwrap.dedent(APP))
    package = build_package(project)
    target = paths.artifact(package.key)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(package.data)
    return package.sha256, package.key


def event(path: str, query: dict[str, str] | None = None, **headers: str) -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": "GET",
        "headers": headers or None,
        "queryStringParameters": query,
    }


@pytest.fixture
def paths(tmp_path: Path) -> LocalPaths:
    return LocalPaths(tmp_path / "home")


@pytest.fixture
def code(paths: LocalPaths, tmp_path: Path) -> tuple[str, str]:
    return publish(paths, tmp_path / "app")


def spec_for(code: tuple[str, str], fn: str, **changes: Any) -> FunctionSpec:
    return replace(make_function(f"t-{fn}", *code, app_function=fn), **changes)


def body(result: Any) -> Any:
    text = result["body"]
    return json.loads(text) if text.startswith("{") else text


def test_the_code_folder_is_read_only_and_tmp_is_private_and_goes_with_the_worker(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    async def scenario() -> tuple[str, str, str, bool]:
        manager = WorkerManager(paths)
        spec = spec_for(code, "files")
        denied = body(await manager.invoke(spec, event("/write-code"), "r1"))
        first = body(await manager.invoke(spec, event("/write-tmp"), "r2"))
        other = body(await manager.invoke(spec_for(code, "env"), event("/env"), "r3"))
        kept = Path(first).read_text()
        await manager.close()
        await asyncio.sleep(0.2)  # the folder is removed off the loop once the worker exited
        return denied, first, other["tempdir"], Path(first).exists() or kept != "kept"

    denied, note, other_tmp, left_behind = run(scenario())
    # Lambda's /var/task is a read-only file system (EROFS); here the modes deny it (EACCES)
    assert denied == "PermissionError"
    assert not (paths.code / code[0] / "new.txt").exists()
    assert Path(note).parent != Path(other_tmp)  # each worker its own
    assert Path(note).is_relative_to(paths.home / "tmp")
    assert not left_behind


def test_workers_see_the_variables_lambda_sets_and_a_trace_id_per_request(
    paths: LocalPaths, code: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(paths.home / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(paths.home / "none"))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)

    async def scenario() -> list[dict[str, Any]]:
        manager = WorkerManager(paths)
        spec = spec_for(code, "env")
        traced = event("/env", **{"X-Amzn-Trace-Id": "Root=1-65f0a1b2-0123456789abcdef01234567"})
        answers = [
            body(await manager.invoke(spec, traced, "r1")),
            body(await manager.invoke(spec, event("/env"), "r2")),
        ]
        await manager.close()
        return answers

    first, second = run(scenario())
    assert first["AWS_REGION"] == first["AWS_DEFAULT_REGION"] == LOCAL_REGION
    assert first["AWS_LAMBDA_FUNCTION_NAME"] == "t-env"
    assert first["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert first["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert first["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert first["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/t-env"
    assert "[$LATEST]" in first["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert first["LAMBDA_TASK_ROOT"] == str(paths.code / code[0])
    assert Path(first["LAMBDA_RUNTIME_DIR"]).is_dir()
    assert first["TMPDIR"] == first["tempdir"]
    # the request's trace continues, with a parent of Lambda's own
    assert first["_X_AMZN_TRACE_ID"].startswith("Root=1-65f0a1b2-0123456789abcdef01234567;Parent=")
    assert first["_X_AMZN_TRACE_ID"].endswith(";Sampled=0")
    assert second["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert second["_X_AMZN_TRACE_ID"] != first["_X_AMZN_TRACE_ID"]
    # no credentials anywhere: set as on Lambda, to a value that is plainly no key
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert first[name] == "teal-local-no-credentials"
    assert first["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001"
    assert first["arn"] == f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:t-env"


def test_region_and_credentials_follow_the_environments_aws_settings(
    paths: LocalPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[work]\naws_access_key_id = AKIAWORK\naws_secret_access_key = secret-work\n"
        "aws_session_token = token-work\n"
    )
    config = tmp_path / "config"
    config.write_text("[profile work]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    code = publish(paths, tmp_path / "app")

    async def scenario() -> list[dict[str, Any]]:
        manager = WorkerManager(paths)
        answers = []
        # as a deploy of each env records them: [aws] region and profile, or the profile alone
        for env, host in (
            ("dev", HostSettings("eu-west-1", "work")),
            ("prod", HostSettings(None, "work")),
        ):
            spec = spec_for(code, "env", host=host, name=f"t-env-{env}")
            answers.append(body(await manager.invoke(spec, event("/env"), "r")))
        await manager.close()
        return answers

    dev, prod = run(scenario())
    assert dev["AWS_REGION"] == dev["AWS_DEFAULT_REGION"] == "eu-west-1"  # [aws] region
    # [env.prod.aws] names no region: the profile's, as a deploy of prod would use
    assert prod["AWS_REGION"] == "ap-south-1"
    # the function's ARN is in the region it runs in, and in the local cloud's one account
    assert dev["arn"] == f"arn:aws:lambda:eu-west-1:{LOCAL_ACCOUNT_ID}:function:t-env-dev"
    assert prod["arn"] == f"arn:aws:lambda:ap-south-1:{LOCAL_ACCOUNT_ID}:function:t-env-prod"
    for answer in (dev, prod):
        assert answer["AWS_ACCESS_KEY_ID"] == "AKIAWORK"
        assert answer["AWS_SECRET_ACCESS_KEY"] == "secret-work"
        assert answer["AWS_SESSION_TOKEN"] == "token-work"


DEPLOYED_APP = """\
import os
import sys

from teal import App

app = App()


@app.route("/settings")
def settings(request):
    names = ("AWS_REGION", "AWS_ACCESS_KEY_ID", "GREETING")
    return {**{name: os.environ.get(name) for name in names}, "python": sys.executable}
"""


def test_a_deployed_function_runs_with_its_environments_settings_without_teal_toml_in_its_zip(
    tmp_path: Path,
) -> None:
    """The zip carries no teal.toml, as the one Lambda gets does not: [app.environment]
    reaches the function as its variables, and [aws] and [local] as the deploy recorded
    them in the local cloud."""
    interpreter = tmp_path / "bin" / "python-for-teal"
    interpreter.parent.mkdir()
    interpreter.symlink_to(sys.executable)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "app.py").write_text(DEPLOYED_APP)
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (project / "teal.toml").write_text(
        f'[app]\nname = "settings"\nruntime = "{runtime}"\n'
        '[app.environment]\nGREETING = "hello"\n'
        '[aws]\nregion = "eu-west-1"\nprofile = "work"\n'
        f'[local]\npython = "{interpreter}"\n'
    )
    (tmp_path / "credentials").write_text(
        "[work]\naws_access_key_id = AKIAWORK\naws_secret_access_key = secret-work\n"
    )
    aws = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
    }
    cloud = LocalCloudEnv(tmp_path / "home", free_port(), project)
    try:
        deployed = cloud.teal("deploy", "--json", env=aws)
        assert deployed.code == 0, deployed.err
        status, answer = get(deployed.json()["endpoint"] + "settings")
    finally:
        cloud.teal("local", "stop")
    assert status == 200, answer
    assert json.loads(answer) == {
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "AKIAWORK",
        "GREETING": "hello",
        "python": str(interpreter),
    }
    zipped = cloud.home / "artifacts" / "code" / f"{deployed.json()['code_sha256']}.zip"
    with zipfile.ZipFile(zipped) as archive:
        assert "app.py" in archive.namelist() and "teal.toml" not in archive.namelist()


def out_of_memory_logged(paths: LocalPaths, request_id: str) -> bool:
    logs = "".join(p.read_text() for p in (paths.logs / "t-memory").glob("*.log"))
    line = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
    return f"{line}\nRuntime.OutOfMemory" in logs


def test_a_runaway_handler_is_ended_at_its_memory_and_the_invocation_fails(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    spec = spec_for(code, "memory", memory_mb=128)

    async def scenario() -> tuple[InvocationError, Any, int]:
        manager = WorkerManager(paths)
        with pytest.raises(InvocationError) as runaway:
            await manager.invoke(spec, event("/hoard"), "req-hoard")
        fine = await manager.invoke(spec, event("/spike", {"mb": "16"}), "req-fine")
        started = manager.stats()[0].started
        await manager.close()
        return runaway.value, fine, started

    runaway, fine, started = run(scenario())
    assert runaway.kind is FailureKind.OUT_OF_MEMORY  # not a timeout: ended at the limit
    assert "signal: killed" in runaway.message
    assert fine["body"] == "survived"
    assert started == 2  # the runaway's worker is gone: the next request started cold
    assert out_of_memory_logged(paths, "req-hoard")


def test_a_short_peak_over_the_memory_fails_the_invocation_too(
    paths: LocalPaths, code: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gone before the handler returns, and never sampled: the worker's own peak tells."""
    monkeypatch.setattr("teal.cloud.local.functions.workers.MEMORY_POLL_S", 3600.0)
    spec = spec_for(code, "memory", memory_mb=128)

    async def scenario() -> tuple[InvocationError, int]:
        manager = WorkerManager(paths)
        await manager.invoke(spec, event("/spike", {"mb": "16"}), "req-fine")
        with pytest.raises(InvocationError) as spiked:
            await manager.invoke(spec, event("/spike", {"mb": "200"}), "req-spike")
        await manager.invoke(spec, event("/spike", {"mb": "16"}), "req-after")
        started = manager.stats()[0].started
        await manager.close()
        return spiked.value, started

    spiked, started = run(scenario())
    assert spiked.kind is FailureKind.OUT_OF_MEMORY
    assert started == 2
    assert out_of_memory_logged(paths, "req-spike")


def test_lambda_trace_ids_keep_the_root_they_are_given() -> None:
    given = lambda_trace_id("Root=1-5-abc;Parent=1;Sampled=1")
    assert given.startswith("Root=1-5-abc;Parent=") and given.endswith(";Sampled=0")
    assert lambda_trace_id(None).startswith("Root=1-")


def test_a_root_no_header_could_carry_gets_a_new_one() -> None:
    for odd in ("Root=1-5-a\x00b", "Root=1-5-\u00e9", "Root=1-5-a\nb"):
        made = lambda_trace_id(odd)
        assert made.startswith("Root=1-") and made.split(";")[0] != odd
        assert made.isascii() and made.isprintable()


def test_a_worker_started_by_a_large_process_is_measured_alone(
    paths: LocalPaths, code: tuple[str, str]
) -> None:
    """The gateway may hold more than a function's memory; its workers start small."""
    ballast = b"x" * (300 * 1024 * 1024)  # every page touched: resident in this process
    spec = spec_for(code, "memory", memory_mb=128)

    async def scenario() -> Any:
        manager = WorkerManager(paths)
        answer = await manager.invoke(spec, event("/spike", {"mb": "16"}), "req-small")
        await manager.close()
        return answer

    assert run(scenario())["body"] == "survived"
    assert len(ballast) > spec.memory_mb * 1024 * 1024
