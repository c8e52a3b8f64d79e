"""``teal dev``: the inner loop, in the foreground, on the local cloud.

Deploy, then watch the project (watchfiles) and deploy again on every change,
through ``teal.ops.deploy.deploy`` as ``teal deploy`` does (a route change that
needs a new API replaces it, blue-green, and says so). Meanwhile print one
line per request the environment answers, from the gateway's request feed,
with the function's output and tracebacks under it, from the environment's
log group. Ctrl-C stops watching; a deploy under way finishes first, so the
local cloud is left as after ``teal deploy``, still serving the app.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.markup import escape

from teal.cli.common import (
    console,
    err_console,
    load_target,
    target_options,
)
from teal.cli.logs import render_line
from teal.cli.output import Activity, warn
from teal.cloud import open_cloud
from teal.cloud.base import Cloud
from teal.cloud.local import LocalPaths, RequestFeed, RequestLine
from teal.ops.decision import ReplacePolicy
from teal.ops.deploy import DeployReport, deploy
from teal.ops.environments import find_environment
from teal.ops.logs import LogFollower
from teal.ops.oplog import current_user
from teal.project.config import CONFIG_FILE, Target
from teal.project.exclusions import GITIGNORE, IGNORE_FILE, PackageRules
from teal.project.package import project_sources
from teal.project.settings import teal_home
from teal.rules.lambda_logs import LogLine, app_function
from teal.runtime.errors import TealError, UserError

TICK_MS = 250  # how often the request feed and the logs are read while watching
HOLD_LOGS_S = 1.5  # a log line waits this long for its request's line before it prints alone


@dataclass
class Deployed:
    """What the loop knows of the environment after a deploy."""

    endpoint: str | None
    api_ids: frozenset[str]


@dataclass
class _Held:
    line: LogLine
    since: float


@dataclass
class Printer:
    """Request lines with their function's lines under them, as text or JSON lines."""

    as_json: bool
    held: dict[str, list[_Held]] = field(default_factory=dict)
    printed: set[str] = field(default_factory=set)  # requests whose line is out

    def event(self, kind: str, **details: Any) -> None:
        if self.as_json:
            sys.stdout.write(json.dumps({"event": kind, **details}) + "\n")
            sys.stdout.flush()

    def logs(self, lines: list[LogLine], now: float) -> None:
        for line in lines:
            if line.is_lambda_line:
                continue  # START/END/REPORT: the request line says it better
            if line.request_id in self.printed or line.request_id is None:
                self._log(line)
            else:
                self.held.setdefault(line.request_id, []).append(_Held(line, now))

    def requests(self, environment: str, lines: list[RequestLine]) -> None:
        for line in lines:
            self.printed.add(line.request_id)
            function = app_function(environment, line.function) if line.function else ""
            if self.as_json:
                self.event("request", **{**line.to_json(), "function": function})
            else:
                console.print(render_request(line, function))
            for held in self.held.pop(line.request_id, []):
                self._log(held.line)

    def expire(self, now: float) -> None:
        """Log lines whose request line did not come: print them on their own."""
        for request_id in [r for r, held in self.held.items() if now - held[0].since > HOLD_LOGS_S]:
            for held in self.held.pop(request_id):
                self._log(held.line)
        if len(self.printed) > 10_000:
            self.printed.clear()

    def _log(self, line: LogLine) -> None:
        if self.as_json:
            self.event("log", **line.to_json())
        else:
            console.print("    " + render_line(line))


def render_request(line: RequestLine, function: str) -> str:
    """``12:00:01 GET /posts/1 200 12.3 ms posts``, coloured by status."""
    when = time.strftime("%H:%M:%S", time.localtime(line.time))
    colour = "red" if line.status >= 500 else "yellow" if line.status >= 400 else "green"
    name = f"[cyan]{escape(function)}[/]" if function else "[dim]-[/]"
    return (
        f"[dim]{when}[/] [bold]{escape(line.method)}[/] {escape(line.path)} "
        f"[{colour}]{line.status}[/] [dim]{line.ms:.1f} ms[/] {name}"
    )


