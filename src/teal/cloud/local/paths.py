"""Where the local cloud keeps things under ``$TEAL_HOME``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from teal.settings import DEFAULT_HOME, DEFAULT_PORT, gateway_port, teal_home

__all__ = ["DEFAULT_HOME", "DEFAULT_PORT", "LocalPaths", "gateway_port", "teal_home"]


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
        """Handler output, one folder per function."""
        return self.home / "logs"

    @property
    def gateway_state(self) -> Path:
        """The running gateway's pid, port and start time (JSON)."""
        return self.home / "gateway.json"
