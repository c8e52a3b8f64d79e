"""What the benchmarks share about loopback: a free port to serve on, and teal's CLI
run against a private local cloud."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def teal_json(env: dict[str, str], project: Path, *args: str) -> Any:
    """``teal ARGS --project PROJECT --json``'s answer; a failure stops the benchmark."""
    command = [sys.executable, "-m", "teal", *args, "--project", str(project), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"teal {' '.join(args)} failed:\n{done.stderr}{done.stdout}")
    return json.loads(done.stdout)
