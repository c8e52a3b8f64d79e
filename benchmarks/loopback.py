"""What the benchmarks share about loopback: a free port to serve on, and teal's CLI
run against a private local cloud."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
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


@dataclass
class Sandbox:
    """A project and a private local cloud (its own TEAL_HOME and port) that teal's CLI
    runs against; the runtimes' content-addressed cache is shared when one is set."""

    project: Path
    home: Path
    port: int

    def teal(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEAL_")}
        env.update(TEAL_HOME=str(self.home), TEAL_LOCAL_PORT=str(self.port))
        if cache := os.environ.get("TEAL_RUNTIMES_CACHE"):
            env["TEAL_RUNTIMES_CACHE"] = cache
        return subprocess.run(
            [sys.executable, "-m", "teal", *args, "--project", str(self.project)],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )

    def teal_json(self, *args: str) -> Any:
        run = self.teal(*args, "--json")
        if run.returncode != 0:
            raise SystemExit(f"teal {' '.join(args)} failed:\n{run.stderr}")
        return json.loads(run.stdout)
