"""Vendoring the dependencies for Lambda: the folder the dependency layer zips.

Lambda runs Linux on x86_64 or arm64, whatever the machine teal runs on, so
pip is asked for wheels of that platform and of the runtime's Python version
only (``--platform manylinux2014_x86_64`` or ``manylinux2014_aarch64``,
``--only-binary=:all: --python-version``), installed into a folder whose
compiled extensions are then checked against the architecture
(:func:`teal.project.layers.check_architecture`). The folder is cached under
``cache_dir`` by the hash of the requirements, the runtime and the platform,
so unchanged dependencies are not vendored again. Lambda's size limits are
:mod:`teal.project.size_limits`'.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from teal.project.cachedirs import built_once
from teal.project.layers import check_architecture
from teal.project.runtimes import names_requirements, read_requirements
from teal.runtime.errors import PackageError

REQUIREMENTS_FILE = "requirements.txt"
PLATFORM = "manylinux2014_x86_64"
PLATFORMS = {"x86_64": PLATFORM, "arm64": "manylinux2014_aarch64"}  # by Lambda's names
_COMPLETE = ".teal-vendored"
_NO_WHEEL = (
    re.compile(r"No matching distribution found for (?P<name>\S+)"),
    re.compile(r"Could not find a version that satisfies the requirement (?P<name>\S+)"),
)


@dataclass(frozen=True)
class PipResult:
    returncode: int
    output: str  # stdout and stderr together, as a user would read them


PipRunner = Callable[[Sequence[str]], PipResult]


def run_pip(command: Sequence[str]) -> PipResult:
    """Run pip for real, capturing what it says."""
    done = subprocess.run(
        list(command), capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    return PipResult(done.returncode, done.stdout + done.stderr)


def python_version(runtime: str) -> str:
    """``python3.12`` → ``3.12``."""
    match = re.fullmatch(r"python(\d+\.\d+)", runtime)
    if match is None:
        raise PackageError(
            f"runtime {runtime!r} is not a Python Lambda runtime",
            where="teal.toml [app] runtime",
            hint="use python3.11, python3.12 or python3.13",
        )
    return match.group(1)


def pip_command(
    requirements: Path,
    target: Path,
    runtime: str,
    pip_args: Sequence[str] = (),
    architecture: str = "x86_64",
) -> list[str]:
    """The pip command line that installs Lambda wheels of ``requirements`` into ``target``."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--requirement",
        str(requirements),
        "--target",
        str(target),
        "--platform",
        PLATFORMS[architecture],
        "--implementation",
        "cp",
        "--python-version",
        python_version(runtime),
        "--only-binary=:all:",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        *pip_args,
    ]


def vendor_requirements(
    project_dir: Path,
    runtime: str,
    cache_dir: Path,
    *,
    runner: PipRunner = run_pip,
    pip_args: Sequence[str] = (),
    requirements: Path | None = None,
    architecture: str = "x86_64",
) -> Path | None:
    """Install the project's requirements for Lambda; the folder to zip, or None if none.

    ``requirements`` is the file the project's dependency source gives
    (:mod:`teal.project.dependencies`; the project's ``requirements.txt`` when
    not given). ``pip_args`` are passed to pip as they are (for instance
    ``--no-index --find-links DIR`` for an offline wheel folder).
    """
    requirements = requirements or project_dir / REQUIREMENTS_FILE
    if not requirements.is_file() or not _has_requirements(requirements):
        return None
    key = _cache_key(requirements, runtime, (*pip_args, PLATFORMS[architecture]))
    final = cache_dir / f"{runtime}-{key}"

    def install(staging: Path) -> None:
        result = runner(pip_command(requirements, staging, runtime, pip_args, architecture))
        if result.returncode != 0:
            raise pip_failure(result.output, runtime, requirements, architecture)
        check_architecture(staging, architecture)

    return built_once(final, install, marker=_COMPLETE)


def pip_failure(
    output: str, runtime: str, requirements: Path, architecture: str = "x86_64"
) -> PackageError:
    """Turn pip's complaint into an error naming the package that cannot go to Lambda."""
    platform = PLATFORMS[architecture]
    for pattern in _NO_WHEEL:
        match = pattern.search(output)
        if match:
            name = match.group("name")
            return PackageError(
                f"{name} has no wheel for Lambda ({platform}, Python {python_version(runtime)}) "
                "and no pure-Python one",
                where=str(requirements),
                hint="pin a version that publishes manylinux wheels, or use an alternative "
                "that does (psycopg2-binary for psycopg2, for example)",
            )
    tail = "\n".join(output.strip().splitlines()[-5:])
    return PackageError(
        f"pip could not install the requirements for Lambda:\n{tail}",
        where=str(requirements),
        hint="run the pip command above by hand to see the whole story",
    )


def folder_size(folder: Path) -> int:
    """Bytes of the files under ``folder`` (linked folders not followed): what they take
    unzipped. One stat a file, through scandir; a deploy measures its requirements so."""
    total = 0
    pending = [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif entry.is_file():
                    total += entry.stat().st_size
    return total


def _has_requirements(requirements: Path) -> bool:
    return names_requirements(read_requirements(requirements))


def _cache_key(requirements: Path, runtime: str, pip_args: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for part in (PLATFORM, runtime, *pip_args, read_requirements(requirements)):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]
