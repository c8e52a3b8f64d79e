"""Deterministic code packages: the same files always give the same zip bytes.

A package holds the project's code plus teal's runtime shim, so the very same
zip runs on Lambda and in the local cloud. Its SHA-256 is the artifact's
identity: ``code/<sha256>.zip``.

Which of the project's files go in is :mod:`teal.project.exclusions`' to say
(``teal.toml`` never does, ``.gitignore`` files, teal's defaults,
``.tealignore``, ``[app] exclude``); the package keeps what it left out and
why, for ``teal package`` to show.
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
from typing import Protocol

from teal.project.cachedirs import built_once
from teal.project.exclusions import DEFAULTS, TEALS_OWN, Exclusion, PackageRules, default_rules
from teal.project.layers import LayerPackage
from teal.rules.lambda_logs import SourceMap
from teal.runtime.errors import PackageError, UserError

TEAL_DIR = Path(__file__).resolve().parent.parent


def runtime_files() -> tuple[str, ...]:
    """What of teal runs inside Lambda: the package's face (``teal/__init__.py``, which
    app code imports) and the runtime package, whole. Standard library only."""
    runtime = sorted(path.name for path in (TEAL_DIR / "runtime").glob("*.py"))
    return ("__init__.py", "_version.py", *(f"runtime/{name}" for name in runtime))


FIXED_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Package:
    data: bytes
    sha256: str
    files: tuple[str, ...]
    unzipped_size: int = 0
    excluded: tuple[Exclusion, ...] = ()  # what of the project was left out, and why
    dependencies: str | None = None  # where the dependencies come from, in a few words
    layers: tuple[LayerPackage, ...] = ()  # the dependency layer of each architecture

    @property
    def key(self) -> str:
        """The artifact key, content-addressed."""
        return f"code/{self.sha256}.zip"


@dataclass(frozen=True)
class Selection:
    """The project's files that go into its package, and those left out."""

    files: dict[str, Path]  # archive name -> file
    excluded: tuple[Exclusion, ...]


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
        entries.update(_Walk(top, _vendored_exclusion).files(top, "", frozenset({str(top)})))
    own = select_files(root, exclude, patterns)
    if any(name.startswith("teal/") for name in own.files):
        raise PackageError(
            "the project has its own 'teal' package, which would hide teal's runtime",
            where=str(root / "teal"),
            hint="rename that folder",
        )
    entries.update(own.files)
    entries.update(_runtime_entries())
    data = _zip(entries)
    unzipped = sum(path.stat().st_size for path in entries.values())
    digest = hashlib.sha256(data).hexdigest()
    return Package(data, digest, tuple(sorted(entries)), unzipped, own.excluded)


def select_files(
    project_dir: Path, exclude: Iterable[Path] = (), patterns: Sequence[str] = ()
) -> Selection:
    """What of the project goes into its package, and what is left out (a folder left
    out is one entry: what it holds is not looked at)."""
    rules = PackageRules(project_dir, patterns)
    held_out = frozenset(os.path.realpath(folder) for folder in exclude)
    walk = _Walk(rules.root, rules.check, held_out - {str(rules.root)})
    files = dict(walk.files(rules.root, "", frozenset({str(rules.root)})))
    return Selection(files, tuple(walk.left_out))


def vendored_files(folder: Path) -> dict[str, Path]:
    """Archive name -> file of installed dependencies, as a package or a layer carries
    them (teal's defaults leave out their caches and tests)."""
    top = folder.resolve()
    return dict(_Walk(top, _vendored_exclusion).files(top, "", frozenset({str(top)})))


def project_sources(project_dir: Path, exclude: Sequence[str] = ()) -> SourceMap | None:
    """The project's packaged files, for tracebacks that name them where they ran; None
    when the project cannot be read now (the lines then keep the paths they ran from:
    reading logs must not fail for a symlink loop saved a moment ago)."""
    try:
        files = select_files(project_dir, patterns=exclude).files
    except (UserError, OSError):
        return None
    return SourceMap(str(project_dir.resolve()), frozenset(files))


def project_files(
    project_dir: Path, exclude: Iterable[Path] = (), patterns: Sequence[str] = ()
) -> dict[str, Path]:
    """Archive name -> file, for every file of the project that goes into its package."""
    return select_files(project_dir, exclude, patterns).files


def _vendored_exclusion(name: str, *, is_dir: bool) -> Exclusion | None:
    """Vendored requirements lose only what teal leaves out by default (caches, tests)."""
    shown = name + "/" if is_dir else name
    return Exclusion(shown, DEFAULTS) if default_rules().match_file(shown) else None


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


class _Decides(Protocol):
    def __call__(self, name: str, *, is_dir: bool) -> Exclusion | None: ...


class _Walk:
    """A walk of a folder, keeping what ``decide`` keeps and noting what it leaves out;
    folders in ``held_out`` (real paths) are left out wherever they sit."""

    def __init__(self, root: Path, decide: _Decides, held_out: frozenset[str] = frozenset()):
        self.root = root
        self.decide = decide
        self.held_out = held_out
        self.left_out: list[Exclusion] = []

    def files(self, folder: Path, prefix: str, seen: frozenset[str]) -> Iterator[tuple[str, Path]]:
        """Archive name -> file under ``folder`` (named ``prefix``); ``seen``: the real
        paths of the folders walked into, so a symlink loop ends."""
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            name = prefix + entry.name
            try:
                is_dir = entry.is_dir()
            except OSError:  # a link that never ends (ELOOP): say so, by its name
                _check_link(self.root, Path(entry.path))
                raise
            if not is_dir and not entry.is_file():
                continue  # a socket, a broken link: nothing to package
            real = os.path.realpath(entry.path) if is_dir else ""
            why = (
                Exclusion(name + "/", TEALS_OWN)
                if real in self.held_out
                else self.decide(name, is_dir=is_dir)
            )
            if why is not None:
                # a folder left out is not entered, as git does: nothing inside comes back
                self.left_out.append(why)
                continue
            path = Path(entry.path)
            if entry.is_symlink():
                _check_link(self.root, path)
            if not is_dir:
                yield name, path
            elif real not in seen:
                yield from self.files(path, name + "/", seen | {real})


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