class Interrupts:
    """Ctrl-C while a deploy runs waits for its end, so the local cloud stays consistent."""

    def __init__(self) -> None:
        self.requested = False

    @contextmanager
    def deferred(self) -> Iterator[None]:
        def note(_signum: int, _frame: FrameType | None) -> None:
            self.requested = True
            err_console.print("stopping once this deploy is done")

        previous = signal.signal(signal.SIGINT, note)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


class DevLoop:
    def __init__(self, target: Target, cloud: Cloud, printer: Printer) -> None:
        self.target = target
        self.cloud = cloud
        self.printer = printer
        self.interrupts = Interrupts()
        self.deployed = Deployed(None, frozenset())
        # what was answered, logged or saved from now on counts (the feed's first batch may
        # hold a few requests from just before)
        self.started = time.time()
        self.feed = RequestFeed(LocalPaths.default())  # the gateway's, which serves the cloud's
        self.follower = LogFollower(
            cloud,
            target.environment,
            int(self.started * 1000),
            sources=project_sources(target.project_dir, target.exclude),
        )

    def deploy(self, saved_at: float | None = None) -> None:
        """Deploy the project; a failure is printed and the loop goes on (the previous
        version still serves)."""
        with self.interrupts.deferred(), Activity(err_console) as activity:
            try:
                report = deploy(
                    self.target,
                    self.cloud,
                    ReplacePolicy(self.target.auto_replace, yes=True),
                    on_event=activity,
                    progress=activity.step,
                    user=current_user(),
                )
            except TealError as error:
                self._failed(error)
                return
        self._deployed(report, saved_at)

    def _deployed(self, report: DeployReport, saved_at: float | None) -> None:
        environment = find_environment(self.cloud, self.target)
        self.deployed = Deployed(report.endpoint, frozenset(environment.api_ids))
        latency = None if saved_at is None else time.time() - saved_at
        if report.api_replaced:
            warn(
                err_console,
                f"the routes needed a new API: it replaced the old one; the endpoint is now "
                f"{report.endpoint} (was {report.previous_endpoint})",
            )
        self.printer.event(
            "deployed",
            endpoint=report.endpoint,
            action=report.decision.value,
            api_replaced=report.api_replaced,
            latency_s=None if latency is None else round(latency, 3),
        )
        if not self.printer.as_json:
            measured = f" [dim](saved → serving in {latency:.2f} s)[/]" if latency else ""
            console.print(
                f"[bold green]✔[/] {self.target.environment} serves "
                f"{escape(report.endpoint or '-')}{measured}"
            )

    def _failed(self, error: TealError) -> None:
        label = "error" if isinstance(error, UserError) else "failed"
        err_console.print(f"[bold red]{label}:[/] {escape(error.render())}")
        err_console.print("the previous version still serves; save again to retry")
        self.printer.event("failed", what=error.what)

    def tick(self) -> None:
        """Print what was answered since the last tick."""
        now = time.time()
        self.printer.logs(self.follower.poll(), now)
        self.printer.requests(
            self.target.environment,
            [
                line
                for line in self.feed.read()
                if line.api_id in self.deployed.api_ids and line.time >= self.started
            ],
        )
        self.printer.expire(now)

    def watch(self, since: float) -> None:
        """Deploy on every change until Ctrl-C; a change saved since ``since`` (while the
        first deploy ran, before the watcher started) counts too."""
        import watchfiles  # only teal dev needs it: the other commands start without it

        # its own line on Ctrl-C would come before teal's "stopped watching"
        logging.getLogger("watchfiles").setLevel(logging.WARNING)
        relevant = Relevant(self.target)
        changes = watchfiles.watch(
            self.target.project_dir,
            watch_filter=relevant.file,
            step=50,
            rust_timeout=TICK_MS,
            yield_on_timeout=True,
            raise_interrupt=False,
        )
        try:
            for turn, seen in enumerate(changes):
                if turn == 0:  # the watcher runs from now on
                    self._watching()
                changed = seen or (relevant.changed_since(since) if turn == 0 else set())
                if changed:
                    self.deploy(saved_at=_saved_at(changed))
                self.tick()
                if self.interrupts.requested:
                    return
        except KeyboardInterrupt:
            return  # Ctrl-C between two deploys: nothing is under way

    def _watching(self) -> None:
        self.printer.event("watching", project=str(self.target.project_dir))
        if not self.printer.as_json:
            err_console.print(
                f"watching {self.target.project_dir} (Ctrl-C stops; the app stays served)"
            )


