"""Manual blue-green commands: check, switch, rollback, delete, status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import click
from rich.markup import escape
from rich.table import Table

from teal import bluegreen
from teal.cli.common import (
    console,
    emit_json,
    err_console,
    is_interactive,
    load_target,
    progress,
    target_options,
)
from teal.cli.output import Activity
from teal.cloud import open_cloud
from teal.cloud.base import Traffic
from teal.config import DomainSpec, Project, Target
from teal.errors import UserError
from teal.loader import target_routes
from teal.oplog import current_user
from teal.routes import RouteTable


def _table_or_none(target: Target) -> RouteTable | None:
    """The app's routes, for derived checks; the deployed app may differ, so failures pass."""
    try:
        return target_routes(target, progress)
    except UserError:
        return None


@click.command()
@target_options
def check(
    *, project: Path, env: str | None, extra: str | None, cloud: str | None, as_json: bool
) -> None:
    """Run the [[checks]] against the environment's own endpoint (exit 1 if any fails).

    Without [[checks]], every GET route without path variables must answer 200.
    """
    _, target = load_target(project, env, extra, cloud)
    report = bluegreen.check_environment(target, open_cloud(target), _table_or_none(target))
    if as_json:
        emit_json(report.to_json())
    else:
        if report.derived:
            err_console.print(
                "no [[checks]] configured: checking every GET route without path variables",
                markup=False,
            )
        for result in report.results:
            mark = "[green]ok[/]" if result.ok else "[red]FAILED[/]"
            console.print(
                f"{mark} {result.check.method} {escape(result.url)}: {escape(result.detail)}"
            )
    if not report.ok and as_json:
        raise click.exceptions.Exit(1)  # the JSON above already says what failed
    if not report.ok:
        raise bluegreen.ChecksFailed(report.environment, report.results)


@click.command()
@target_options
@click.option(
    "--to",
    "to_name",
    required=True,
    metavar="TARGET",
    help="An extra (2), 'base' (the env without extra), or an environment name.",
)
@click.option(
    "--skip-checks",
    is_flag=True,
    help="Switch without running the checks first (recorded in the history).",
)
def switch(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    to_name: str,
    skip_checks: bool,
) -> None:
    """Point the custom domain at another environment: checks, one atomic mapping update,
    then a request through the domain (switching back by itself if that fails)."""
    _, target = load_target(project, env, extra, cloud)
    _switch_domain(target, to_name, skip_checks=skip_checks, as_json=as_json)


@click.command()
@target_options
@click.option("--skip-checks", is_flag=True, help="Switch back without running the checks.")
def rollback(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    skip_checks: bool,
) -> None:
    """Point the custom domain back at the environment it served before the last switch."""
    _, target = load_target(project, env, extra, cloud)
    _switch_domain(target, None, skip_checks=skip_checks, as_json=as_json)


class _SwitchKwargs(TypedDict):
    skip_checks: bool
    user: str
    progress: Callable[[str], None]
    table: RouteTable | None


def _switch_domain(
    target: Target, to_name: str | None, *, skip_checks: bool, as_json: bool
) -> None:
    """A switch to ``to_name``, or (None) a rollback to where the domain was before."""
    the_cloud = open_cloud(target)
    the_cloud.ensure_serving()
    with Activity(err_console) as activity:
        shared: _SwitchKwargs = {
            "skip_checks": skip_checks,
            "user": current_user(),
            "progress": activity.step,
            "table": _table_or_none(target),
        }
        if to_name is None:
            report = bluegreen.rollback(target, the_cloud, **shared)
        else:
            report = bluegreen.switch(target, to_name, the_cloud, **shared)
    _print_switch(report, as_json)


def _print_switch(report: bluegreen.SwitchReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_json())
        return
    verb = "switched" if report.changed else "unchanged:"
    console.print(
        f"[bold green]✔[/] {verb} {report.domain} → {report.to} (was {report.from_ or 'unmapped'})"
    )
    console.print(f"  url: {escape(report.url)}")


