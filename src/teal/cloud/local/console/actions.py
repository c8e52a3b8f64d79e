"""What the console can change, in one table, and how it runs: teal's own CLI, in the project.

A switch or a rollback from the console is ``teal switch`` / ``teal rollback``
run as a child process in the project folder the environment was deployed
from (:mod:`teal.cloud.local.projects`): the same code path as at a terminal,
with its locks, its checks from the project's teal.toml, its verification
through the domain and its history entry, and the user the gateway runs as.
The child runs beside the gateway's event loop (its checks call the gateway
itself over HTTP), and the console follows it: its progress lines as they
come, then its JSON answer or its error.

Each action is one row of :data:`ACTIONS`: its fields, the sentence the
confirmation page shows, and the command it runs. Another action is another
row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from teal.cloud.local.console.data import AppView, DomainView, EnvironmentView
from teal.cloud.local.paths import LocalPaths

KEPT_JOBS = 50  # the latest actions the console can still show
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# variables that would choose another environment than the one the console names
_CHOOSERS = ("TEAL_ENV", "TEAL_EXTRA", "TEAL_CLOUD")


class Refused(Exception):
    """The action cannot run as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Planned:
    """An action ready to confirm and run: what it does, and the command that does it."""

    action: str
    sentence: str
    args: tuple[str, ...]  # teal's arguments
    project: Path
    fields: Mapping[str, str]


Planner = Callable[[AppView, Mapping[str, str], Callable[[str], Path | None]], Planned]


@dataclass(frozen=True)
class Action:
    name: str
    label: str  # the button's word
    fields: tuple[str, ...]  # what its form sends besides app and CSRF token
    plan: Planner


def _environment(app: AppView, name: str) -> EnvironmentView:
    found = app.environment(name)
    if found is None:
        raise Refused(f"{name} is not an environment of {app.name}")
    return found


def _project(environment: EnvironmentView, root_of: Callable[[str], Path | None]) -> Path:
    """The project folder the environment was deployed from, still there."""
    root = root_of(environment.name)
    if root is None:
        raise Refused(
            f"the console does not know the project folder of {environment.name}: deploy it "
            "again (teal deploy records it), or run the command in the project"
        )
    if not (root / "teal.toml").is_file():
        raise Refused(
            f"{environment.name} was deployed from {root}, which holds no teal.toml any more: "
            "deploy it again from where the project is now"
        )
    return root


def plan_switch(
    app: AppView, fields: Mapping[str, str], root_of: Callable[[str], Path | None]
) -> Planned:
    domain = _domain(app, fields)
    goal = _environment(app, fields.get("to", ""))
    root = _project(goal, root_of)
    sentence = (
        f"Point {domain.name} at {goal.name} (it serves {domain.live or 'nothing'} now), "
        "after the checks of the project's teal.toml pass against it."
    )
    args = ("switch", "--env", goal.env, "--to", goal.name)
    return Planned("switch", sentence, args, root, {"domain": domain.name, "to": goal.name})


def plan_rollback(
    app: AppView, fields: Mapping[str, str], root_of: Callable[[str], Path | None]
) -> Planned:
    domain = _domain(app, fields)
    if domain.live is None or domain.previous is None:
        raise Refused(
            f"nothing to roll back on {domain.name}: no earlier switch, or it was rolled "
            "back already, or its watch switched it back already"
        )
    live = _environment(app, domain.live)
    root = _project(live, root_of)
    sentence = (
        f"Point {domain.name} back at {domain.previous} (it serves {domain.live} now), "
        "after the checks of the project's teal.toml pass against it."
    )
    args = ("rollback", "--env", live.env)
    return Planned("rollback", sentence, args, root, {"domain": domain.name})


def plan_preview(
    app: AppView, fields: Mapping[str, str], root_of: Callable[[str], Path | None]
) -> Planned:
    domain = _domain(app, fields)
    goal = _environment(app, fields.get("to", ""))
    if goal.name == domain.live:
        raise Refused(f"{goal.name} is what {domain.name} serves: there is nothing to preview")
    root = _project(goal, root_of)
    sentence = (
        f"Send the requests to {domain.name} that carry the header teal-preview to "
        f"{goal.name}; every other request stays on {domain.live or 'what it serves'}."
    )
    args = ("preview", "--env", goal.env, "--to", goal.name, "--domain", domain.name)
    return Planned("preview", sentence, args, root, {"domain": domain.name, "to": goal.name})


