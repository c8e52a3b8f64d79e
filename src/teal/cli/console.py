"""``teal console``: the URL of the local cloud's web console (served by the gateway)."""

from __future__ import annotations

import webbrowser

import click
from rich.markup import escape

from teal.cli.common import (
    accepts_project,
    console,
    emit_json,
    err_console,
    is_interactive,
    json_option,
)
from teal.cloud.local import LocalPaths, console_url, ensure_gateway
from teal.project.settings import gateway_port
from teal.runtime.errors import OperationError


@click.command(name="console")
@click.option(
    "--open", "open_browser", is_flag=True, help="Open it in a browser too (from a terminal)."
)
@json_option
@accepts_project
def console_command(open_browser: bool, as_json: bool) -> None:
    """Print the URL of the web console: apps, environments, domains, traffic, logs, switch
    and rollback. It starts the local gateway if needed; the URL holds the gateway's token,
    which every console request needs (a new one each time teal starts the gateway; its
    supervisor's restarts keep it)."""
    paths = LocalPaths.default()
    status = ensure_gateway(paths, gateway_port())
    url = console_url(paths, status.port) if status.port is not None else None
    if url is None:
        raise OperationError(
            "the local gateway runs, but without a token",
            where="local gateway",
            hint="it was started by an older teal: teal local stop, then teal console",
        )
    opened = bool(open_browser and is_interactive() and webbrowser.open(url))
    if as_json:
        emit_json({"url": url, "port": status.port, "pid": status.pid, "opened": opened})
        return
    console.print(escape(url))
    if open_browser and not opened:
        err_console.print("no browser opened (no terminal, or none found): open the URL above")


def register(group: click.Group) -> None:
    group.add_command(console_command)
