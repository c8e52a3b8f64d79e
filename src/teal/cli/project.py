"""Commands that work on the project alone: ``init`` and ``routes``."""

from __future__ import annotations

import re
import sys
from importlib import resources
from pathlib import Path
from typing import get_args

import click
from rich.table import Table

from teal.cli.common import (
    console,
    emit_json,
    err_console,
    json_option,
    progress,
    project_option,
)
from teal.project.config import AppSection, Runtime, load_project
from teal.project.loader import LoadedApp, load_app
from teal.project.runtimes import find_interpreter, runtime_version
from teal.runtime.errors import UserError
from teal.runtime.routes import RouteTable, quota_warnings, routing_warnings

# What `teal init --template NAME` writes: src/teal/cli/init_template/NAME/'s files,
# and the teal.toml all templates share (init_template/teal.toml).
TEMPLATES = {
    "teal": ("teal.toml", "app.py"),
    "fastapi": ("teal.toml", "app.py", "requirements.txt"),
    "flask": ("teal.toml", "app.py", "requirements.txt"),
}


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--name", default=None, help="The app's name (default: the folder's name).")
@click.option(
    "--template",
    type=click.Choice(sorted(TEMPLATES)),
    default="teal",
    show_default=True,
    help="A teal App, a FastAPI app or a Flask app.",
)
def init(directory: Path, name: str | None, template: str) -> None:
    """Write a small working app (teal.toml, app.py and its requirements) into DIRECTORY."""
    app_name = name or _app_name_from(directory.resolve().name)
    files = TEMPLATES[template]
    for file in files:
        if (directory / file).exists():
            raise UserError(
                f"{file} already exists", where=str(directory), hint="init an empty folder"
            )
    directory.mkdir(parents=True, exist_ok=True)
    templates = resources.files("teal.cli") / "init_template"
    runtime = runtime_for_a_new_app()
    for file in files:
        own = templates / template / file
        text = (own if own.is_file() else templates / file).read_text(encoding="utf-8")
        text = text.replace("{name}", app_name).replace("{runtime}", runtime)
        (directory / file).write_text(text, encoding="utf-8")
    err_console.print(f"created {template} app [bold]{app_name}[/] in {directory} ({runtime})")
    err_console.print(
        f"next: teal routes --project {directory}  then  teal deploy --project {directory}"
    )


def runtime_for_a_new_app() -> str:
    """The Lambda runtime a new app gets: the local cloud runs a function only on its
    runtime's own Python, so the one of the Python teal runs on when Lambda has it (it is
    always here), else the newest Lambda has that this machine has, else the default of
    ``[app] runtime`` (a deploy then says what to install)."""
    own = f"python{sys.version_info.major}.{sys.version_info.minor}"
    supported: tuple[str, ...] = get_args(Runtime)
    if own in supported:
        return own
    for runtime in sorted(supported, key=_newest_first):
        try:
            find_interpreter(runtime)
        except UserError:
            continue
        return runtime
    default: str = AppSection.model_fields["runtime"].default
    return default


def _newest_first(runtime: str) -> tuple[int, ...]:
    return tuple(-int(part) for part in runtime_version(runtime).split("."))


def _app_name_from(folder: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", folder.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"app-{name}".strip("-")
    return name[:40]


@click.command()
@project_option
@json_option
def routes(project: Path, as_json: bool) -> None:
    """Show the app's route table: path, methods, Lambda function and handler."""
    loaded = load_project(project)
    app = loaded.config.app
    read = load_app(
        loaded.root, app.entry, app.runtime, python=loaded.config.local.python, progress=progress
    )
    if as_json:
        emit_json(
            {
                "app": loaded.config.app.name,
                "entry": app.entry,
                "kind": read.kind,
                "framework": read.framework,
                "api": read.api,
                "routes": routes_as_json(read.table),
                "notes": list(read.notes),
                "warnings": [*quota_warnings(read.table), *routing_warnings(read.table)],
            }
        )
    else:
        err_console.print(_summary(app.entry, read))
        console.print(_routes_table(read.table))


def _summary(entry: str, read: LoadedApp) -> str:
    """One line on what the entry is and how its API is made (the notes are warnings)."""
    if read.kind == "teal":
        return f"{entry} is a teal App: one API resource per route"
    how = (
        "one API resource per route of its own table"
        if read.api == "routes"
        else "all paths through the greedy resources / and /{proxy+}"
    )
    return f"{entry} is {read.described}, served by function 'app': {how}"


def routes_as_json(table: RouteTable) -> list[dict[str, object]]:
    return [
        {
            "path": r.path,
            "methods": list(r.methods),
            "function": r.function,
            "handler": r.handler_name,
            "raw": r.raw,
            "source": r.source,
        }
        for r in sorted(table.routes, key=lambda r: (r.path, r.methods))
    ]


def _routes_table(table: RouteTable) -> Table:
    view = Table("path", "methods", "function", "handler", box=None, pad_edge=False)
    for route in sorted(table.routes, key=lambda r: (r.path, r.methods)):
        view.add_row(route.path, ", ".join(route.methods), route.function, route.handler_name)
    return view


def register(group: click.Group) -> None:
    group.add_command(init)
    group.add_command(routes)
