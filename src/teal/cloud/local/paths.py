"""Where the local cloud keeps things under ``$TEAL_HOME``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from teal.errors import ConfigError

DEFAULT_HOME = Path("~/.local/share/teal")
DEFAULT_PORT = 4510
PORTS = range(1024, 65536)  # above the privileged ports, up to the last one


def teal_home() -> Path:
    return Path(os.environ.get("TEAL_HOME") or DEFAULT_HOME).expanduser()


def gateway_port() -> int:
    """The gateway's port: ``$TEAL_LOCAL_PORT`` (empty or unset: the default)."""
    text = os.environ.get("TEAL_LOCAL_PORT", "")
    if not text:
        return DEFAULT_PORT
    try:
        port = int(text)
    except ValueError:
        port = None
    if port is None or port not in PORTS:
        raise ConfigError(
            f"{text!r} is not a port number the local gateway can use",
            where="TEAL_LOCAL_PORT",
            hint=f"set it to a port number from {PORTS.start} to {PORTS.stop - 1}, "
            f"or unset it for the default {DEFAULT_PORT}",
        )
    return port


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
