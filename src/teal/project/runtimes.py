"""What a function's code runs on: the runtime's Python and the packages it can import.

On Lambda a function imports from its own code (with the requirements teal
vendors into it), from the SDK the runtime provides (boto3 and its
dependencies), and from the runtime Python's standard library — nothing else.
teal gives its local workers, and its own import of the app (``teal routes``,
``plan``, ``deploy``), the same world:

- the **interpreter** matching ``[app] runtime``, found on PATH, in pyenv or by
  uv (``[local] python`` overrides); never another version: when there is
  none, the user is told how to install it (exit 2);
- the project's ``requirements.txt``, installed once per (interpreter,
  requirements) into a folder of its own under ``$TEAL_HOME/runtimes`` with
  uv (pip when uv is missing), wheels only, as Lambda's packages are;
- the **SDK** Lambda's Python runtimes include, from teal's own installation;
- run with ``python -I -S``: no site-packages, so nothing installed beside
  teal, or in the interpreter, leaks in.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, util
from pathlib import Path

from teal.progress import Progress, quiet
from teal.project.cachedirs import MARKER as COMPLETE
from teal.project.cachedirs import built_once
from teal.runtime.errors import PackageError, UserError

REQUIREMENTS_FILE = "requirements.txt"
RUNTIME_PATTERN = re.compile(r"python(?P<version>3\.\d+)")
ISOLATED = ("-I", "-S")  # no user site, no PYTHON* variables, no site-packages
PROBE = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
# What Lambda's Python runtimes carry besides the standard library: the SDK.
SDK_DISTRIBUTIONS = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)


@dataclass(frozen=True)
class Interpreter:
    path: Path
    version: str  # "3.12.1"

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


def runtime_version(runtime: str) -> str:
    """``python3.12`` -> ``3.12``."""
    found = RUNTIME_PATTERN.fullmatch(runtime)
    if found is None:
        raise UserError(
            f"runtime {runtime!r} is not a Python Lambda runtime",
            where="teal.toml [app] runtime",
            hint="use python3.11, python3.12 or python3.13",
        )
    return found.group("version")


def find_interpreter(runtime: str, override: str | None = None) -> Interpreter:
    """The Python of ``runtime`` on this machine (``override`` first, when given)."""
    return _find_interpreter(runtime, override, os.environ.get("PATH", ""))


@lru_cache(maxsize=16)
def _find_interpreter(runtime: str, override: str | None, search_path: str) -> Interpreter:
    wanted = runtime_version(runtime)
    if override is not None:
        return _override(override, wanted)
    for candidate in _candidates(wanted, search_path):
        version = probe(candidate)
        if version is not None and _minor(version) == wanted:
            return Interpreter(candidate, version)
    raise UserError(
        f"no Python {wanted} found on this machine for runtime {runtime}: teal runs your "
        f"functions on the Python Lambda runs them on, never on another version",
        where="teal.toml [app] runtime",
        hint=f"install it (uv python install {wanted}, pyenv install {wanted}, or your "
        f"system's python{wanted} package), or name an interpreter in [local] python",
    )


def _override(command: str, wanted: str) -> Interpreter:
    path = Path(command).expanduser() if os.sep in command else _which(command)
    version = probe(path) if path is not None else None
    if path is None or version is None:
        raise UserError(
            f"[local] python {command!r} is not a Python interpreter this machine can run",
            where="teal.toml [local] python",
            hint="give a path or a command on PATH, e.g. python3.12",
        )
    if _minor(version) != wanted:
        raise UserError(
            f"[local] python {command!r} is Python {version}, but [app] runtime wants {wanted}",
            where="teal.toml [local] python",
            hint=f"point it at a Python {wanted}",
        )
    return Interpreter(path, version)


def _candidates(wanted: str, search_path: str) -> Iterator[Path]:
    """Where a Python of version ``wanted`` may be, most specific first."""
    if _minor(_own_version()) == wanted:
        yield Path(sys.executable)
    for name in (f"python{wanted}", "python3"):
        found = shutil.which(name, path=search_path)
        if found:
            yield Path(found)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for folder in sorted(pyenv.glob(f"{wanted}.*"), key=_version_key, reverse=True):
        yield folder / "bin" / f"python{wanted}"
    found_by_uv = _uv_find(wanted)
    if found_by_uv is not None:
        yield found_by_uv


def probe(path: Path) -> str | None:
    """The interpreter's version, or None when it cannot run (a broken shim, say)."""
    version = _answer([str(path), *ISOLATED, "-c", PROBE])
    return version if version and re.fullmatch(r"\d+\.\d+\.\d+", version) else None


def _uv_find(wanted: str) -> Path | None:
    uv = uv_binary()
    found = _answer([uv, "python", "find", "--no-python-downloads", wanted]) if uv else None
    return Path(found) if found else None


