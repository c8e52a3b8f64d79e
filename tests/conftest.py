"""Shared fixtures: throwaway projects and a CLI runner."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e import EXAMPLE_BLOG, Run, local_cloud
from teal.cli import main

__all__ = ["EXAMPLE_BLOG", "Run", "local_cloud"]  # local_cloud: a fixture for every test module


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the CLI the tests start even when the suite itself was started in
    the background by a script (``cmd &``), which ignores SIGINT: an ignored signal stays
    ignored in every child, and the tests that press Ctrl-C on a deploy, a watch, a
    follow or ``teal dev`` would wait for nothing."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True, scope="session")
def _private_teal_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test writes into the developer's own $TEAL_HOME (tests that run a local cloud
    give each one a home of its own on top of this); the runtimes' installed
    requirements are shared by every test, as they are content-addressed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEAL_HOME", str(tmp_path_factory.mktemp("teal-home")))
        patch.setenv("TEAL_RUNTIMES_CACHE", str(tmp_path_factory.mktemp("runtimes")))
        yield


MINIMAL_TOML = """\
[app]
name = "demo"
entry = "app:app"
runtime = "python3.11"
"""


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Write teal.toml and app.py (dedented) into a fresh folder."""

    def make(app_source: str, toml: str = MINIMAL_TOML, name: str = "proj") -> Path:
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        (root / "teal.toml").write_text(textwrap.dedent(toml))
        (root / "app.py").write_text(textwrap.dedent(app_source))
        return root

    return make


@pytest.fixture
def teal_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Run `teal ARGS...` in this process and capture its exit code and output."""

    def run(*args: str) -> Run:
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def run_teal_subprocess(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> Run:
    """Run the installed CLI in a child process, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "teal", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)
