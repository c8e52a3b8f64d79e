"""The local cloud's Parameter Store and Secrets Manager: ``$TEAL_HOME/secrets.json``.

One JSON file, readable and writable by its owner alone (0600, in a home
teal keeps 0700), written whole to a new file and renamed over the old one,
under a lock file, so a reader never sees half a write. It is the only place
teal writes a value (``teal secrets set``); everything else names references.

Each value has a *generation*, a number taken from a counter that only grows:
a worker remembers the generations of the values it was started with, and
the gateway ends a worker whose values changed since (:class:`SecretsReader`),
so changing a value recycles exactly the workers that use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teal.cloud.local.model import FunctionSpec
from teal.cloud.local.paths import LocalPaths
from teal.runtime.secrets import (
    REFERENCES_VARIABLE,
    SOURCE_VARIABLE,
    Reference,
    decode_references,
)

STORE_FILE = "secrets.json"
LOCK_FILE = "secrets.lock"
OWNER_ONLY = 0o600
Stamp = tuple[int | None, ...]  # the generation of each reference a worker uses


def store_path(paths: LocalPaths) -> Path:
    return paths.home / STORE_FILE


@dataclass
class _Contents:
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # ref -> value, generation
    counter: int = 0

    @classmethod
    def read(cls, path: Path) -> _Contents:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        return cls(dict(data.get("values", {})), int(data.get("counter", 0)))

    def write(self, path: Path) -> None:
        scratch = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OWNER_ONLY)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"counter": self.counter, "values": self.values}, out, sort_keys=True)
        os.chmod(scratch, OWNER_ONLY)  # an existing scratch file kept its old mode
        os.replace(scratch, path)


@contextlib.contextmanager
def _locked(paths: LocalPaths) -> Iterator[Path]:
    """The store, for one writer at a time (across processes)."""
    import fcntl

    paths.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(paths.home / LOCK_FILE, os.O_RDWR | os.O_CREAT, OWNER_ONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield store_path(paths)
    finally:
        os.close(fd)


def set_value(paths: LocalPaths, ref: str, value: str) -> bool:
    """Keep ``value`` as ``ref``'s; True when it is new, False when it replaced one."""
    with _locked(paths) as path:
        contents = _Contents.read(path)
        created = ref not in contents.values
        contents.counter += 1
        contents.values[ref] = {"value": value, "generation": contents.counter}
        contents.write(path)
    return created


def remove_value(paths: LocalPaths, ref: str) -> bool:
    """Forget ``ref``'s value; False when the store held none."""
    with _locked(paths) as path:
        contents = _Contents.read(path)
        if contents.values.pop(ref, None) is None:
            return False
        contents.write(path)
    return True


def stored_refs(paths: LocalPaths) -> list[str]:
    """The references the store holds a value for, sorted; never the values."""
    return sorted(_Contents.read(store_path(paths)).values)


def missing_refs(paths: LocalPaths, refs: Collection[str]) -> list[str]:
    """Of ``refs``, those the store holds no value for, sorted."""
    held = _Contents.read(store_path(paths)).values
    return sorted(ref for ref in set(refs) if ref not in held)


class SecretsReader:
    """The gateway's view of the store, read again only when the file changed (a
    ``stat`` per cold start and per warm request of a function with references)."""

    def __init__(self, paths: LocalPaths) -> None:
        self.path = store_path(paths)
        self._seen: tuple[int, int, int] | None = None
        self._contents = _Contents()

    def _current(self) -> _Contents:
        try:
            info = os.stat(self.path)
            seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            seen = (0, 0, 0)
        if seen != self._seen:
            self._contents = _Contents.read(self.path) if seen[0] else _Contents()
            self._seen = seen
        return self._contents

    def stamp(self, references: Collection[Reference]) -> Stamp:
        values = self._current().values
        return tuple(
            values[r.ref]["generation"] if r.ref in values else None
            for r in sorted(references, key=lambda r: r.ref)
        )

    def values(self, references: Collection[Reference]) -> dict[str, str]:
        """``{ref: value}`` of the references the store holds (a missing one is left
        out: the runtime names it)."""
        values = self._current().values
        return {r.ref: str(values[r.ref]["value"]) for r in references if r.ref in values}


# ---------------------------------------------------------------- handing values to a worker

_known: dict[str, dict[str, Reference]] = {}  # by version key: a spec never changes


def references_of(spec: FunctionSpec) -> dict[str, Reference]:
    """The references a function's template gave it (:data:`REFERENCES_VARIABLE`)."""
    found = _known.get(spec.version_key)
    if found is None:
        text = spec.variables.get(REFERENCES_VARIABLE)
        found = _known[spec.version_key] = decode_references(text) if text else {}
    return found


class ValuesPipe:
    """The values of one worker's references, on their way through a pipe.

    The worker inherits the read end (``pass_fds``) and is told its number by
    :data:`SOURCE_VARIABLE`; teal's runtime reads it at the first invocation, so
    the parent writes from a thread of its own (more than a pipe holds would
    otherwise block it) and closes its end, which the reader sees as the end.
    """

    def __init__(self, values: dict[str, str]) -> None:
        self._payload = json.dumps(values).encode("utf-8")
        self.read_fd, self._write_fd = os.pipe()

    @property
    def variables(self) -> dict[str, str]:
        return {SOURCE_VARIABLE: f"fd:{self.read_fd}"}

    def hand_over(self) -> None:
        """The worker has started: write the values, and keep no end of the pipe."""
        os.close(self.read_fd)
        threading.Thread(target=self._write, name="teal-secret-values", daemon=True).start()

    def _write(self) -> None:
        with contextlib.suppress(OSError), os.fdopen(self._write_fd, "wb") as pipe:
            pipe.write(self._payload)  # a worker gone already: nothing to tell it

    def discard(self) -> None:
        """The worker never started: close both ends."""
        for fd in (self.read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
