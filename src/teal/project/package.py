"""Deterministic code packages: the same files always give the same zip bytes.

A package holds the project's code plus teal's runtime shim, so the very same
zip runs on Lambda and in the local cloud. Its SHA-256 is the artifact's
identity: ``code/<sha256>.zip``.

Which files go in follows gitignore's rules (with pathspec), in three layers,
later lines winning as in a ``.gitignore``: teal's defaults (VCS folders,
virtual environments, caches, tests, ``.env*`` secrets, editor leftovers),
then the project's ``.tealignore``, then ``[app] exclude``. A ``!pattern``
brings back what an earlier layer left out. Folders that hold teal's own
state (a ``$TEAL_HOME`` inside the project) are never packaged.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from teal.project.cachedirs import built_once
from teal.runtime.errors import PackageError

TEAL_DIR = Path(__file__).resolve().parent.parent


def runtime_files() -> tuple[str, ...]:
    """What of teal runs inside Lambda: the package's face (``teal/__init__.py``, which
    app code imports) and the runtime package, whole. Standard library only."""
    runtime = sorted(path.name for path in (TEAL_DIR / "runtime").glob("*.py"))
    return ("__init__.py", "_version.py", *(f"runtime/{name}" for name in runtime))


IGNORE_FILE = ".tealignore"
DEFAULT_IGNORE = (
    # version control, virtual environments, caches, build output
    ".git/",
    ".hg/",
    ".svn/",
    ".venv/",
    "venv/",
    ".tox/",
    ".nox/",
    "__pycache__/",
    "*.py[cod]",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    "node_modules/",
    ".teal/",
    "/teal-package/",
    # tests do not run on Lambda
    "tests/",
    "test/",
    # secrets and local settings
    ".env",
    ".env.*",
    ".envrc",
    # editors and operating systems
    ".idea/",
    ".vscode/",
    ".DS_Store",
    "*~",
    "*.swp",
    "*.bak",
    # teal's own files that Lambda does not need
    IGNORE_FILE,
)
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Package:
    data: bytes
    sha256: str
    files: tuple[str, ...]
    unzipped_size: int = 0

    @property
    def key(self) -> str:
        """The artifact key, content-addressed."""
        return f"code/{self.sha256}.zip"


def build_package(
    project_dir: Path,
    vendored: Path | None = None,
    exclude: Iterable[Path] = (),
    patterns: Sequence[str] = (),
) -> Package:
    """Zip the project's code, ``vendored`` dependencies and teal's runtime shim.

    ``patterns`` are ``[app] exclude``'s lines; folders in ``exclude`` (teal's
    state, say) are left out wherever they sit in the project (the project
    folder itself cannot be).
    """
    root = project_dir.resolve()
    entries: dict[str, Path] = {}
    if vendored is not None:
        top = vendored.resolve()
        entries.update(_walk(top, top, default_rules(), frozenset()))
    own = project_files(root, exclude, patterns)
    if any(name.startswith("teal/") for name in own):
        raise PackageError(
            "the project has its own 'teal' package, which would hide teal's runtime",
            where=str(root / "teal"),
            hint="rename that folder",
        )
    entries.update(own)
    entries.update(_runtime_entries())
    data = _zip(entries)
    unzipped = sum(path.stat().st_size for path in entries.values())
    return Package(data, hashlib.sha256(data).hexdigest(), tuple(sorted(entries)), unzipped)


def project_files(
    project_dir: Path, exclude: Iterable[Path] = (), patterns: Sequence[str] = ()
) -> dict[str, Path]:
    """Archive name -> file, for every file of the project that goes into its package."""
    root = project_dir.resolve()
    excluded = frozenset(folder.resolve() for folder in exclude) - {root}
    return dict(_walk(root, root, project_rules(root, patterns), excluded))


def default_rules() -> pathspec.GitIgnoreSpec:
    return _rules(DEFAULT_IGNORE, "teal's default exclusions")


def project_rules(project_dir: Path, patterns: Sequence[str] = ()) -> pathspec.GitIgnoreSpec:
    """teal's defaults, then ``.tealignore``, then ``[app] exclude``: later lines win."""
    ignore_file = project_dir / IGNORE_FILE
    own = _lines_of(ignore_file) if ignore_file.is_file() else []
    _rules(own, str(ignore_file))  # each layer alone first, so an error names its source
    _rules(patterns, "teal.toml [app] exclude")
    return _rules([*DEFAULT_IGNORE, *own, *patterns], "the exclusions")


def _lines_of(ignore_file: Path) -> list[str]:
    data = ignore_file.read_bytes()
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PackageError(
            f"{ignore_file.name} is not UTF-8 text (byte 0x{data[exc.start]:02x})",
            where=f"{ignore_file}:{line}",
            hint="save it as UTF-8 (your editor's encoding setting)",
        ) from exc


def _rules(lines: Iterable[str], source: str) -> pathspec.GitIgnoreSpec:
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except (ValueError, TypeError) as exc:  # pathspec's pattern errors are ValueErrors
        raise PackageError(
            f"invalid exclusion pattern: {exc}",
            where=source,
            hint="patterns follow .gitignore's syntax, e.g. 'tests/', '*.db', '!keep.db'",
        ) from exc


def _runtime_entries() -> dict[str, Path]:
    return {f"teal/{name}": TEAL_DIR / name for name in runtime_files()}


def runtime_shim(cache: Path) -> Path:
    """A folder holding only teal's runtime shim (``teal/...``), as a package carries it:
    what the app's own ``import teal`` finds when teal imports the app to read it."""
    entries = _runtime_entries()
    digest = hashlib.sha256()
    for name, path in sorted(entries.items()):
        digest.update(name.encode() + b"\0" + path.read_bytes())

    def copy(staging: Path) -> None:
        for name, path in entries.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(path.read_bytes())

    return built_once(cache / f"shim-{digest.hexdigest()[:16]}", copy)


def _walk(
    root: Path, folder: Path, rules: pathspec.GitIgnoreSpec, seen: frozenset[Path]
) -> Iterator[tuple[str, Path]]:
    """``seen``: the folders walked into (a symlink loop), and those excluded from the start."""
    real = folder.resolve()
    if real in seen:
        return
    seen = seen | {real}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        path = Path(entry.path)
        name = path.relative_to(root).as_posix()
        if entry.is_symlink():
            _check_link(root, path)
        if entry.is_dir():
            # a folder left out is not entered, as git does: nothing inside comes back
            if rules.match_file(name + "/") or (path / "pyvenv.cfg").exists():
                continue
            yield from _walk(root, path, rules, seen)
        elif entry.is_file() and not rules.match_file(name):
            yield name, path


def _check_link(root: Path, link: Path) -> None:
    try:
        target = link.resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 and 3.12 say RuntimeError, later ELOOP
        raise PackageError(
            "symlink loop: the link leads back to itself and never reaches a file or folder",
            where=str(link),
            hint="remove the link, or point it at a file or folder (a package holds files, "
            "and nothing could follow this link on Lambda)",
        ) from exc
    if not target.is_relative_to(root):
        raise PackageError(
            f"symlink points outside the project, to {target}",
            where=str(link),
            hint="copy the file into the project, or remove the link",
        )


def _zip(entries: dict[str, Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in sorted(entries):
            path = entries[name]
            info = zipfile.ZipInfo(name, FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise PackageError(
                    f"cannot read file: {exc.strerror}",
                    where=str(path),
                    hint="make it readable, or leave it out of the package (.tealignore, or "
                    "[app] exclude in teal.toml)",
                ) from exc
            archive.writestr(info, data)
    return buffer.getvalue()
