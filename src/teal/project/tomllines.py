"""Where a key sits in a TOML file, so that config errors can name its line.

``tomllib`` gives values without positions. Error messages only need the line
of a table header or of a key, so a small scan of the text finds them: table
headers (``[a.b]``), array-of-tables headers (``[[checks]]``, numbered like
the list they make) and key lines (``key = ...``, dotted keys too), skipping
the inside of multi-line strings, and the items of an array written over
several lines (``policies = [`` then an item per line: ``("app", "policies", 0)``).
A key the scan cannot place falls back to the nearest table that holds it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

Key = tuple[str | int, ...]

_SIMPLE = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_SIMPLE}(?:\s*\.\s*{_SIMPLE})*"
_TABLE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]\s*(?:#.*)?$")
_ARRAY_TABLE = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]\s*(?:#.*)?$")
_KEY_LINE = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART = re.compile(_SIMPLE)
_MULTILINE_QUOTES = ('"""', "'''")


def key_lines(text: str) -> dict[Key, int]:
    """The first line (from 1) of every table and key, by its path of keys."""
    scan = _Scan()
    open_quote: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if scan.items is not None:
            scan.items.read(line, number, scan.lines)
            if scan.items.done:
                scan.items = None
            continue
        if open_quote is not None:
            if line.count(open_quote) % 2 == 1:
                open_quote = None
            continue
        scan.read(line, number)
        open_quote = next((q for q in _MULTILINE_QUOTES if line.count(q) % 2 == 1), None)
    return scan.lines


def line_of(lines: Mapping[Key, int], loc: Sequence[str | int]) -> int | None:
    """The line of ``loc``, else of the nearest enclosing table or key that has one."""
    path = tuple(p for p in loc if p != "[key]")  # pydantic marks errors in a dict key so
    for end in range(len(path), 0, -1):
        found = lines.get(path[:end])
        if found is not None:
            return found
    return None


class _Scan:
    def __init__(self) -> None:
        self.lines: dict[Key, int] = {}
        self.table: Key = ()
        self.array_counts: dict[tuple[str, ...], int] = {}
        self.items: _ArrayItems | None = None  # an array value still open at the line's end

    def read(self, line: str, number: int) -> None:
        if found := _ARRAY_TABLE.match(line):
            parts = _split(found.group(1))
            self.array_counts[parts] = self.array_counts.get(parts, -1) + 1
            self.table = self._resolve(parts)
            self._record(self.table, number)
        elif found := _TABLE.match(line):
            self.table = self._resolve(_split(found.group(1)))
            self._record(self.table, number)
        elif found := _KEY_LINE.match(line):
            path = self.table + _split(found.group(1))
            self._record(path, number)
            value = line[found.end() :].lstrip()
            if value.startswith("["):
                items = _ArrayItems(path)
                items.read(value, number, self.lines)
                self.items = None if items.done else items

    def _resolve(self, parts: tuple[str, ...]) -> Key:
        """Header keys to a path, with the current index after each array of tables."""
        path: list[str | int] = []
        for end in range(1, len(parts) + 1):
            path.append(parts[end - 1])
            index = self.array_counts.get(parts[:end])
            if index is not None:
                path.append(index)
        return tuple(path)

    def _record(self, path: Key, number: int) -> None:
        for end in range(1, len(path) + 1):  # tables a dotted key or header defines implicitly
            self.lines.setdefault(path[:end], number)


class _ArrayItems:
    """The line of each item of an array value, read across as many lines as it takes.

    It follows brackets, braces, strings and comments, and records where each
    top-level item starts: an inline table per line gets its own line.
    """

    def __init__(self, path: Key) -> None:
        self.path = path
        self.depth = 0
        self.index = 0
        self.expecting = False  # the next character that is not blank starts an item
        self.done = False

    def read(self, line: str, number: int, lines: dict[Key, int]) -> None:
        quote: str | None = None
        escaped = False
        for char in line:
            if quote is not None:
                if escaped:
                    escaped = False
                elif char == "\\" and quote == '"':
                    escaped = True
                elif char == quote:
                    quote = None
                continue
            if char == "#":
                return
            if self.depth == 1 and self.expecting and char not in " \t,]":
                lines.setdefault((*self.path, self.index), number)
                self.index += 1
                self.expecting = False
            if char in "\"'":
                quote = char
            elif char in "[{":
                self.depth += 1
                self.expecting = self.depth == 1
            elif char in "]}":
                self.depth -= 1
                if self.depth == 0:
                    self.done = True
                    return
            elif char == "," and self.depth == 1:
                self.expecting = True


def _split(dotted: str) -> tuple[str, ...]:
    return tuple(_unquote(part.group(0)) for part in _PART.finditer(dotted))


def _unquote(part: str) -> str:
    if part.startswith("'"):
        return part[1:-1]
    if part.startswith('"'):
        try:
            return str(json.loads(part))
        except ValueError:  # a TOML escape JSON lacks; the raw text is close enough
            return part[1:-1]
    return part