@click.command()
@target_options
@click.option("--force", is_flag=True, help="Delete even if a custom domain points at it.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    force: bool,
    yes: bool,
) -> None:
    """Delete an environment's stack (refuses the live one unless --force)."""
    _, target = load_target(project, env, extra, cloud)
    if not yes:
        if not is_interactive():
            raise UserError(
                f"deleting {target.environment} needs confirmation",
                hint="pass --yes when there is no terminal",
            )
        click.confirm(
            f"Delete {target.environment} from the {target.cloud} cloud?",
            default=False,
            abort=True,
            err=True,
        )
    the_cloud = open_cloud(target)
    with Activity(err_console) as activity:
        deleted = bluegreen.delete_environment(
            target,
            the_cloud,
            force=force,
            user=current_user(),
            progress=activity.step,
            on_event=activity,
        )
    if as_json:
        emit_json({"environment": deleted.name, "deleted": True})
    else:
        console.print(f"[bold green]✔[/] deleted {deleted.name}")


@click.command()
@target_options
def status(
    *, project: Path, env: str | None, extra: str | None, cloud: str | None, as_json: bool
) -> None:
    """Every environment of the app, which one each domain serves, and the history."""
    loaded, target = load_target(project, env, extra, cloud)
    report = bluegreen.status(target, open_cloud(target), configured_domains(loaded, target))
    if as_json:
        emit_json(report.to_json())
    else:
        _print_status(report)


def configured_domains(project: Project, target: Target) -> list[DomainSpec]:
    """The domains of every env in teal.toml, once each (the live one is found by mapping)."""
    from teal.config import resolve_target

    specs = {target.domain.name: target.domain} if target.domain else {}
    for env_name in project.config.env:
        other = resolve_target(project, env=env_name, extra="", cloud=target.cloud)
        if other.domain is not None:
            specs.setdefault(other.domain.name, other.domain)
    return list(specs.values())


def _print_status(report: bluegreen.StatusReport) -> None:
    envs = Table(
        "environment", "status", "live", "endpoint", "updated", "code", "last 5 min", box=None
    )
    for row in report.environments:
        e = row.to_json()
        envs.add_row(
            e["name"],
            e["status"],
            "●" if e["live"] else "",
            e["endpoint"] or "-",
            e["updated_at"] or "-",
            (e["code_sha256"] or "-")[:12],
            _traffic_cell(row.traffic),
        )
    console.print(envs if report.environments else "no environments deployed")
    for d in report.domains:
        console.print(
            f"domain {d.name}: {d.url or '-'} serves {d.live or 'nothing'} "
            f"(previous: {d.previous or '-'})"
        )
    for lock in report.locks:
        state = f"stale: {lock.stale}" if lock.stale else "held"
        console.print(f"lock {lock.held.key}: {escape(lock.held.owner.describe())} ({state})")
    if report.history:
        history = Table("time", "user", "action", "environment", "from", "to", "result", box=None)
        for entry in report.history[-15:]:
            h = entry.to_json()
            history.add_row(
                h["time"],
                h["user"],
                h["action"],
                h["environment"],
                str(h["from"] or "-"),
                str(h["to"] or "-"),
                _result(h),
            )
        console.print(history)


def _traffic_cell(traffic: Traffic | None) -> str:
    """``120 req, 2 5xx, p50 12 ms, p99 80 ms``, or ``-``."""
    if traffic is None:
        return "-"
    if not traffic.requests:
        return "no requests"
    latency = (
        f", p50 {traffic.p50_ms:.0f} ms, p99 {traffic.p99_ms:.0f} ms"
        if traffic.p50_ms is not None and traffic.p99_ms is not None
        else ""
    )
    return f"{traffic.requests} req, {traffic.errors} 5xx{latency}"


def _result(entry: dict[str, Any]) -> str:
    """A history entry's outcome in a word or two: a deploy's stack status, a skip."""
    if entry["state"] == "started":
        return "running"
    if entry["state"] == "interrupted":
        return "INTERRUPTED (its process died)"
    if entry.get("failed") or entry["state"] == "failed":
        return f"FAILED ({entry.get('status') or entry.get('error')})"
    if entry["action"] == "unlock":
        return "lock released" + (" (stale)" if entry.get("automatic") else "")
    if entry.get("checks_skipped"):
        return "checks skipped"
    return str(entry.get("status") or "")


def register(group: click.Group) -> None:
    for command in (check, switch, rollback, delete, status):
        group.add_command(command)
