"""``teal logs``: the environment's function logs, across API generations."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.markup import escape

from teal.cli.common import console, emit_json, err_console, load_target, target_options
from teal.cli.output import warn
from teal.cloud import open_cloud
from teal.ops.environments import find_environment
from teal.ops.logs import (
    LogsReport,
    Pause,
    follow_logs,
    parse_since,
    read_logs,
)
from teal.project.package import project_sources
from teal.rules.lambda_logs import LogLine

DEFAULT_SINCE = "10m"
# Following: locally a new line shows within a second; CloudWatch is asked less often.
LOCAL_PAUSE = Pause(first=0.25, factor=1.5, cap=1.0)
AWS_PAUSE = Pause(first=1.0, factor=1.5, cap=5.0)


@click.command(name="logs")
@click.argument("function", required=False)
@target_options
@click.option(
    "--since",
    default=DEFAULT_SINCE,
    show_default=True,
    help="How far back: 30s, 10m, 2h, 1d, or a time (2026-05-01T12:00:00Z).",
)
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Only the last N lines.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
def logs_command(
    *,
    function: str | None,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    since: str,
    limit: int | None,
    follow: bool,
) -> None:
    """Print the environment's function logs (FUNCTION: only that function's), oldest
    first: each line with its time, function and request id, tracebacks whole.

    One stream for the whole environment, before and after API replacements.
    Failed invocations (an unhandled error, a traceback, a timeout) are named
    first, in red below.
    """
    _, target = load_target(project, env, extra, cloud)
    since_ms = parse_since(since, int(time.time() * 1000))
    the_cloud = open_cloud(target)
    environment = find_environment(the_cloud, target)
    sources = project_sources(target.project_dir, target.exclude)
    if follow:
        pause = LOCAL_PAUSE if target.cloud == "local" else AWS_PAUSE
        lines = follow_logs(
            the_cloud, environment.name, since_ms, function=function, sources=sources, pause=pause
        )
        try:
            for line in lines:
                _print_followed(line, as_json)
        except KeyboardInterrupt:
            return  # Ctrl-C is how a follow ends
        return
    report = read_logs(
        the_cloud, environment.name, since_ms, function=function, limit=limit, sources=sources
    )
    if as_json:
        emit_json(report.to_json())
    else:
        _print_report(report, since)


def _print_followed(line: LogLine, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(line.to_json()) + "\n")
        sys.stdout.flush()
    else:
        console.print(render_line(line))


def _print_report(report: LogsReport, since: str) -> None:
    if not report.lines:
        err_console.print(
            f"no log lines in {report.log_group} in the last {since}"
            if since[-1:].isalpha()
            else f"no log lines in {report.log_group} since {since}",
            markup=False,
        )
        return
    failures = report.failures
    if failures:
        last = failures[-1]
        warn(
            err_console,
            f"{len(failures)} failed invocation{'s' if len(failures) > 1 else ''} in this "
            f"window; the last: {last.function}, request {last.request_id or '?'}: "
            f"{first_line(last.message)}",
        )
    for line in report.lines:
        console.print(render_line(line))


def first_line(message: str) -> str:
    """What a failure says in one line: an exception's own line, else the first."""
    lines = [part for part in message.splitlines() if part.strip()]
    if lines and lines[0].startswith("Traceback"):
        return lines[-1]
    return lines[0] if lines else ""


def render_line(line: LogLine) -> str:
    """``12:00:01.234 posts 3f2a1b7c message``, failures in red, continuation indented."""
    when = line.time.strftime("%H:%M:%S.%f")[:-3]
    request = (line.request_id or "-")[:8]
    style = "red" if line.failed else ("dim" if line.is_lambda_line else "")
    body = escape(line.message).replace("\n", "\n    ")
    text = f"[{style}]{body}[/]" if style else body
    return f"[dim]{when}[/] [cyan]{escape(line.function)}[/] [dim]{request}[/] {text}"


def register(group: click.Group) -> None:
    group.add_command(logs_command)
