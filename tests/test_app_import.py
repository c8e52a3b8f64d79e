"""What the app does while teal imports it cannot break the CLI's contract:
stdout holds only teal's results; an exit, a crash, a kill or an import that never
ends is the user's error (exit 2, naming the line); nothing the import starts keeps
teal waiting or outlives it; and Ctrl-C still interrupts the command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import run_teal_subprocess
from e2e import LocalCloudEnv, Run
from teal.processes import is_running

NOISY_APP = """\
import ctypes, os, sys
from teal import App

print("hello from print")
sys.stdout.write("hello from sys.stdout\\n")
os.write(1, b"hello from fd 1\\n")
ctypes.CDLL(None).printf(b"hello from C\\n")

app = App()

@app.route("/hello")
def hello(request):
    return {"hello": "world"}
"""


def test_output_at_import_goes_to_stderr(make_project: Callable[..., Path]) -> None:
    root = make_project(NOISY_APP)
    result = run_teal_subprocess("routes", "--json", "--project", str(root))
    assert result.code == 0, result.err
    assert json.loads(result.out)["routes"][0]["path"] == "/hello"  # stdout: the JSON only
    for source in ("print", "sys.stdout", "fd 1", "C"):
        assert f"hello from {source}" in result.err


def test_stdout_works_again_after_the_import(
    make_project: Callable[..., Path], teal_cli: Callable[..., Run]
) -> None:
    from teal.project.loader import load_routes

    root = make_project(NOISY_APP.replace('ctypes.CDLL(None).printf(b"hello from C\\n")', ""))
    load_routes(root, "app:app", "python3.11")
    print("after")
    result = teal_cli("routes", "--json", "--project", str(root))
    assert result.out.startswith("after\n{")


def test_print_at_import_keeps_deploy_json_clean(local_cloud: LocalCloudEnv) -> None:
    app = local_cloud.project / "app.py"
    app.write_text('print("starting the blog")\n' + app.read_text())
    result = local_cloud.teal("deploy", "--json")
    assert result.code == 0, result.err
    assert result.json()["status"] == "CREATE_COMPLETE"
    assert "starting the blog" in result.err


EXIT_APP = """\
from teal import App

app = App()

@app.route("/hello")
def hello(request):
    return "hi"

import sys
sys.exit({code})
"""


@pytest.mark.parametrize("code", ["0", "3", '"bye"'])
def test_exit_during_import_is_a_user_error(
    make_project: Callable[..., Path], teal_cli: Callable[..., Run], code: str
) -> None:
    root = make_project(EXIT_APP.format(code=code))
    result = teal_cli("routes", "--json", "--project", str(root))
    assert result.code == 2
    error = result.json()["error"]
    assert error["kind"] == "bad-input"
    assert "the app exited during import" in error["what"]
    assert error["where"] == f"{root / 'app.py'}:10"
    assert "sys.exit()" in error["hint"]


def test_exit_during_deploy_changes_nothing(local_cloud: LocalCloudEnv) -> None:
    app = local_cloud.project / "app.py"
    app.write_text(app.read_text() + "\nimport sys\nsys.exit(0)\n")
    result = local_cloud.teal("deploy", "--json")
    assert result.code == 2, result.err
    error = result.json()["error"]
    assert error["kind"] == "bad-input" and "exited during import" in error["what"]
    assert error["where"].startswith(f"{app}:")
    assert local_cloud.teal_ok("status", "--json").json()["environments"] == []


def test_import_error_hint_names_the_deepest_user_frame(
    make_project: Callable[..., Path], teal_cli: Callable[..., Run]
) -> None:
    root = make_project("import helpers\n")
    (root / "helpers.py").write_text(textwrap.dedent("x = 1\nraise RuntimeError('boom')\n"))
    result = teal_cli("routes", "--project", str(root))
    assert result.code == 2
    err = " ".join(result.err.split())
    assert f"{root / 'helpers.py'}:2" in err
    assert "exactly as Lambda" not in err
    assert "as each deployed function does before its first request" in err


# What no app should do at import, and what teal answers: the where and words it names.
HELLO_APP = """\
from teal import App

app = App()

@app.route("/hello")
def hello(request):
    return "hi"

