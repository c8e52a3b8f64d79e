"""teal's settings from the process environment, for every part of teal.

``$TEAL_HOME`` (where the local cloud keeps its state, which no package may
carry), ``$TEAL_LOCAL_PORT`` (the local gateway's port),
``$TEAL_RUNTIMES_CACHE`` (where the runtimes' dependencies are installed) and
``$TEAL_IMPORT_TIMEOUT`` (how long teal lets the app's import take). Read here once,
so the core (packaging) and the local cloud agree.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from teal.runtime.errors import ConfigError

DEFAULT_HOME = Path("~/.local/share/teal")
DEFAULT_PORT = 4510
PORTS = range(1024, 65536)  # above the privileged ports, up to the last one
# Lambda gives a function's init (the import of its module) 10 s; with provisioned
# concurrency or SnapStart up to 900 s (the longest function timeout).
DEFAULT_IMPORT_TIMEOUT_S = 10.0
MAX_IMPORT_TIMEOUT_S = 900.0


def teal_home() -> Path:
    return Path(os.environ.get("TEAL_HOME") or DEFAULT_HOME).expanduser()


def runtimes_cache() -> Path:
    """Where the runtimes' installed requirements, SDK links and teal's shim are kept:
    ``$TEAL_RUNTIMES_CACHE``, else ``$TEAL_HOME/runtimes``. Content-addressed, so
    several local clouds (the tests' private ones, say) may share one."""
    shared = os.environ.get("TEAL_RUNTIMES_CACHE")
    return Path(shared).expanduser() if shared else teal_home() / "runtimes"


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


def import_timeout() -> float:
    """Seconds teal lets the app's import take: ``$TEAL_IMPORT_TIMEOUT`` (empty or unset:
    the 10 s Lambda gives a function's init)."""
    text = os.environ.get("TEAL_IMPORT_TIMEOUT", "")
    if not text:
        return DEFAULT_IMPORT_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_IMPORT_TIMEOUT_S:  # NaN fails this too
        raise ConfigError(
            f"{text!r} is not a number of seconds teal can wait for the app's import",
            where="TEAL_IMPORT_TIMEOUT",
            hint=f"set it to seconds above 0 and at most {MAX_IMPORT_TIMEOUT_S:g} (e.g. 30), "
            f"or unset it for the default {DEFAULT_IMPORT_TIMEOUT_S:g}",
        )
    return seconds
