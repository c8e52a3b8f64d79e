"""The app is read, and runs, in the runtime's own world: its Python, its requirements,
the runtime's SDK, and nothing installed beside teal."""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import metadata, util
from pathlib import Path

import pytest

from conftest import run_teal_subprocess
from e2e import Run
from teal.project import runtimes
from teal.project.runtimes import find_interpreter, requirements_of
from teal.runtime.errors import UserError

ROUTES_APP = """\
{imports}
from teal import App

app = App()


@app.route("/hello")
def hello(request):
    return "hi"
"""


def toml(runtime: str = "python3.11", extra: str = "") -> str:
    return f'[app]\nname = "demo"\nentry = "app:app"\nruntime = "{runtime}"\n{extra}'


def other_python() -> str:
    """A runtime other than teal's own Python that this machine has, or skip."""
    for runtime in ("python3.12", "python3.13"):
        try:
            find_interpreter(runtime)
        except UserError:
            continue
        return runtime
    pytest.skip("no Python 3.12 or 3.13 on this machine")


def routes(root: Path, env: dict[str, str] | None = None) -> Run:
    return run_teal_subprocess("routes", "--json", "--project", str(root), env=env)


def test_a_package_installed_beside_teal_is_not_importable(
    make_project: Callable[..., Path],
) -> None:
    root = make_project(ROUTES_APP.format(imports="import rich"), toml())
    result = routes(root)
    assert result.code == 2, result.err
    assert "ModuleNotFoundError: No module named 'rich'" in result.err
    assert "add rich to requirements.txt" in result.err


def test_the_runtimes_sdk_is_importable_without_listing_it(
    make_project: Callable[..., Path],
) -> None:
    root = make_project(ROUTES_APP.format(imports="import boto3, botocore"), toml())
    assert routes(root).code == 0


def test_the_app_is_read_by_the_runtimes_python(make_project: Callable[..., Path]) -> None:
    runtime = other_python()
    minor = runtime.removeprefix("python3.")
    check = f"import sys\nassert sys.version_info[:2] == (3, {minor}), sys.version"
    root = make_project(ROUTES_APP.format(imports=check), toml(runtime))
    result = routes(root)
    assert result.code == 0, result.err
    wrong = make_project(ROUTES_APP.format(imports=check), toml("python3.11"), name="wrong")
    assert routes(wrong).code == 2


def test_a_dependency_not_beside_teal_is_installed_once_and_imported(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_project(ROUTES_APP.format(imports="import humanize"), toml())
    (root / "requirements.txt").write_text("humanize==4.11.0\n")
    env = {**os.environ, "TEAL_RUNTIMES_CACHE": str(tmp_path / "runtimes")}
    first = routes(root, env)
    assert first.code == 0, first.err
    assert "installing requirements.txt for Python" in first.err
    again = routes(root, env)
    assert again.code == 0 and "installing" not in again.err
    installed = list((tmp_path / "runtimes").glob("deps-3.11-*/humanize"))
    assert len(installed) == 1


def test_a_requirement_without_a_wheel_is_bad_input(make_project: Callable[..., Path]) -> None:
    root = make_project(ROUTES_APP.format(imports=""), toml())
    (root / "requirements.txt").write_text("this-package-does-not-exist-teal==0.0.1\n")
    result = routes(root)
    assert result.code == 2
    assert "requirements could not be installed" in result.err


def test_no_interpreter_of_the_runtime_is_bad_input_naming_how_to_get_one(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_project(ROUTES_APP.format(imports=""), toml("python3.13"))
    env = {**os.environ, "PATH": "/usr/bin:/bin", "PYENV_ROOT": str(tmp_path / "no-pyenv")}
    env["UV_PYTHON_INSTALL_DIR"] = str(tmp_path / "no-uv-pythons")
    result = routes(root, env)
    if result.code == 0:
        pytest.skip("this machine has a Python 3.13 on its standard path")
    assert result.code == 2
    assert "no Python 3.13 found" in result.err
    assert "uv python install 3.13" in result.err


def test_local_python_must_match_the_runtime(make_project: Callable[..., Path]) -> None:
    root = make_project(
        ROUTES_APP.format(imports=""), toml("python3.12", '[local]\npython = "python3.11"\n')
    )
    result = routes(root)
    assert result.code == 2
    assert "wants 3.12" in result.err


def test_comments_only_requirements_install_nothing(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# nothing yet\n\n")
    assert requirements_of(tmp_path) is None


def test_the_sdks_folders_are_those_a_scan_of_every_installed_package_finds() -> None:
    """The SDK's top-level modules, from its own distributions' metadata, are the same as
    those the slow way (every installed package's metadata) finds."""
    wanted = {runtimes._normal(d) for d in runtimes.SDK_DISTRIBUTIONS}
    scanned: dict[str, str] = {}
    for name, distributions in metadata.packages_distributions().items():
        spec = (
            util.find_spec(name) if wanted & {runtimes._normal(d) for d in distributions} else None
        )
        if spec is not None and spec.origin is not None:
            origin = Path(spec.origin)
            location = origin.parent if origin.name == "__init__.py" else origin
            scanned[location.name] = str(location)
    assert runtimes._sdk_locations() == scanned
    assert {"boto3", "botocore"} <= set(scanned)  # installed with teal
