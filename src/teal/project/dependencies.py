"""Where a project's dependencies come from: ``uv.lock``, ``pyproject.toml`` or
``requirements.txt``, one at a time.

Whatever the source, teal turns it into one requirements text (the lines pip
and ``uv pip`` read), and everything downstream (the local install, the
Lambda layer) installs that text:

- ``uv.lock``: the exact versions of the lock (with their hashes when the
  lock has them), as ``uv export --frozen`` writes them, for the project's
  ``[project] dependencies`` and the optional groups ``[app]
  optional_dependencies`` names; the lock's own sources (a folder of wheels,
  an index) come with them, so the same files are found again;
- ``pyproject.toml`` without a lock: its ``[project] dependencies`` and those
  optional groups, as ranges the installer resolves (and ``[tool.uv]``
  find-links and indexes);
- ``requirements.txt``: the file as it is.

A project with more than one says which in teal.toml (``[app] dependencies =
"uv.lock"``); teal never guesses.
"""

from __future__ import annotations

import hashlib
import subprocess
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from teal.progress import Progress, quiet
from teal.project.config import Target
from teal.project.runtimes import (
    RuntimeWorld,
    names_requirements,
    read_requirements,
    runtime_world,
    uv_binary,
)
from teal.project.settings import runtimes_cache
from teal.runtime.errors import PackageError

SourceName = Literal["uv.lock", "pyproject.toml", "requirements.txt"]
SOURCES: tuple[SourceName, ...] = ("uv.lock", "pyproject.toml", "requirements.txt")
CHOICE_KEY = "teal.toml [app] dependencies"


@dataclass(frozen=True)
class DependencyChoice:
    """What teal.toml says: the source (None: the only one there is) and the optional
    groups of ``pyproject.toml`` to install besides its dependencies."""

    source: SourceName | None = None
    optional: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dependencies:
    """A project's dependencies, read from one source."""

    source: SourceName
    path: Path  # the file read: uv.lock, pyproject.toml or requirements.txt
    requirements: str  # what the installers read

    @property
    def digest(self) -> str:
        """The identity of the pins (with the source's name): one install, one layer."""
        return hashlib.sha256(f"{self.source}\0{self.requirements}".encode()).hexdigest()

    @property
    def packages(self) -> tuple[str, ...]:
        """The requirements' lines without options, comments and hashes."""
        found: list[str] = []
        for line in _logical_lines(self.requirements):
            if line.startswith("-"):
                continue
            found.append(line.split(" --hash", 1)[0].split(";", 1)[0].strip())
        return tuple(found)

    def describe(self) -> str:
        """The source in a few words, for ``teal plan``."""
        count = len(self.packages)
        kind = {
            "uv.lock": "locked",
            "pyproject.toml": "from pyproject.toml, resolved at install",
            "requirements.txt": "as requirements.txt lists them",
        }[self.source]
        return f"{self.source}: {count} package{'s' if count != 1 else ''} ({kind})"


def present_sources(project_dir: Path) -> list[SourceName]:
    """The sources the project holds, in teal's order (a lock first)."""
    found: list[SourceName] = []
    if (project_dir / "uv.lock").is_file():
        found.append("uv.lock")
    elif _declares_dependencies(project_dir / "pyproject.toml"):
        found.append("pyproject.toml")
    requirements = project_dir / "requirements.txt"
    if requirements.is_file() and names_requirements(read_requirements(requirements)):
        found.append("requirements.txt")
    return found


def read_dependencies(project_dir: Path, choice: DependencyChoice) -> Dependencies | None:
    """The project's dependencies from the one source it has or teal.toml names; None
    when it has none. PackageError (exit 2) when it has several and teal.toml says
    nothing, or names one that is not there."""
    source = _chosen_source(project_dir, choice)
    if source is None:
        if choice.optional:
            raise PackageError(
                "[app] optional_dependencies names groups, but the project has no "
                "pyproject.toml declaring dependencies",
                where="teal.toml [app] optional_dependencies",
                hint="remove the setting, or add [project] dependencies to pyproject.toml",
            )
        return None
    if source == "requirements.txt":
        path = project_dir / "requirements.txt"
        return Dependencies(source, path, read_requirements(path))
    pyproject = _read_pyproject(project_dir / "pyproject.toml")
    _check_groups(pyproject, choice.optional, project_dir / "pyproject.toml")
    if source == "uv.lock":
        return _from_lock(project_dir, choice.optional)
    return _from_pyproject(project_dir / "pyproject.toml", pyproject, choice.optional)