class Relevant:
    """What a deploy depends on: the files it packages (by the same rules: ``.gitignore``
    files, teal's defaults, ``.tealignore``, ``[app] exclude``), ``teal.toml`` and the
    files that hold those rules; never ``$TEAL_HOME``. Edits elsewhere (tests, a virtual
    environment, what git ignores) deploy nothing."""

    ALWAYS = frozenset({CONFIG_FILE, IGNORE_FILE})

    def __init__(self, target: Target) -> None:
        self.root = target.project_dir.resolve()
        self.home = teal_home().resolve()
        self.patterns = target.exclude

    def file(self, _change: Any, path: str) -> bool:
        name = self._name(path)
        if name is None:
            return False
        if name in self.ALWAYS:
            return True
        rules = self._rules()  # .tealignore or a .gitignore may have changed
        folder, _, base = name.rpartition("/")
        if base == GITIGNORE:  # rules, which count where the walk reads them
            return rules.folder_left_out(folder) is None
        return rules.leaves_out(name) is None

    def changed_since(self, since: float) -> set[tuple[Any, str]]:
        """The relevant files written since ``since``, as the watcher would report them."""
        from watchfiles import Change

        rules = self._rules()
        found: set[tuple[Any, str]] = set()
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = [d for d in dirs if self._enter(Path(folder) / d, rules)]
            for name in files:
                path = os.path.join(folder, name)
                if self.file(None, path) and _written_since(path, since):
                    found.add((Change.modified, path))
        return found

    def _rules(self) -> PackageRules:
        return PackageRules(self.root, self.patterns)

    def _enter(self, folder: Path, rules: PackageRules) -> bool:
        name = self._name(str(folder))
        return name is not None and rules.check(name, is_dir=True) is None

    def _name(self, path: str) -> str | None:
        """The path inside the project, or None for what is not the project's (or a symlink
        loop, which the deploy it would start refuses by name)."""
        try:
            resolved = Path(path).resolve()
        except (RuntimeError, OSError):  # a symlink loop: RuntimeError before Python 3.13
            return None
        if resolved.is_relative_to(self.home):
            return None
        try:
            name = resolved.relative_to(self.root).as_posix()
        except ValueError:
            return None
        return None if name == "." else name


def _written_since(path: str, since: float) -> bool:
    try:
        return os.stat(path).st_mtime > since
    except OSError:
        return False


def _saved_at(changes: set[tuple[Any, str]]) -> float | None:
    """When the last changed file was written (the save the reload answers)."""
    times = []
    for _, path in changes:
        try:
            times.append(os.stat(path).st_mtime)
        except OSError:
            continue
    return max(times) if times else None


@click.command(name="dev")
@target_options
def dev_command(
    *, project: Path, env: str | None, extra: str | None, cloud: str | None, as_json: bool
) -> None:
    """Deploy to the local cloud, then redeploy on every change of the project, printing
    each request (time, method, path, status, ms, function) with the function's output
    and tracebacks under it, until Ctrl-C. The app stays served afterwards.

    With --json, one JSON object per line, its "event" one of deployed, watching,
    request, log and failed.
    """
    _, target = load_target(project, env, extra, cloud)
    if target.cloud != "local":
        raise UserError(
            "teal dev runs on the local cloud",
            where="--cloud",
            hint="use teal deploy for AWS, and teal logs --follow to watch it",
        )
    loop = DevLoop(target, open_cloud(target), Printer(as_json))
    # the gateway writes request lines while asked, even through a deploy slower than its
    # patience: the requests right after "deployed" are printed too
    with loop.feed.kept_wanted():
        loop.deploy()
        if not loop.interrupts.requested:
            loop.watch(since=loop.started)
    if not as_json:
        err_console.print(f"stopped watching; {target.environment} still serves")


def register(group: click.Group) -> None:
    group.add_command(dev_command)
