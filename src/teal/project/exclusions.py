"""Which files of a project its code package leaves out, and why.

The rules follow gitignore's syntax (read with pathspec) and come in layers.
For each path the highest layer with a matching line decides, a ``!pattern``
keeping what it matches:

1. ``teal.toml`` at the project's root, never packaged: its values reach the
   functions through the template (``[app.environment]`` as variables), and a
   copy in the zip would only hand them to whoever can read the code;
2. ``[app] exclude`` in teal.toml;
3. the project's ``.tealignore``;
4. teal's defaults (:data:`DEFAULT_IGNORE`: version control, virtual
   environments, caches, tests, ``.env*`` secrets, editor leftovers);
5. the ``.gitignore`` files inside the project, as git reads them: each one's
   patterns are relative to its folder, a deeper file wins over a shallower
   one, and the last matching line of a file wins.

So a ``!pattern`` in ``.gitignore`` never brings back what teal leaves out
by default (git's idea of what to track is not a decision to ship secrets),
while one in ``.tealignore`` or ``[app] exclude`` does. As in git, a folder
left out is not entered: nothing inside it comes back, and its own
``.gitignore`` is not read. ``.gitignore`` files above the project folder,
``.git/info/exclude`` and git's global excludes are not read: they are not
part of the project, and the same checkout must give the same zip on every
machine. A line of a ``.gitignore`` that git would ignore as meaningless
(``!`` alone, a trailing backslash) is ignored here too; a bad line in teal's
own layers is an error naming its file.

Folders holding a ``pyvenv.cfg`` (virtual environments) and teal's own
folders inside the project (``$TEAL_HOME``, ``teal package --out``) are
never packaged either.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from teal.project.config import CONFIG_FILE
from teal.runtime.errors import PackageError

IGNORE_FILE = ".tealignore"
GITIGNORE = ".gitignore"
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
    # the files that say what to package: Lambda does not need them
    IGNORE_FILE,
    GITIGNORE,
)
DEFAULTS = "teal's defaults"
APP_EXCLUDE = "teal.toml [app] exclude"
SETTINGS = "teal's settings (their values reach the functions through the template)"
VIRTUAL_ENVIRONMENT = "a virtual environment (it holds pyvenv.cfg)"
TEALS_OWN = "teal's own folder (its state, or a package it wrote)"


@dataclass(frozen=True)
class Exclusion:
    """A path of the project the package leaves out, and the rule that left it out."""

    path: str  # as it would be named in the zip; a folder ends with '/'
    source: str  # the file of the rule, or why a fixed rule holds
    pattern: str | None = None  # the rule's line, when a pattern decided

    def describe(self) -> str:
        rule = f" ({self.pattern!r})" if self.pattern is not None else ""
        return f"{self.source}{rule}"

    def to_json(self) -> dict[str, str | None]:
        return {"path": self.path, "source": self.source, "pattern": self.pattern}


class _Layer:
    """Lines of one source, relative to the folder ``base`` ("" or "sub/") of the project."""

    def __init__(self, source: str, base: str, spec: pathspec.GitIgnoreSpec) -> None:
        self.source = source
        self.base = base
        self.spec = spec
        self._any = _any_line(spec)

    def verdict(self, name: str) -> tuple[bool, str] | None:
        """(left out?, the deciding line) when a line matches ``name``, else None."""
        if not name.startswith(self.base):
            return None
        local = name[len(self.base) :]
        if self._any is not None and self._any.search(local) is None:
            return None  # most paths match no line: one search says so
        found = self.spec.check_file(local)
        if found.include is None or found.index is None:
            return None
        line = getattr(self.spec.patterns[found.index], "pattern", None)
        return found.include, str(line) if line is not None else "?"


def _any_line(spec: pathspec.GitIgnoreSpec) -> re.Pattern[str] | None:
    """One expression matching what any line of ``spec`` matches (pathspec tries them one
    by one), or None when it cannot be made. Named groups become plain ones: they mark
    parts of a match, never what matches."""
    expressions = []
    for pattern in spec.patterns:
        regex = getattr(pattern, "regex", None)
        if pattern.include is None:
            continue  # a blank line or a comment
        if not isinstance(regex, re.Pattern):
            return None
        expressions.append("(?:" + _NAMED_GROUP.sub("(?:", regex.pattern) + ")")
    try:
        return re.compile("|".join(expressions)) if expressions else re.compile("(?!)")
    except re.error:
        return None


_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


class PackageRules:
    """The exclusion rules of one project as they are now (files read when needed)."""

    def __init__(self, project_dir: Path, patterns: Sequence[str] = ()) -> None:
        """``patterns`` are ``[app] exclude``'s lines."""
        self.root = project_dir.resolve()
        ignore_file = self.root / IGNORE_FILE
        own = _lines_of(ignore_file) if ignore_file.is_file() else []
        self._fixed = (
            _Layer(APP_EXCLUDE, "", strict_rules(patterns, APP_EXCLUDE)),
            _Layer(IGNORE_FILE, "", strict_rules(own, str(ignore_file))),
            _Layer(DEFAULTS, "", default_rules()),
        )
        self._chains: dict[str, tuple[_Layer, ...]] = {}

    def check(self, name: str, *, is_dir: bool) -> Exclusion | None:
        """Why ``name`` (relative, '/'-separated) is left out, or None when it goes in.
        Its folders are taken to be in: the walk never enters one left out."""
        if not is_dir and name == CONFIG_FILE:
            return Exclusion(name, SETTINGS)
        shown = name + "/" if is_dir else name
        if is_dir and (self.root / name / "pyvenv.cfg").exists():
            return Exclusion(shown, VIRTUAL_ENVIRONMENT)
        for layer in (*self._fixed, *self._gitignores(name.rpartition("/")[0])):
            verdict = layer.verdict(shown)
            if verdict is not None:
                left_out, line = verdict
                return Exclusion(shown, layer.source, line) if left_out else None
        return None

    def leaves_out(self, name: str) -> Exclusion | None:
        """Why ``name`` (a file) is left out, its folders checked first, or None."""
        folder, _, _ = name.rpartition("/")
        return self.folder_left_out(folder) or self.check(name, is_dir=False)

    def folder_left_out(self, folder: str) -> Exclusion | None:
        """Why the walk would not enter ``folder`` ("" the root) or one above it, or None."""
        parts = folder.split("/") if folder else []
        for depth in range(1, len(parts) + 1):
            found = self.check("/".join(parts[:depth]), is_dir=True)
            if found is not None:
                return found
        return None

    def _gitignores(self, folder: str) -> tuple[_Layer, ...]:
        """The .gitignore layers for what ``folder`` ("" the root) holds, the deepest
        first; each folder's read once by this instance."""
        chain = self._chains.get(folder)
        if chain is None:
            above = self._gitignores(folder.rpartition("/")[0]) if folder else ()
            own = _read_gitignore(self.root, folder + "/" if folder else "")
            chain = self._chains[folder] = (own, *above) if own is not None else above
        return chain


