"""What the app does while teal imports it cannot break the CLI's contract:
stdout holds only teal's results, and an exit during import is the user's error."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import run_teal_subprocess
from e2e import LocalCloudEnv, Run

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
