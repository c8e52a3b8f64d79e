"""Helpers for end-to-end tests: a private local cloud, the CLI in a subprocess,
HTTP requests, and a steady client that counts failed requests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ports import free_port

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_BLOG = REPO / "examples" / "blog"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class LocalCloudEnv:
    """A private TEAL_HOME and gateway port, and the CLI run against them."""

    home: Path
    port: int
    project: Path

    @property
    def env(self) -> dict[str, str]:
        shared = ("TEAL_RUNTIMES_CACHE",)  # content-addressed: every test may share it
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEAL_") or k in shared}
        env.update(TEAL_HOME=str(self.home), TEAL_LOCAL_PORT=str(self.port))
        return env

    def teal(self, *args: str, timeout: float = 180, env: dict[str, str] | None = None) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "teal", *args, "--project", str(self.project)],
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def teal_ok(self, *args: str) -> Run:
        result = self.teal(*args)
        assert result.code == 0, f"teal {' '.join(args)} failed:\n{result.err}\n{result.out}"
        return result

    def edit_app(self, old: str, new: str) -> None:
        app = self.project / "app.py"
        text = app.read_text()
        assert old in text, old
        app.write_text(text.replace(old, new))


RENAME = [('"/posts/{id}', '"/posts/{post_id}'), ('path_params["id"]', 'path_params["post_id"]')]


def rename_id_to_post_id(cloud: LocalCloudEnv) -> None:
    """The route change an in-place update cannot make (and version 2 of the app)."""
    text = (cloud.project / "app.py").read_text()
    for old, new in RENAME:
        text = text.replace(old, new)
    (cloud.project / "app.py").write_text(text.replace('VERSION = "1"', 'VERSION = "2"'))


@pytest.fixture
def local_cloud(tmp_path: Path) -> Iterator[LocalCloudEnv]:
    project = tmp_path / "blog"
    shutil.copytree(EXAMPLE_BLOG, project)
    cloud = LocalCloudEnv(tmp_path / "teal-home", free_port(), project)
    yield cloud
    cloud.teal("local", "stop")


def get(
    url: str, method: str = "GET", body: bytes | None = None, timeout: float = 10
) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@dataclass
class SteadyClient:
    """Sends requests to one URL back to back, from a thread, until stopped.

    Bounded: at most ``limit`` requests and ``max_seconds`` of running time.
    """

    url: str
    limit: int = 20_000
    max_seconds: float = 240.0
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    bodies: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> SteadyClient:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and self.sent < self.limit and time.monotonic() < deadline:
            self.sent += 1
            try:
                status, body = get(self.url, timeout=35)
            except OSError as error:
                self.failures.append(f"no response: {error}")
                continue
            if status != 200:
                self.failures.append(f"{status}: {body[:200]}")
            else:
                self.bodies.add(body)
            time.sleep(0.005)