def choice_of(source: str | None, optional: Iterable[str] = ()) -> DependencyChoice:
    """A choice as teal.toml or a recorded function gives it (a known source name)."""
    known = next((name for name in SOURCES if name == source), None)
    return DependencyChoice(known, tuple(optional))


def target_choice(target: Target) -> DependencyChoice:
    """The choice of the target's teal.toml."""
    return choice_of(target.dependencies, target.optional_dependencies)


def local_world(
    project_dir: Path,
    runtime: str,
    choice: DependencyChoice,
    *,
    override: str | None = None,
    progress: Progress = quiet,
    extra: Sequence[Path] = (),
) -> RuntimeWorld:
    """What the project's code runs on here, its dependencies installed once for the
    runtime's Python: the local cloud's dependency layer."""
    cache = runtimes_cache()
    needed = read_dependencies(project_dir, choice)
    return runtime_world(
        runtime,
        cache,
        requirements=requirements_file(needed, cache) if needed is not None else None,
        override=override,
        progress=progress,
        extra=extra,
        label=needed.source if needed is not None else "",
    )


def requirements_file(dependencies: Dependencies, cache: Path) -> Path:
    """A file holding the requirements text (``requirements.txt`` itself for that
    source, so its relative lines keep meaning what they mean next to it)."""
    if dependencies.source == "requirements.txt":
        return dependencies.path
    path = cache / "requirements" / f"{dependencies.digest[:32]}.txt"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(f".{id(dependencies)}.tmp")
        staging.write_text(dependencies.requirements, encoding="utf-8")
        staging.replace(path)
    return path


# ---------------------------------------------------------------- choosing


def _chosen_source(project_dir: Path, choice: DependencyChoice) -> SourceName | None:
    present = present_sources(project_dir)
    if choice.source is not None:
        if not _source_exists(project_dir, choice.source):
            raise PackageError(
                f"[app] dependencies names {choice.source}, but the project has no "
                f"{_what_counts(choice.source)}",
                where=CHOICE_KEY,
                hint=_choices_hint(present) if present else "remove the setting",
            )
        return choice.source
    if len(present) > 1:
        raise PackageError(
            f"the project has more than one source of dependencies: {', '.join(present)}; "
            "teal installs one, and does not guess which",
            where=str(project_dir),
            hint=_choices_hint(present),
        )
    return present[0] if present else None


def _source_exists(project_dir: Path, source: SourceName) -> bool:
    if source == "pyproject.toml":
        return _declares_dependencies(project_dir / "pyproject.toml")
    if source == "uv.lock":
        return (project_dir / "uv.lock").is_file() and (project_dir / "pyproject.toml").is_file()
    return (project_dir / source).is_file()


def _what_counts(source: SourceName) -> str:
    return {
        "uv.lock": "uv.lock beside a pyproject.toml",
        "pyproject.toml": "pyproject.toml with [project] dependencies",
        "requirements.txt": "requirements.txt",
    }[source]


def _choices_hint(present: Sequence[SourceName]) -> str:
    lines = " or ".join(f'dependencies = "{name}"' for name in present)
    return f"say which in teal.toml's [app]: {lines}"


# ---------------------------------------------------------------- pyproject.toml


def _declares_dependencies(path: Path) -> bool:
    if not path.is_file():
        return False
    project = _read_pyproject(path).get("project", {})
    return isinstance(project, dict) and "dependencies" in project


