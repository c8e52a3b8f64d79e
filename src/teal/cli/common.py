"""What every command shares: options, consoles, JSON output, target loading."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from teal.progress import notices
from teal.project.config import Project, Target, load_project, resolve_target
from teal.project.settings import gateway_port
from teal.runtime.errors import UserError

if TYPE_CHECKING:
    from teal.cloud.base import Cloud

# Results go to stdout; progress, warnings and errors to stderr, so that
# `--json` leaves exactly one JSON object on stdout.
# no emoji: ":secret:" in an ARN is text, not a shortcode to draw
console = Console(highlight=False, soft_wrap=True, emoji=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
    # Piped into a file or another program: tables keep whole URLs on one line
    # (they only grow as wide as their content) instead of folding at 80 columns.
    console.width = 240

F = TypeVar("F", bound=Callable[..., Any])


def progress(message: str) -> None:
    """One line of progress on stderr (stdout is for results)."""
    err_console.print(f"[bold]»[/] {escape(message)}")


class _WarningsOnStderr(logging.Handler):
    """Warnings the library reports through logging, printed like the CLI's own."""

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"[bold yellow]warning:[/] {escape(record.getMessage())}")


class _NoticesOnStderr(logging.Handler):
    """What the layers below tell the user once (:data:`teal.progress.notices`)."""

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"[bold]»[/] {escape(record.getMessage())}")


_warnings = logging.getLogger("teal.warnings")
_warnings.addHandler(_WarningsOnStderr())
_warnings.propagate = False
notices.addHandler(_NoticesOnStderr())
notices.setLevel(logging.INFO)
notices.propagate = False


def load_target(
    project_dir: Path, env: str | None, extra: str | None, cloud: str | None
) -> tuple[Project, Target]:
    """teal.toml and the environment the flags name (bad input: exit 2, before any work)."""
    project = load_project(project_dir)
    target = resolve_target(project, env=env, extra=extra, cloud=cloud)
    if target.cloud == "local":
        gateway_port()  # a bad TEAL_LOCAL_PORT stops the command before it changes anything
    return project, target


def project_option(func: F) -> F:
    return click.option(
        "--project",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("."),
        show_default=True,
        help="The project folder (holding teal.toml).",
    )(func)


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON object on stdout, nothing else."
    )(func)


def target_options(func: F) -> F:
    """--project, --env, --extra, --cloud and --json, as every environment command takes them."""
    func = click.option(
        "--cloud",
        type=click.Choice(["local", "aws"]),
        default=None,
        help="Where stacks live (overrides [app] cloud and TEAL_CLOUD).",
    )(func)
    func = click.option(
        "--extra",
        default=None,
        metavar="EXTRA",
        callback=_not_empty,
        help="A parallel copy of the env, e.g. 2 for <app>-<env>-2 (default: $TEAL_EXTRA; "
        "TEAL_EXTRA unset or empty means no extra).",
    )(func)
    func = click.option(
        "--env",
        default=None,
        metavar="ENV",
        callback=_not_empty,
        help="The env to work on (default: $TEAL_ENV, else dev; an empty TEAL_ENV means dev).",
    )(func)
    return json_option(project_option(func))


def _not_empty(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An empty flag is a mistake (an unset shell variable, say), not a request for the default.

    The variables are different: ``TEAL_EXTRA=`` is how a script says "no extra".
    """
    if value is not None and not value.strip():
        raise click.BadParameter(
            f"must not be empty; leave {param.opts[0]} out to use the default", param=param
        )
    return value


def emit_json(payload: dict[str, Any]) -> None:
    """Print the command's one JSON object on stdout."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    sys.stdout.flush()


def is_interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


T = TypeVar("T")


def parsed_by(
    parse: Callable[[str], T],
) -> Callable[[click.Context, click.Parameter, str | None], T | None]:
    """A click callback that reads an option with one of teal.toml's parsers (a duration,
    a percentage), so that the option and teal.toml accept the same words."""

    def callback(_ctx: click.Context, param: click.Parameter, value: str | None) -> T | None:
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as problem:
            raise click.BadParameter(str(problem), param=param) from None

    return callback


def confirm_deletion(
    question: str,
    *,
    refusal: str,
    where: str = "--yes",
    hint: str = "pass --yes when there is no terminal",
) -> None:
    """Ask ``question`` at a terminal (no: the command ends, nothing changed); without
    one, refuse as bad input, since nobody can answer (``--yes`` says yes up front)."""
    if not is_interactive():
        raise UserError(refusal, where=where, hint=hint)
    click.confirm(question, default=False, abort=True, err=True)


def accepts_project(func: F) -> F:
    """``--project`` on commands that do not depend on a project (the local cloud is
    per user), so that every command takes it, as scripts expect."""
    return click.option(
        "--project",
        type=click.Path(file_okay=False, path_type=Path),
        expose_value=False,
        help="Accepted for uniformity; the local cloud is shared by every project.",
    )(func)


def open_watched_cloud(target: Target) -> Cloud:
    """The target's cloud, after a warning for each watch of the app that lost its
    command before its verdict (what judges it now, if anything)."""
    from teal.cloud import open_cloud
    from teal.ops.watch import orphaned_watches

    cloud = open_cloud(target)
    for sentence in orphaned_watches(cloud, target.app):
        _warnings.warning(sentence)
    return cloud


def gateway_sentence(gateway: Mapping[str, Any]) -> str:
    """The local gateway in a sentence, from its JSON (``ServingHealth.to_json``): down,
    or restarted (how often, when last and why), or serving."""
    last = gateway.get("last_restart")
    restarts = int(gateway.get("restarts") or 0)
    restarted = ""
    if restarts and last:
        times = "once" if restarts == 1 else f"{restarts} times"
        restarted = f"restarted {times}, last at {last['time']} ({last['reason']})"
    if gateway["state"] == "serving":
        serving = f"local gateway: serving at {gateway['url']} (pid {gateway['pid']})"
        return f"{serving}; {restarted}" if restarted else serving
    if gateway["state"] == "starting":
        return "local gateway: starting (another teal command started it just now)"
    if gateway["state"] == "restarting":
        since = gateway.get("down_since")
        down = f"DOWN since {since} ({last['reason']})" if since and last else "DOWN"
        return (
            f"local gateway: {down}; its supervisor is starting it again: the domains "
            "answer once it is back"
        )
    return "local gateway: not running: nothing serves the domains (teal local start)"
