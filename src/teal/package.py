"""Deterministic code packages: the same files always give the same zip bytes.

A package holds the project's code (without VCS folders, virtual
environments, caches, tests or teal's own state: the caller names the folders
that hold it, such as a ``$TEAL_HOME`` inside the project) plus teal's runtime
shim, so
the very same zip runs on Lambda and in the local cloud. Its SHA-256 is the
artifact's identity: ``code/<sha256>.zip``.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from teal.errors import PackageError

# The part of teal that runs inside Lambda: standard library only.
RUNTIME_FILES = (
    "__init__.py",
    "_version.py",
    "app.py",
    "errors.py",
    "http.py",
    "routes.py",
    "runtime/__init__.py",
    "runtime/entry.py",
)

EXCLUDED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".teal",
        "__pycache__",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        "node_modules",
        "tests",
        "test",
        ".idea",
        ".vscode",
    }
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".DS_Store")
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
    project_dir: Path, vendored: Path | None = None, exclude: Iterable[Path] = ()
) -> Package:
    """Zip the project's code, ``vendored`` dependencies and teal's runtime shim.

    Folders in ``exclude`` (teal's state, say) are left out wherever they sit in
    the project (the project folder itself cannot be).
    """
    root = project_dir.resolve()
    excluded = frozenset(folder.resolve() for folder in exclude) - {root}
    entries: dict[str, Path] = {}
    if vendored is not None:
        entries.update(_collect(vendored.resolve(), vendored.resolve()))
    own = _collect(root, root, excluded)
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


def _runtime_entries() -> dict[str, Path]:
    teal_dir = Path(__file__).resolve().parent
    return {f"teal/{name}": teal_dir / name for name in RUNTIME_FILES}


def _collect(root: Path, top: Path, excluded: frozenset[Path] = frozenset()) -> dict[str, Path]:
    """Archive name -> file, for every file under ``top`` that belongs in the package."""
    return dict(_walk(root, top, excluded))


def _walk(root: Path, folder: Path, seen: frozenset[Path]) -> Iterator[tuple[str, Path]]:
    """``seen``: the folders walked into (a symlink loop), and those excluded from the start."""
    real = folder.resolve()
    if real in seen:
        return
    seen = seen | {real}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        path = Path(entry.path)
        if entry.is_symlink():
            _check_link(root, path)
        if entry.is_dir():
            if entry.name in EXCLUDED_DIRS or (path / "pyvenv.cfg").exists():
                continue
            yield from _walk(root, path, seen)
        elif entry.is_file() and not entry.name.endswith(EXCLUDED_SUFFIXES):
            yield path.relative_to(root).as_posix(), path


def _check_link(root: Path, link: Path) -> None:
    target = link.resolve()
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
                raise PackageError(f"cannot read file: {exc.strerror}", where=str(path)) from exc
            archive.writestr(info, data)
    return buffer.getvalue()