def _read_pyproject(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PackageError(
            f"pyproject.toml cannot be read: {exc}",
            where=str(path),
            hint="fix the TOML (uv and pip would refuse it too)",
        ) from exc


def _check_groups(pyproject: Mapping[str, Any], wanted: Iterable[str], path: Path) -> None:
    groups = pyproject.get("project", {}).get("optional-dependencies", {})
    missing = sorted(set(wanted) - set(groups))
    if missing:
        known = ", ".join(sorted(groups)) or "none"
        raise PackageError(
            f"[app] optional_dependencies names {', '.join(missing)}, which "
            f"{path.name} does not declare (its optional groups: {known})",
            where="teal.toml [app] optional_dependencies",
            hint="name groups of [project.optional-dependencies], or add them there",
        )


def _from_pyproject(
    path: Path, pyproject: Mapping[str, Any], optional: Sequence[str]
) -> Dependencies:
    project = pyproject.get("project", {})
    lines = [str(item) for item in project.get("dependencies", [])]
    groups = project.get("optional-dependencies", {})
    for group in optional:
        lines.extend(str(item) for item in groups.get(group, []))
    options = _uv_options(pyproject.get("tool", {}).get("uv", {}), path.parent)
    return Dependencies("pyproject.toml", path, _text([*options, *lines]))


def _uv_options(uv: Mapping[str, Any], folder: Path) -> list[str]:
    """``[tool.uv]``'s sources of wheels, as requirement-file options."""
    options: list[str] = ["--no-index"] if uv.get("no-index") else []
    options.extend(f"--find-links {_local(str(item), folder)}" for item in uv.get("find-links", []))
    if uv.get("index-url"):
        options.append(f"--index-url {uv['index-url']}")
    options.extend(f"--extra-index-url {item}" for item in uv.get("extra-index-url", []))
    return options


def _local(location: str, folder: Path) -> str:
    if urlparse(location).scheme:
        return location
    return str((folder / location).resolve())


# ---------------------------------------------------------------- uv.lock


def _from_lock(project_dir: Path, optional: Sequence[str]) -> Dependencies:
    lock_path = project_dir / "uv.lock"
    try:
        lock = tomllib.loads(lock_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PackageError(
            f"uv.lock cannot be read: {exc}",
            where=str(lock_path),
            hint="lock again: uv lock",
        ) from exc
    packages = [p for p in lock.get("package", []) if isinstance(p, dict)]
    hashed = all(_has_hashes(p) for p in packages if _is_registry(p))
    pins = _export(project_dir, optional, hashed)
    return Dependencies("uv.lock", lock_path, _text([*_lock_sources(packages), *pins]))


def _export(project_dir: Path, optional: Sequence[str], hashed: bool) -> list[str]:
    """The lock's pins for the project, as uv itself reads them (markers and optional
    groups included), without touching the network or the lock."""
    uv = uv_binary()
    if uv is None:
        raise PackageError(
            "uv is needed to read uv.lock, and it is not installed",
            where=str(project_dir / "uv.lock"),
            hint="install uv (pip install uv), or choose another source in "
            "teal.toml's [app] dependencies",
        )
    command = [
        uv,
        "export",
        "--frozen",
        "--offline",
        "--no-dev",
        "--no-emit-project",
        "--no-header",
        "--no-annotate",
        "--format",
        "requirements-txt",
        *(["--no-hashes"] if not hashed else []),
        *(part for group in optional for part in ("--extra", group)),
    ]
    done = subprocess.run(
        command,
        cwd=project_dir,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-4:])
        raise PackageError(
            f"uv could not read the lock:\n{tail}",
            where=str(project_dir / "uv.lock"),
            hint="lock again (uv lock), then deploy",
        )
    return [line for line in done.stdout.splitlines() if line.strip()]


def _is_registry(package: Mapping[str, Any]) -> bool:
    return "registry" in package.get("source", {})


def _has_hashes(package: Mapping[str, Any]) -> bool:
    files = [*package.get("wheels", []), package.get("sdist", {})]
    return all("hash" in item for item in files if item)


def _lock_sources(packages: Iterable[Mapping[str, Any]]) -> list[str]:
    """Where the lock found its packages: folders as find-links, indexes as indexes."""
    folders: list[str] = []
    indexes: list[str] = []
    for package in packages:
        registry = package.get("source", {}).get("registry")
        if not isinstance(registry, str):
            continue
        bucket = indexes if urlparse(registry).scheme in ("http", "https") else folders
        if registry not in bucket:
            bucket.append(registry)
    options = [f"--find-links {folder}" for folder in folders]
    if indexes:
        options.append(f"--index-url {indexes[0]}")
        options.extend(f"--extra-index-url {url}" for url in indexes[1:])
    elif folders:
        options.insert(0, "--no-index")
    return options


# ---------------------------------------------------------------- text


def _text(lines: Sequence[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _logical_lines(text: str) -> Iterable[str]:
    """Lines as pip reads them: continuations joined, comments dropped."""
    joined = text.replace("\\\n", " ")
    for raw in joined.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            yield line
