"""Dependencies from uv.lock, pyproject.toml or requirements.txt, one at a time: what
each source gives, the choice when several are there, and a local deploy that runs the
locked versions (wheels from a folder the tests write: no network)."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import pytest

from e2e import LocalCloudEnv, free_port, get
from teal.project.dependencies import DependencyChoice, read_dependencies
from teal.project.runtimes import uv_binary
from teal.runtime.errors import PackageError
from test_aws_vendor import wheel

LIB = "tealpin"

PYPROJECT = """\
[project]
name = "shop"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["{lib}>=1"]

[project.optional-dependencies]
extras = ["{lib}<3"]

[tool.uv]
find-links = ["{wheels}"]
no-index = true
"""

APP = f"""\
import importlib.metadata

from teal import App

app = App()


@app.route("/version")
def version(request):
    return {{"version": importlib.metadata.version("{LIB}")}}
"""

TOML = """\
[app]
name = "pins"
entry = "app:app"
runtime = "python3.11"
"""


def locked_project(folder: Path, wheels: Path) -> Path:
    """A project whose uv.lock pins tealpin 1.0, in a folder of wheels that holds 2.0 too
    (published after the lock): only the lock says 1.0."""
    wheels.mkdir(parents=True, exist_ok=True)
    wheel(wheels, LIB, "1.0")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(PYPROJECT.format(lib=LIB, wheels=wheels))
    uv = uv_binary()
    assert uv is not None
    subprocess.run([uv, "lock", "--offline", "--quiet"], cwd=folder, check=True)
    wheel(wheels, LIB, "2.0")
    return folder


def test_a_lock_gives_its_exact_versions_and_where_it_found_them(tmp_path: Path) -> None:
    project = locked_project(tmp_path / "shop", tmp_path / "wheels")

    found = read_dependencies(project, DependencyChoice())

    assert found is not None and found.source == "uv.lock"
    assert found.packages == (f"{LIB}==1.0",)
    assert f"--find-links {tmp_path / 'wheels'}" in found.requirements
    assert found.describe() == "uv.lock: 1 package (locked)"


def test_pyproject_without_a_lock_gives_its_ranges_and_the_groups_named(tmp_path: Path) -> None:
    project = locked_project(tmp_path / "shop", tmp_path / "wheels")
    (project / "uv.lock").unlink()

    plain = read_dependencies(project, DependencyChoice())
    grouped = read_dependencies(project, DependencyChoice(optional=("extras",)))

    assert plain is not None and plain.source == "pyproject.toml"
    assert plain.packages == (f"{LIB}>=1",)
    assert grouped is not None and grouped.packages == (f"{LIB}>=1", f"{LIB}<3")
    with pytest.raises(PackageError, match=r"names nope, which pyproject\.toml does not declare"):
        read_dependencies(project, DependencyChoice(optional=("nope",)))


def test_two_sources_and_no_choice_is_refused_with_the_choices(tmp_path: Path) -> None:
    project = locked_project(tmp_path / "shop", tmp_path / "wheels")
    (project / "requirements.txt").write_text(f"{LIB}==2.0\n")

    with pytest.raises(PackageError) as refused:
        read_dependencies(project, DependencyChoice())
    assert "more than one source of dependencies: uv.lock, requirements.txt" in refused.value.what
    assert 'dependencies = "uv.lock" or dependencies = "requirements.txt"' in str(
        refused.value.hint
    )

    chosen = read_dependencies(project, DependencyChoice("requirements.txt"))
    assert chosen is not None and chosen.packages == (f"{LIB}==2.0",)
    (project / "requirements.txt").unlink()
    with pytest.raises(PackageError, match=r"names requirements\.txt, but the project has no"):
        read_dependencies(project, DependencyChoice("requirements.txt"))


@pytest.fixture
def pinned(tmp_path: Path) -> LocalCloudEnv:
    project = locked_project(tmp_path / "pins", tmp_path / "wheels")
    (project / "teal.toml").write_text(TOML)
    (project / "app.py").write_text(APP)
    return LocalCloudEnv(tmp_path / "teal-home", free_port(), project)


def test_a_locked_project_runs_the_locked_versions_locally(pinned: LocalCloudEnv) -> None:
    try:
        planned = pinned.teal_ok("plan")
        assert "dependencies: uv.lock: 1 package (locked)" in planned.out
        endpoint = pinned.teal_ok("deploy", "--json").json()["endpoint"]

        status, body = get(endpoint + "version")

        assert status == 200, body
        assert json.loads(body) == {"version": "1.0"}
    finally:
        pinned.teal("local", "stop")


def test_plan_refuses_two_sources_with_exit_2_and_changes_nothing(pinned: LocalCloudEnv) -> None:
    (pinned.project / "requirements.txt").write_text(f"{LIB}==2.0\n")

    refused = pinned.teal("plan")

    assert refused.code == 2, refused.err
    assert "more than one source of dependencies: uv.lock, requirements.txt" in refused.err
    assert 'dependencies = "uv.lock"' in refused.err


def test_locally_another_architecture_runs_on_this_machines_and_teal_says_so_once(
    pinned: LocalCloudEnv,
) -> None:
    here = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
    other = "x86_64" if here == "arm64" else "arm64"
    toml = pinned.project / "teal.toml"
    toml.write_text(toml.read_text() + f'architecture = "{other}"\n')
    try:
        planned = pinned.teal_ok("plan")
        endpoint = pinned.teal_ok("deploy", "--json").json()["endpoint"]
        status, body = get(endpoint + "version")
    finally:
        pinned.teal("local", "stop")

    said = f"the local cloud runs the {other} functions on this machine's architecture ({here})"
    assert planned.err.count(said) == 1, planned.err
    assert status == 200 and json.loads(body) == {"version": "1.0"}, body
