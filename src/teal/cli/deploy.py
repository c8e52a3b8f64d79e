"""Commands on one environment's deployment: deploy, url, unlock."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from teal.cli.common import (
    common,
    console,
    emit_json,
    err_console,
    is_interactive,
    target_options,
)
from teal.cli.output import EventPrinter, step, warn
from teal.cloud import open_cloud
from teal.deploy import DeployReport, ReplacePolicy, deploy
from teal.environments import domain_lock_key, find_environment, read_domain
from teal.oplog import current_user


@click.command(name="deploy")
@target_options
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help='Answer yes to the replacement question of auto_replace = "prompt".',
)
@click.option(
    "--no-auto-replace",
    is_flag=True,
    help="Refuse (exit 1, nothing changed) when the API would have to be replaced.",
)
@click.option(
    "--force-update",
    is_flag=True,
    help="Apply an unsafe in-place update anyway, to see CloudFormation fail and roll back.",
)
@click.option("--verbose", "-v", is_flag=True, help="Print every stack event.")
def deploy_command(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    yes: bool,
    no_auto_replace: bool,
    force_update: bool,
    verbose: bool,
) -> None:
    """Deploy the environment: create or update its stack, replacing the API when an
    in-place update would fail (automated blue-green), and keep the custom domain on
    the live version with no gap.
    """
    _, target = common(project, env, extra, cloud, as_json).load()
    the_cloud = open_cloud(target)
    mode = "never" if no_auto_replace else target.auto_replace
    confirm = (lambda q: click.confirm(q, default=False, err=True)) if is_interactive() else None
    policy = ReplacePolicy(mode, yes=yes, force_update=force_update, confirm=confirm)
    report = deploy(
        target,
        the_cloud,
        policy,
        on_event=EventPrinter(err_console, verbose=verbose),
        progress=lambda message: step(err_console, message),
        user=current_user(),
    )
    if as_json:
        emit_json(report.to_json())
    else:
        _print_report(report)


def _print_report(report: DeployReport) -> None:
    done = "unchanged" if report.decision.value == "noop" else report.status
    console.print(
        f"[bold green]✔[/] {report.target.environment}: {done} "
        f"({report.seconds:.1f} s, code {report.code_sha256[:12]})"
    )
    console.print(f"  endpoint: {escape(report.endpoint or '-')}")
    if report.domain:
        live = report.domain.live or "no environment"
        console.print(
            f"  domain:   {report.domain.name} → {escape(report.domain.url)} (serves {live})"
        )
    if report.api_replaced:
        console.print(f"  the API was replaced; previous endpoint: {report.previous_endpoint}")
        if report.domain is None or report.domain.live != report.target.environment:
            warn(
                err_console,
                "the endpoint changed and no custom domain serves this environment: clients "
                f"of {report.previous_endpoint} stop working; give them {report.endpoint}",
            )


@click.command()
@target_options
def url(
    *, project: Path, env: str | None, extra: str | None, cloud: str | None, as_json: bool
) -> None:
    """Print the environment's endpoint (and the domain URL when it is live)."""
    _, target = common(project, env, extra, cloud, as_json).load()
    the_cloud = open_cloud(target)
    environment = find_environment(the_cloud, target)
    the_cloud.ensure_serving()  # the URL is printed to be used
    endpoint = environment.endpoint(the_cloud)
    domain = None
    if target.domain is not None:
        state = read_domain(the_cloud, target.app, target.domain)
        if state.live == environment.name:
            domain = {"name": target.domain.name, "url": state.url, "live": environment.name}
    if as_json:
        emit_json({"environment": environment.name, "endpoint": endpoint, "domain": domain})
        return
    console.print(endpoint or "-")
    if domain:
        console.print(domain["url"])


@click.command()
@target_options
@click.option("--domain", "for_domain", is_flag=True, help="Break the domain's lock instead.")
def unlock(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    for_domain: bool,
) -> None:
    """Break a stale lock left by an operation whose process is gone."""
    _, target = common(project, env, extra, cloud, as_json).load()
    the_cloud = open_cloud(target)
    if for_domain and target.domain is None:
        raise click.UsageError("no [domain] is configured")
    key = (
        domain_lock_key(target.domain.name) if for_domain and target.domain else target.environment
    )
    owner = the_cloud.break_lock(key)
    if as_json:
        emit_json(
            {
                "lock": key,
                "released": owner is not None,
                "owner": owner.describe() if owner else None,
            }
        )
    elif owner:
        console.print(f"released {key} (held by {owner.describe()})")
    else:
        console.print(f"{key} was not locked")


def register(group: click.Group) -> None:
    group.add_command(deploy_command)
    group.add_command(url)
    group.add_command(unlock)
