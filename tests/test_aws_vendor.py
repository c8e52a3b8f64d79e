"""Vendoring requirements for Lambda: the pip command, the cache, pip's errors, the limits."""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from teal.project.size_limits import check_unzipped, parts_of
from teal.project.vendor import (
    PipResult,
    pip_command,
    vendor_requirements,
)
from teal.runtime.errors import PackageError, UserError

MB = 1024 * 1024
NO_WHEEL = """\
ERROR: Could not find a version that satisfies the requirement psycopg2==2.9.9 (from versions: none)
ERROR: No matching distribution found for psycopg2==2.9.9
"""


class FakePip:
    """A typed stand-in for pip: records commands and writes what a real install would."""

    def __init__(self, result: PipResult | None = None, file_size: int = 10) -> None:
        self.result = result or PipResult(0, "")
        self.file_size = file_size
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> PipResult:
        self.commands.append(list(command))
        target = Path(command[command.index("--target") + 1])
        if self.result.returncode == 0:
            (target / "requests").mkdir(parents=True)
            with (target / "requests" / "__init__.py").open("wb") as handle:
                handle.truncate(self.file_size)  # sparse: a large size costs no disk
        return self.result


def project(tmp_path: Path, requirements: str | None) -> Path:
    folder = tmp_path / "blog"
    folder.mkdir()
    if requirements is not None:
        (folder / "requirements.txt").write_text(requirements)
    return folder


def test_pip_asks_for_lambda_wheels_of_the_runtimes_python(tmp_path: Path) -> None:
    command = pip_command(tmp_path / "requirements.txt", tmp_path / "out", "python3.12")
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    joined = " ".join(command)
    assert "--platform manylinux2014_x86_64" in joined
    assert "--python-version 3.12" in joined
    assert "--only-binary=:all:" in command
    assert f"--target {tmp_path / 'out'}" in joined
    assert f"--requirement {tmp_path / 'requirements.txt'}" in joined


def test_no_requirements_means_nothing_to_vendor(tmp_path: Path) -> None:
    pip = FakePip()
    assert (
        vendor_requirements(project(tmp_path, None), "python3.12", tmp_path / "c", runner=pip)
        is None
    )
    assert pip.commands == []


def test_comments_only_means_nothing_to_vendor(tmp_path: Path) -> None:
    pip = FakePip()
    folder = project(tmp_path, "# nothing yet\n\n")
    assert vendor_requirements(folder, "python3.12", tmp_path / "c", runner=pip) is None


def test_vendored_folder_is_cached_by_the_requirements_hash(tmp_path: Path) -> None:
    pip, cache = FakePip(), tmp_path / "cache"
    folder = project(tmp_path, "requests==2.32.3\n")

    first = vendor_requirements(folder, "python3.12", cache, runner=pip)
    again = vendor_requirements(folder, "python3.12", cache, runner=pip)

    assert first is not None and first == again
    assert (first / "requests" / "__init__.py").is_file()
    assert len(pip.commands) == 1
    # Another runtime or other requirements are vendored anew.
    other_runtime = vendor_requirements(folder, "python3.13", cache, runner=pip)
    (folder / "requirements.txt").write_text("requests==2.32.4\n")
    other_pins = vendor_requirements(folder, "python3.12", cache, runner=pip)
    assert len({first, other_runtime, other_pins}) == 3
    assert len(pip.commands) == 3
    assert [p.name for p in cache.iterdir() if p.name.startswith(".staging")] == []


def test_a_package_without_a_lambda_wheel_is_named(tmp_path: Path) -> None:
    pip = FakePip(PipResult(1, NO_WHEEL))
    folder = project(tmp_path, "psycopg2==2.9.9\n")
    with pytest.raises(PackageError, match=r"psycopg2==2\.9\.9 has no wheel for Lambda") as caught:
        vendor_requirements(folder, "python3.12", tmp_path / "cache", runner=pip)
    assert isinstance(caught.value, UserError)
    assert caught.value.hint and "psycopg2-binary" in caught.value.hint
    assert not any((tmp_path / "cache").iterdir())  # nothing half-made is cached


def test_other_pip_failures_show_pips_words(tmp_path: Path) -> None:
    pip = FakePip(PipResult(2, "ERROR: Invalid requirement: '==oops'\n"))
    folder = project(tmp_path, "==oops\n")
    with pytest.raises(PackageError, match="Invalid requirement"):
        vendor_requirements(folder, "python3.12", tmp_path / "cache", runner=pip)


def test_over_250_mb_the_five_largest_packages_are_named(tmp_path: Path) -> None:
    """Measured on the installed folder, sparse files making the sizes: the total, the
    limit, the five largest with their sizes (the app's own code counted with them)."""
    installed = tmp_path / "installed"
    for number, megabytes in enumerate((120, 60, 40, 15, 10, 2)):
        (installed / f"pkg{number}").mkdir(parents=True)
        with (installed / f"pkg{number}" / "data.bin").open("wb") as handle:
            handle.truncate(megabytes * MB)
    parts = parts_of(installed)
    check_unzipped(3 * MB, parts, where="uv.lock")  # 250 MB: at the limit, not over

    with pytest.raises(PackageError) as refused:
        check_unzipped(4 * MB, parts, where="uv.lock")

    what = refused.value.what
    assert what.startswith("the function and its layers would be 251.0 MB unzipped, over ")
    assert "Lambda's limit of 250 MB" in what
    assert what.endswith(
        "the largest: pkg0/ 120.0 MB, pkg1/ 60.0 MB, pkg2/ 40.0 MB, pkg3/ 15.0 MB, pkg4/ 10.0 MB"
    )
    assert refused.value.where == "uv.lock"
    assert "__pycache__" in str(refused.value.hint)


def test_bad_runtime_is_a_package_error(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="not a Python Lambda runtime"):
        pip_command(tmp_path / "r.txt", tmp_path / "t", "nodejs20.x")


def wheel(folder: Path, name: str, version: str) -> None:
    """A minimal pure-Python wheel, written by hand so no network or build tool is needed."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: teal-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)


def test_real_pip_from_a_local_wheel_folder(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel(wheels, "tealdemo", "1.0")
    folder = project(tmp_path, "tealdemo==1.0\n")
    offline = ["--no-index", "--find-links", str(wheels)]

    vendored = vendor_requirements(folder, "python3.12", tmp_path / "cache", pip_args=offline)

    assert vendored is not None
    assert (vendored / "tealdemo" / "__init__.py").read_text() == "VERSION = '1.0'\n"

    (folder / "requirements.txt").write_text("tealdemo==1.0\nnot-a-wheel-here==3\n")
    with pytest.raises(PackageError, match="not-a-wheel-here==3 has no wheel for Lambda"):
        vendor_requirements(folder, "python3.12", tmp_path / "cache", pip_args=offline)