def plan_preview_off(
    app: AppView, fields: Mapping[str, str], root_of: Callable[[str], Path | None]
) -> Planned:
    domain = _domain(app, fields)
    if domain.preview is None:
        raise Refused(f"{domain.name} has no preview to end")
    previewed = _environment(app, domain.preview)
    root = _project(previewed, root_of)
    sentence = f"End the preview of {previewed.name} on {domain.name}: every request goes to "
    sentence += f"{domain.live or 'what it serves'}."
    args = ("preview", "--off", "--env", previewed.env, "--domain", domain.name)
    return Planned("preview-off", sentence, args, root, {"domain": domain.name})


def _domain(app: AppView, fields: Mapping[str, str]) -> DomainView:
    domain = app.domain(fields.get("domain", ""))
    if domain is None:
        raise Refused(f"{fields.get('domain')!r} is not a domain of {app.name}")
    return domain


ACTIONS: dict[str, Action] = {
    "switch": Action("switch", "Switch", ("domain", "to"), plan_switch),
    "rollback": Action("rollback", "Roll back", ("domain",), plan_rollback),
    "preview": Action("preview", "Preview", ("domain", "to"), plan_preview),
    "preview-off": Action("preview-off", "End the preview", ("domain",), plan_preview_off),
}


# ---------------------------------------------------------------- running


JobState = Literal["running", "done", "failed"]


@dataclass
class Job:
    """One action run from the console, and what its command said."""

    id: str
    planned: Planned
    app: str
    started: float
    state: JobState = "running"
    lines: list[str] = field(default_factory=list)  # its progress, as it printed it
    result: dict[str, Any] | None = None  # its JSON answer
    error: str | None = None
    ended: float | None = None

    @property
    def finished(self) -> bool:
        return self.state != "running"


def child_environment(environ: Mapping[str, str], paths: LocalPaths, port: int) -> dict[str, str]:
    """The command's variables: this local cloud, and no variable choosing an environment."""
    kept = {k: v for k, v in environ.items() if k not in _CHOOSERS}
    return {**kept, "TEAL_HOME": str(paths.home), "TEAL_LOCAL_PORT": str(port), "NO_COLOR": "1"}


def command_of(planned: Planned, python: str = sys.executable) -> list[str]:
    return [
        python,
        "-m",
        "teal",
        *planned.args,
        "--project",
        str(planned.project),
        "--cloud",
        "local",
        "--json",
    ]


class Jobs:
    """The actions started from the console, each a child process watched from the loop."""

    def __init__(self, paths: LocalPaths, port: int, python: str = sys.executable) -> None:
        self.paths = paths
        self.port = port
        self.python = python
        self._jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, planned: Planned, app: str) -> Job:
        job = Job(secrets.token_hex(8), planned, app, time.time())
        self._jobs[job.id] = job
        for old in list(self._jobs)[:-KEPT_JOBS]:
            if self._jobs[old].finished:
                del self._jobs[old]
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def recent(self) -> Sequence[Job]:
        return list(reversed(self._jobs.values()))

    async def _run(self, job: Job) -> None:
        try:
            child = await asyncio.create_subprocess_exec(
                *command_of(job.planned, self.python),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=job.planned.project,
                env=child_environment(os.environ, self.paths, self.port),
            )
        except OSError as error:
            self._end(job, "failed", error=f"could not start teal: {error}")
            return
        assert child.stdout is not None and child.stderr is not None
        answer, _ = await asyncio.gather(child.stdout.read(), self._progress(child.stderr, job))
        code = await child.wait()
        self._finish(job, code, answer)

    async def _progress(self, stream: asyncio.StreamReader, job: Job) -> None:
        async for raw in stream:
            line = _ANSI.sub("", raw.decode("utf-8", "replace")).rstrip()
            if line:
                job.lines.append(line)

    def _finish(self, job: Job, code: int, answer: bytes) -> None:
        payload: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            payload = json.loads(answer or b"{}")
        if code == 0:
            self._end(job, "done", result=payload)
            return
        error = payload.get("error") if isinstance(payload, dict) else None
        what = error.get("what") if isinstance(error, dict) else None
        self._end(job, "failed", error=str(what or f"teal exited with status {code}"))

    @staticmethod
    def _end(
        job: Job, state: JobState, *, result: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        job.result, job.error = result, error
        job.ended = time.time()
        job.state = state
