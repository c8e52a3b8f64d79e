"""Deterministic packages that carry teal's runtime shim."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e import EXAMPLE_BLOG, LocalCloudEnv, Run, free_port
from proxy_event_samples import proxy_event
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.paths import LocalPaths
from teal.project.package import build_package
from teal.project.size_limits import UNZIPPED_LIMIT as LAMBDA_UNZIPPED_LIMIT
from teal.runtime.errors import PackageError

APP = """
from teal import App
app = App()

@app.route("/hello/{name}")
def hello(request):
    return {"hello": request.path_params["name"]}
"""


def test_same_tree_gives_same_bytes(make_project: Callable[..., Path], tmp_path: Path) -> None:
    first = make_project(APP, name="one")
    (first / "lib").mkdir()
    (first / "lib" / "util.py").write_text("X = 1\n")
    second = tmp_path / "copy"
    second.mkdir()
    for path in sorted(first.rglob("*")):
        target = second / path.relative_to(first)
        if path.is_dir():
            target.mkdir()
        else:
            target.write_bytes(path.read_bytes())
    os.utime(second / "app.py", (1_000_000, 1_000_000))  # timestamps must not matter
    a, b = build_package(first), build_package(second)
    assert a.data == b.data and a.sha256 == b.sha256
    assert a.key == f"code/{a.sha256}.zip"
    (second / "app.py").write_text(APP + "\n# changed\n")
    assert build_package(second).sha256 != a.sha256


def test_excludes_vcs_venvs_caches_tests(make_project: Callable[..., Path]) -> None:
    root = make_project(APP)
    for folder in (".git", "__pycache__", ".teal", "tests", "node_modules", "myenv"):
        (root / folder).mkdir()
        (root / folder / "x.py").write_text("")
    (root / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "stale.pyc").write_bytes(b"")
    names = set(build_package(root).files)
    assert "app.py" in names and "teal.toml" not in names
    assert not any(
        n.split("/")[0] in {".git", "__pycache__", ".teal", "tests", "node_modules", "myenv"}
        for n in names
    )
    assert "stale.pyc" not in names


def test_carries_the_runtime_shim_only(make_project: Callable[..., Path]) -> None:
    names = set(build_package(make_project(APP)).files)
    assert "teal/runtime/entry.py" in names
    assert "teal/cli/__init__.py" not in names and "teal/project/config.py" not in names


def test_symlink_outside_project_is_refused(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_project(APP)
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (root / "link.txt").symlink_to(secret)
    with pytest.raises(PackageError, match="symlink points outside the project") as info:
        build_package(root)
    assert "link.txt" in info.value.render()


def test_symlink_inside_project_is_followed(make_project: Callable[..., Path]) -> None:
    root = make_project(APP)
    (root / "data").mkdir()
    (root / "data" / "a.txt").write_text("a")
    (root / "alias").symlink_to(root / "data")
    (root / "loop").symlink_to(root)  # a loop must not hang the walk
    names = set(build_package(root).files)
    assert {"data/a.txt", "alias/a.txt"} <= names


def test_own_teal_package_is_refused(make_project: Callable[..., Path]) -> None:
    root = make_project(APP)
    (root / "teal").mkdir()
    (root / "teal" / "__init__.py").write_text("")
    with pytest.raises(PackageError, match="own 'teal' package"):
        build_package(root)


def test_zip_runs_alone_like_on_lambda(make_project: Callable[..., Path], tmp_path: Path) -> None:
    """Unpack the zip and call the handler in an isolated interpreter without site-packages."""
    package = build_package(make_project(APP))
    code = tmp_path / "task"
    zipfile.ZipFile(io.BytesIO(package.data)).extractall(code)
    event = proxy_event("/hello/{name}", "/hello/ana", path_params={"name": "ana"})
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from teal.runtime.entry import handler;"
        "print(json.dumps(handler(json.loads(sys.argv[2]), None)))"
    )
    env = {"TEAL_ENTRY": "app:app", "TEAL_FUNCTION": "hello", "PATH": os.environ["PATH"]}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(code), json.dumps(event)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    response = json.loads(proc.stdout)
    assert json.loads(response["body"]) == {"hello": "ana"}


def test_folders_named_to_exclude_are_left_out_wherever_they_sit(
    make_project: Callable[..., Path],
) -> None:
    root = make_project(APP)
    state = root / "var" / "teal-state"
    (state / "artifacts").mkdir(parents=True)
    (state / "state.db").write_bytes(b"secrets")
    (state / "artifacts" / "old.zip").write_bytes(b"zip")
    (root / "var" / "kept.txt").write_text("kept")
    names = set(build_package(root, exclude=[state]).files)
    assert "var/kept.txt" in names and "app.py" in names
    assert not any(n.startswith("var/teal-state") for n in names)
    assert set(build_package(root, exclude=[root]).files) >= {"app.py"}  # never the project


def test_a_teal_home_inside_the_project_is_never_deployed(tmp_path: Path) -> None:
    from e2e import EXAMPLE_BLOG, LocalCloudEnv, free_port

    project = tmp_path / "blog"
    shutil.copytree(EXAMPLE_BLOG, project)
    cloud = LocalCloudEnv(project / "state", free_port(), project)
    try:
        first = cloud.teal_ok("deploy", "--json").json()
        second = cloud.teal_ok("deploy", "--json").json()
    finally:
        cloud.teal("local", "stop")
    assert second["action"] == "noop"
    assert first["code_sha256"] == second["code_sha256"]
    archives = list((cloud.home / "artifacts" / "code").glob("*.zip"))
    assert [a.name for a in archives] == [f"{first['code_sha256']}.zip"]
    with zipfile.ZipFile(archives[0]) as archive:
        assert not [n for n in archive.namelist() if n.startswith("state/")]


def write_wheel(folder: Path, name: str, version: str) -> Path:
    """A small pure-Python wheel, as a package index would serve it."""
    files = {
        f"{name}/__init__.py": b"SIZE = 'large'\n",
        f"{name}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        ),
        f"{name}-{version}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: teal-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in sorted(files.items())]
    files[f"{name}-{version}.dist-info/RECORD"] = (
        "\n".join([*record, f"{name}-{version}.dist-info/RECORD,,"]) + "\n"
    ).encode()
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def grow_past_lambdas_limit(installed: Path) -> None:
    """What a requirement that installs more than 250 MB leaves: a file that large,
    sparse (the limit counts sizes, so no disk is spent on it)."""
    with (installed / "weights.bin").open("wb") as handle:
        handle.truncate(LAMBDA_UNZIPPED_LIMIT + 1024 * 1024)


def test_requirements_over_lambdas_limit_are_refused_locally_as_on_aws(
    tmp_path: Path, teal_cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same requirement, installed for the local cloud and vendored for Lambda: past
    250 MB both refuse it with the same words (exit 2), and the local cloud is untouched."""
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "bulky", "1.0")
    project = tmp_path / "blog"
    shutil.copytree(EXAMPLE_BLOG, project)
    (project / "requirements.txt").write_text(f"--no-index\n--find-links {wheels}\nbulky==1.0\n")
    runtimes, vendor = tmp_path / "runtimes", tmp_path / "cache"
    cloud = LocalCloudEnv(tmp_path / "home", free_port(), project)
    caches = {"TEAL_RUNTIMES_CACHE": str(runtimes), "XDG_CACHE_HOME": str(vendor)}
    monkeypatch.setenv("TEAL_RUNTIMES_CACHE", str(runtimes))
    monkeypatch.setenv("XDG_CACHE_HOME", str(vendor))
    monkeypatch.setenv("TEAL_HOME", str(cloud.home))

    assert cloud.teal("routes", env=caches).code == 0  # installs it for the local cloud
    exported = teal_cli("package", "--out", str(tmp_path / "out"), "--project", str(project))
    assert exported.code == 0, exported.err  # vendors it for Lambda
    [installed] = runtimes.glob("deps-*/bulky")
    [vendored] = (vendor / "teal" / "vendor").glob("*/bulky")
    grow_past_lambdas_limit(installed)
    grow_past_lambdas_limit(vendored)

    try:
        local = cloud.teal("deploy", "--json", env=caches)
    finally:
        cloud.teal("local", "stop")  # none should have started: this is for a failure
    aws = teal_cli("package", "--out", str(tmp_path / "out"), "--json", "--project", str(project))
    assert local.code == aws.code == 2, local.err + aws.err
    local_error, aws_error = local.json()["error"], aws.json()["error"]
    assert local_error == aws_error
    assert local_error["what"].startswith("the function and its layers would be 251.")
    assert local_error["what"].endswith(
        "MB unzipped, over Lambda's limit of 250 MB; the largest: bulky/ 251.0 MB, "
        "your code 0.1 MB, bulky-1.0.dist-info/ 0.0 MB"
    )
    assert local_error["where"] == str(project / "requirements.txt")
    assert "[app] exclude" in local_error["hint"]
    state = LocalCloud(LocalPaths(cloud.home))
    try:
        assert state.list_stacks({}) == []  # nothing deployed
    finally:
        state.close()