"""
ENDINGS = {
    "os._exit": ("import os\nos._exit(3)\n", 10, "the app called os._exit(3) during import"),
    "SIGKILL": (
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
        None,
        "importing the app ended its process: SIGKILL",
    ),
    "segfault": (
        "import ctypes\nctypes.string_at(0)\n",
        10,
        "importing the app ended its process: SIGSEGV",
    ),
    "KeyboardInterrupt": (
        "raise KeyboardInterrupt\n",
        9,
        "the app raised KeyboardInterrupt during import",
    ),
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_an_import_that_ends_its_process_is_bad_input(
    make_project: Callable[..., Path], ending: str
) -> None:
    code, line, what = ENDINGS[ending]
    root = make_project(HELLO_APP + code)
    result = run_teal_subprocess("routes", "--json", "--project", str(root))
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    error = result.json()["error"]
    assert error["kind"] == "bad-input"
    assert error["what"].startswith(what)
    app = root / "app.py"
    assert error["where"] == (f"{app}:{line}" if line else str(app))  # SIGKILL: no stack
    assert error["hint"]


def test_every_command_that_reads_the_app_refuses_a_crashing_import(
    local_cloud: LocalCloudEnv,
) -> None:
    app = local_cloud.project / "app.py"
    app.write_text(app.read_text() + "\nimport ctypes\nctypes.string_at(0)\n")
    out = local_cloud.project.parent / "out"
    for command in (["routes"], ["template"], ["package", "--out", str(out)], ["deploy"]):
        result = local_cloud.teal(*command, "--json")
        assert result.code == 2, (command, result.err)
        assert "Traceback" not in result.err
        error = result.json()["error"]
        assert "SIGSEGV" in error["what"], command
        assert error["where"].startswith(f"{app}:"), command
    assert local_cloud.teal_ok("status", "--json").json()["environments"] == []


def _pid_written(path: Path) -> int:
    deadline = time.monotonic() + 60
    while not path.is_file() or not path.read_text().strip():
        assert time.monotonic() < deadline, f"the app never wrote {path}"
        time.sleep(0.02)
    return int(path.read_text())


BACKGROUND = {
    "Popen": """\
import subprocess
child = subprocess.Popen(["sleep", "600"])
open({pid_file!r}, "w").write(str(child.pid))
""",
    "fork": """\
import os, time
child = os.fork()
if child == 0:  # keeps the import's stdout and stderr open
    time.sleep(600)
    os._exit(0)
open({pid_file!r}, "w").write(str(child))
""",
}


@pytest.mark.parametrize("kind", sorted(BACKGROUND))
def test_a_process_the_import_starts_is_not_waited_for_and_is_ended(
    make_project: Callable[..., Path], tmp_path: Path, kind: str
) -> None:
    pid_file = tmp_path / "child.pid"
    root = make_project(HELLO_APP + BACKGROUND[kind].format(pid_file=str(pid_file)))
    result = run_teal_subprocess("routes", "--json", "--project", str(root), timeout=60)
    assert result.code == 0, result.err
    assert result.json()["routes"][0]["path"] == "/hello"
    assert not is_running(_pid_written(pid_file))


SLOW_APP = """\
import subprocess, time
child = subprocess.Popen(["sleep", "600"])
open({pid_file!r}, "w").write(str(child.pid))
time.sleep(600)
"""


def test_an_import_that_never_ends_is_stopped_at_its_bound(
    local_cloud: LocalCloudEnv, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    app = local_cloud.project / "app.py"
    app.write_text(app.read_text() + SLOW_APP.format(pid_file=str(pid_file)))
    line = app.read_text().splitlines().index("time.sleep(600)") + 1
    result = local_cloud.teal("deploy", "--json", timeout=60, env={"TEAL_IMPORT_TIMEOUT": "1.5"})
    assert result.code == 2, result.err
    error = result.json()["error"]
    assert error["kind"] == "bad-input"
    assert error["what"].startswith("importing the app took more than 1.5 s")
    assert error["where"] == f"{app}:{line}"  # where the import stood when it was stopped
    assert "TEAL_IMPORT_TIMEOUT" in error["hint"]
    assert not is_running(_pid_written(pid_file))  # the whole group was killed
    status = local_cloud.teal_ok("status", "--json").json()
    assert status["locks"] == [] and status["environments"] == []


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "901"])
def test_a_bad_import_timeout_names_the_variable(
    make_project: Callable[..., Path],
    teal_cli: Callable[..., Run],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    root = make_project(HELLO_APP)
    monkeypatch.setenv("TEAL_IMPORT_TIMEOUT", value)
    result = teal_cli("routes", "--json", "--project", str(root))
    assert result.code == 2, result.err
    error = result.json()["error"]
    assert error["where"] == "TEAL_IMPORT_TIMEOUT"
    assert "at most 900" in error["hint"]


def test_ctrl_c_during_the_import_interrupts_the_command(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    """Ctrl-C reaches the terminal's whole foreground group: here teal's own group. The
    import runs in a group of its own, which teal ends; the command exits 130."""
    pid_file = tmp_path / "child.pid"
    root = make_project(HELLO_APP + SLOW_APP.format(pid_file=str(pid_file)))
    command = [sys.executable, "-m", "teal", "routes", "--json", "--project", str(root)]
    teal = subprocess.Popen(
        command, process_group=0, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        child = _pid_written(pid_file)
        os.killpg(teal.pid, signal.SIGINT)
        out, err = teal.communicate(timeout=60)
    finally:
        teal.kill()
    assert teal.returncode == 130, err
    assert "Traceback" not in err
    assert json.loads(out)["error"]["kind"] == "interrupted"
    assert not is_running(child)