def _answer(command: list[str], timeout_s: float = 30.0) -> str | None:
    """What a short command prints, or None when it fails or cannot run."""
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def uv_binary() -> str | None:
    """The uv executable teal installs with, if there is one."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _which(command: str) -> Path | None:
    found = shutil.which(command)
    return Path(found) if found else None


def _own_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _version_key(folder: Path) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in folder.name.split("."))


# ---------------------------------------------------------------- requirements


def requirements_of(project_dir: Path) -> Path | None:
    """``requirements.txt`` when it names anything (comments and blanks aside)."""
    path = project_dir / REQUIREMENTS_FILE
    if not path.is_file():
        return None
    return path if names_requirements(read_requirements(path)) else None


def names_requirements(text: str) -> bool:
    return any(line.split("#", 1)[0].strip() for line in text.splitlines())


def read_requirements(path: Path) -> str:
    """The requirements file's text, read as UTF-8 whatever this machine's locale is:
    PackageError naming the line of the first byte that is not."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PackageError(
            f"{path.name} is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, "
            f"column {column}",
            where=f"{path}:{line}",
            hint="save it as UTF-8 (your editor's encoding setting): teal reads it as UTF-8 "
            "on every machine, so that it installs the same everywhere",
        ) from exc


def dependencies(
    requirements: Path | None,
    interpreter: Interpreter,
    cache: Path,
    progress: Progress = quiet,
    *,
    label: str = REQUIREMENTS_FILE,
) -> Path | None:
    """The folder holding ``requirements`` installed for ``interpreter``, installing
    them the first time (a cached folder is reused by every function and deploy):
    the local cloud's dependency layer. ``label`` names their source to the user."""
    if requirements is None:
        return None
    text = read_requirements(requirements)
    key = hashlib.sha256(f"{interpreter.version}\0{text}".encode()).hexdigest()[:24]
    final = cache / f"deps-{interpreter.minor}-{key}"
    if not (final / COMPLETE).is_file():
        progress(f"installing {label} for Python {interpreter.version} (once)")
    return built_once(final, lambda staging: _install(requirements, interpreter, staging))


def _install(requirements: Path, interpreter: Interpreter, target: Path) -> None:
    command = install_command(requirements, interpreter, target)
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-6:])
        raise PackageError(
            f"the requirements could not be installed for Python {interpreter.version}:\n{tail}",
            where=str(requirements),
            hint="Lambda installs wheels only: pin versions that publish wheels for this "
            "Python, or fix the line named above",
        )


def install_command(requirements: Path, interpreter: Interpreter, target: Path) -> list[str]:
    uv = uv_binary()
    if uv is not None:
        return [
            uv,
            "pip",
            "install",
            "--quiet",
            "--no-progress",
            "--python",
            str(interpreter.path),
            "--target",
            str(target),
            "--only-binary",
            ":all:",
            "--requirement",
            str(requirements),
        ]
    return [
        str(interpreter.path),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--only-binary=:all:",
        "--target",
        str(target),
        "--requirement",
        str(requirements),
    ]


# ---------------------------------------------------------------- the runtime's SDK


def sdk_folder(cache: Path) -> Path:
    """A folder with the SDK Lambda's runtimes include (boto3 and what it needs), linked
    from teal's own installation; one per set of versions."""
    found = _sdk_locations()
    key = hashlib.sha256(repr(sorted(found.items())).encode()).hexdigest()[:16]

    def link(staging: Path) -> None:
        for name, location in sorted(found.items()):
            (staging / name).symlink_to(location)

    return built_once(cache / f"sdk-{key}", link)


@functools.cache  # what is installed does not change under a running process
def _sdk_locations() -> dict[str, str]:
    """Importable name -> where it is, for every top-level module of the SDK.

    Asks the SDK's own distributions only: scanning every installed package's
    metadata for them took 70 ms of each command that reads an app.
    """
    found: dict[str, str] = {}
    for distribution in SDK_DISTRIBUTIONS:
        try:
            names = _top_level_names(metadata.distribution(distribution))
        except metadata.PackageNotFoundError:
            continue
        for name in sorted(names):
            spec = util.find_spec(name)
            if spec is None or spec.origin is None:
                continue
            origin = Path(spec.origin)
            location = origin.parent if origin.name == "__init__.py" else origin
            found[location.name] = str(location)
    return found


def _top_level_names(distribution: metadata.Distribution) -> set[str]:
    """The modules a distribution installs at the top: as its top_level.txt declares
    them, else as its list of files shows them."""
    declared = distribution.read_text("top_level.txt")
    if declared:
        return {name for name in declared.split() if name.isidentifier()}
    names: set[str] = set()
    for file in distribution.files or ():
        top = file.parts[0] if len(file.parts) > 1 else file.stem if file.suffix == ".py" else ""
        if top.isidentifier() and not top.startswith("__"):
            names.add(top)
    return names


def _normal(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


@dataclass(frozen=True)
class RuntimeWorld:
    """An interpreter and the folders it imports from, after the code's own folder."""

    interpreter: Interpreter
    paths: tuple[Path, ...]

    def command(self, script: Path, *args: str) -> list[str]:
        return [str(self.interpreter.path), *ISOLATED, str(script), *args]


def runtime_world(
    runtime: str,
    cache: Path,
    *,
    requirements: Path | None,
    override: str | None = None,
    progress: Progress = quiet,
    extra: Sequence[Path] = (),
    label: str = REQUIREMENTS_FILE,
) -> RuntimeWorld:
    """What the project's functions run on locally: interpreter, dependencies (the
    requirements file their source gives: :mod:`teal.project.dependencies`), SDK."""
    interpreter = find_interpreter(runtime, override)
    installed = dependencies(requirements, interpreter, cache, progress, label=label)
    paths = [*extra, *([installed] if installed else []), sdk_folder(cache)]
    return RuntimeWorld(interpreter, tuple(paths))