def _lines_of(ignore_file: Path) -> list[str]:
    """A .tealignore's lines; one that is not UTF-8 is refused at the line it breaks on."""
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


def _read_gitignore(root: Path, base: str) -> _Layer | None:
    path = root / base / GITIGNORE
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:  # none there (or not a file): git reads nothing either
        return None
    return _Layer(base + GITIGNORE, base, lenient_rules(lines))


@functools.cache
def default_rules() -> pathspec.GitIgnoreSpec:
    return strict_rules(DEFAULT_IGNORE, DEFAULTS)


def strict_rules(lines: Iterable[str], source: str) -> pathspec.GitIgnoreSpec:
    """teal's own layers: a line pathspec cannot read is an error naming ``source``."""
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except (ValueError, TypeError) as exc:  # pathspec's pattern errors are ValueErrors
        raise PackageError(
            f"invalid exclusion pattern: {exc}",
            where=source,
            hint="patterns follow .gitignore's syntax, e.g. 'tests/', '*.db', '!keep.db'",
        ) from exc


def lenient_rules(lines: Iterable[str]) -> pathspec.GitIgnoreSpec:
    """A .gitignore's lines, without those git would skip as meaningless."""
    kept = []
    for line in lines:
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except (ValueError, TypeError):
            continue
        kept.append(line)
    return pathspec.GitIgnoreSpec.from_lines(kept)
