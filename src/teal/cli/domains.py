"""Shared custom domains: ``teal domains`` (who serves what) and ``teal domain delete``."""

from __future__ import annotations

from pathlib import Path

import click

from teal.cli.common import (
    confirm_deletion,
    console,
    emit_json,
    err_console,
    load_target,
    open_watched_cloud,
    target_options,
)
from teal.cli.output import Activity
from teal.cli.status_view import print_mappings
from teal.ops.domains import delete_domain, view_domains
from teal.ops.oplog import current_user


@click.command()
@target_options
def domains(
    *, project: Path, env: str | None, extra: str | None, cloud: str | None, as_json: bool
) -> None:
    """Every custom domain of the cloud, the apps that share it, and who serves each
    base path (app, environment, API, preview)."""
    _, target = load_target(project, env, extra, cloud)
    views = view_domains(open_watched_cloud(target))
    if as_json:
        emit_json({"cloud": target.cloud, "domains": [view.to_json() for view in views]})
        return
    if not views:
        console.print(f"no custom domains in the {target.cloud} cloud")
    for view in views:
        apps = ", ".join(view.apps) or "none"
        console.print(f"domain {view.name}: {view.url} (apps: {apps})", markup=False)
        print_mappings(view.mappings, console)
        if not view.mappings:
            console.print("  no base path mapped", markup=False)


@click.group()
def domain() -> None:
    """One custom domain as a whole (its mappings are the apps')."""


@domain.command("delete")
@click.argument("name")
@target_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete_command(
    *,
    name: str,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    yes: bool,
) -> None:
    """Delete the custom domain NAME (on AWS its stack and DNS record); refused while any
    app maps a base path of it."""
    _, target = load_target(project, env, extra, cloud)
    if not yes:
        confirm_deletion(
            f"Delete the domain {name}?",
            refusal=f"deleting the domain {name} needs confirmation",
        )
    the_cloud = open_watched_cloud(target)
    with Activity(err_console) as activity:
        delete_domain(
            the_cloud,
            name,
            app=target.app,
            user=current_user(),
            progress=activity.step,
            on_event=activity,
        )
    if as_json:
        emit_json({"domain": name, "deleted": True})
    else:
        console.print(f"[bold green]✔[/] deleted the domain {name}", highlight=False)


def register(group: click.Group) -> None:
    group.add_command(domains)
    group.add_command(domain)
