"""Where the local cloud keeps things under ``$TEAL_HOME``."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from teal.project.settings import teal_home
from teal.runtime.errors import UserError

LAMBDA_LOG_PREFIX = "/aws/lambda/"


def stream_of(log_file: Path) -> str:
    """The log stream a file of :meth:`LocalPaths.log_file` holds."""
    return unquote(log_file.name.removesuffix(".log"))


@dataclass(frozen=True)
class LocalPaths:
    home: Path

    @classmethod
    def default(cls) -> LocalPaths:
        return cls(teal_home())

    @property
    def database(self) -> Path:
        """SQLite metadata: stacks, resources, APIs, functions, domains, locks, history."""
        return self.home / "state.db"

    @property
    def artifacts(self) -> Path:
        """Content-addressed artifacts (code zips, nested templates), by key."""
        return self.home / "artifacts"

    def artifact(self, key: str) -> Path:
        return self.artifacts / key

    @property
    def code(self) -> Path:
        """Code artifacts unpacked once per content hash, for the workers."""
        return self.home / "code"

    @property
    def logs(self) -> Path:
        """Handler output, one folder per log group (see :meth:`log_folder`)."""
        return self.home / "logs"

    def log_folder(self, group: str) -> Path:
        """A log group's folder: ``logs/<name>`` for Lambda's ``/aws/lambda/<name>``
        (a function's own group, or an environment's), else the whole name quoted."""
        name = group.removeprefix(LAMBDA_LOG_PREFIX) if group.startswith(LAMBDA_LOG_PREFIX) else ""
        return self.logs / (quote(name, safe="") if name else quote(group, safe=""))

    def log_file(self, group: str, stream: str) -> Path:
        """A log stream's file: its name quoted (Lambda's have ``/`` and ``[$LATEST]``)."""
        return self.log_folder(group) / f"{quote(stream, safe='')}.log"

    @property
    def traffic(self) -> Path:
        """The gateway's traffic numbers per stage and second, appended in batches."""
        return self.home / "traffic.jsonl"

    @property
    def concurrency(self) -> Path:
        """The gateway's peak count of invocations at once, per function and second."""
        return self.home / "concurrency.jsonl"

    @property
    def requests(self) -> Path:
        """The gateway's request lines, appended in batches while someone reads them."""
        return self.home / "requests.jsonl"

    @property
    def requests_wanted(self) -> Path:
        """Touched by a reader of :attr:`requests` (``teal dev``) while it reads them."""
        return self.home / "requests.wanted"

    @property
    def gateway_state(self) -> Path:
        """The running gateway's pid, port and start time (JSON)."""
        return self.home / "gateway.json"

    @property
    def supervisor_state(self) -> Path:
        """The gateway's supervisor: its pid, and the gateway's restarts (JSON)."""
        return self.home / "supervisor.json"

    @property
    def worker_records(self) -> Path:
        """One small file per running worker process, naming the gateway that started it."""
        return self.home / "workers"


def refuse_dangerous_home(paths: LocalPaths) -> None:
    """A reset of a home that is ``/`` or the user's own would wipe far more than teal's."""
    resolved = paths.home.expanduser().resolve()
    if resolved in (Path("/"), Path.home().resolve()):
        raise UserError(
            f"TEAL_HOME is {resolved}, which reset would wipe",
            where="teal local reset",
            hint="point TEAL_HOME at a folder used only by teal",
        )


def empty_folder(folder: Path) -> int:
    """Delete what the folder holds, keeping the folder; how many entries went."""
    if not folder.is_dir():
        return 0
    entries = list(folder.iterdir())
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            _make_folders_writable(entry)  # unpacked code is read-only, as on Lambda
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return len(entries)


def _make_folders_writable(folder: Path) -> None:
    """Give back the owner's write permission on every folder, so their files can go."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o700)
