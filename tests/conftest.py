"""Shared fixtures: throwaway projects and a CLI runner."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from teal.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_BLOG = REPO / "examples" / "blog"

MINIMAL_TOML = """\
[app]
name = "demo"
entry = "app:app"
"""


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


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
def teal_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `teal ARGS...` in this process and capture its exit code and output."""

    def run(*args: str) -> CliResult:
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_teal_subprocess(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> CliResult:
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
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
