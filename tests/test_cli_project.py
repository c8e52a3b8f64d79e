"""`teal --version`, `teal init` and `teal routes`, as a user runs them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conftest import EXAMPLE_BLOG, run_teal_subprocess
from runtime_here import RUNTIME
from teal import __version__
from teal.cli import project
from teal.project.config import load_project
from teal.runtime.errors import UserError


def test_version(teal_cli: Callable[..., Any]) -> None:
    result = teal_cli("--version")
    assert result.code == 0 and result.out.strip() == f"teal {__version__}"


def test_init_then_routes_in_a_child_process(tmp_path: Path) -> None:
    created = run_teal_subprocess("init", "demo", cwd=tmp_path)
    assert created.code == 0, created.err
    listed = run_teal_subprocess("routes", "--project", "demo", "--json", cwd=tmp_path)
    assert listed.code == 0, listed.err
    payload = listed.json()
    assert payload["app"] == "demo"
    assert {(r["path"], tuple(r["methods"])) for r in payload["routes"]} == {
        ("/health", ("GET",)),
        ("/items", ("GET",)),
        ("/items", ("POST",)),
        ("/items/{id}", ("GET",)),
    }
    text = run_teal_subprocess("routes", "--project", "demo", cwd=tmp_path)
    assert "/items/{id}" in text.out and "app.show_item" in text.out


def test_init_writes_the_runtime_of_the_python_teal_runs_on(
    tmp_path: Path, teal_cli: Callable[..., Any]
) -> None:
    """The local cloud runs functions on their runtime's own Python only: a new app gets the
    one that is surely on this machine, and says so."""
    created = teal_cli("init", str(tmp_path / "x"))
    assert created.code == 0, created.err
    assert f'runtime = "{RUNTIME}"' in (tmp_path / "x" / "teal.toml").read_text()
    assert f"({RUNTIME})" in created.err


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        ({"python3.11"}, "python3.11"),
        ({"python3.11", "python3.13"}, "python3.13"),
        (set(), "python3.12"),
    ],
)
def test_init_on_a_python_lambda_lacks_takes_the_newest_runtime_this_machine_has(
    monkeypatch: pytest.MonkeyPatch, found: set[str], expected: str
) -> None:
    """teal on a Python newer than Lambda's runtimes: the newest one found here, or the
    config's default when none is (the deploy then says what to install)."""

    def find(runtime: str) -> object:
        if runtime not in found:
            raise UserError(f"no {runtime}", where="PATH", hint="install it")
        return object()

    newer = SimpleNamespace(version_info=SimpleNamespace(major=3, minor=99))
    monkeypatch.setattr(project, "sys", newer)
    monkeypatch.setattr(project, "find_interpreter", find)
    assert project.runtime_for_a_new_app() == expected


@pytest.mark.parametrize("template", sorted(project.TEMPLATES))
def test_init_shows_the_domain_section_commented_out_and_valid_once_uncommented(
    tmp_path: Path, teal_cli: Callable[..., Any], template: str
) -> None:
    """The blue-green story needs a [domain]: each new app shows one to fill in."""
    assert teal_cli("init", str(tmp_path / "x"), "--template", template).code == 0
    toml = tmp_path / "x" / "teal.toml"
    assert load_project(tmp_path / "x").config.domain is None  # nothing served by default
    lines = toml.read_text().splitlines()
    assert "# [domain]" in lines
    uncommented = [
        line[2:] if line.startswith(("# [domain]", "# name =", "# base_path =")) else line
        for line in lines
    ]
    toml.write_text("\n".join(uncommented) + "\n")
    domain = load_project(tmp_path / "x").config.domain
    assert domain is not None and (domain.name, domain.base_path) == ("api.example.com", "")


def test_init_refuses_to_overwrite(tmp_path: Path, teal_cli: Callable[..., Any]) -> None:
    assert teal_cli("init", str(tmp_path / "x")).code == 0
    again = teal_cli("init", str(tmp_path / "x"))
    assert again.code == 2 and "already exists" in again.err


def test_example_blog_routes(teal_cli: Callable[..., Any]) -> None:
    result = teal_cli("routes", "--project", str(EXAMPLE_BLOG), "--json")
    assert result.code == 0
    paths = {r["path"] for r in result.json()["routes"]}
    assert {"/health", "/posts", "/posts/{id}"} <= paths


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import nonexistent_lib\n", ["app.py:1", "No module named 'nonexistent_lib'"]),
        ("x = 1\ny = 1 / 0\n", ["app.py:2", "ZeroDivisionError"]),
        ("def broken(:\n", ["app.py:1", "syntax error"]),
        ("app = 3\n", ["app:app is neither a teal App nor an ASGI or WSGI app (found int)"]),
        ("from teal import App\napp = App()\n", ["has no routes"]),
    ],
)
def test_user_code_errors_are_reported_as_the_users(
    make_project: Callable[..., Path],
    teal_cli: Callable[..., Any],
    source: str,
    expected: list[str],
) -> None:
    root = make_project(source)
    result = teal_cli("routes", "--project", str(root))
    assert result.code == 2
    for fragment in expected:
        assert fragment in result.err
    assert result.out == ""


def test_missing_module(make_project: Callable[..., Path], teal_cli: Callable[..., Any]) -> None:
    toml = f'[app]\nname = "demo"\nentry = "service:app"\nruntime = "{RUNTIME}"\n'
    root = make_project("", toml=toml)
    result = teal_cli("routes", "--project", str(root))
    assert result.code == 2 and "module 'service' not found" in result.err


def test_bad_config_exits_2(
    make_project: Callable[..., Path], teal_cli: Callable[..., Any]
) -> None:
    root = make_project("", toml='[app]\nname = "demo"\nbogus = 1\n')
    result = teal_cli("routes", "--project", str(root))
    assert result.code == 2 and "unknown key 'app.bogus'" in result.err


def test_unknown_option_exits_2(teal_cli: Callable[..., Any]) -> None:
    assert teal_cli("routes", "--nope").code == 2
