"""Manual blue-green commands: check, switch, rollback, delete, status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import click
from rich.markup import escape

from teal.cli.common import (
    confirm_deletion,
    console,
    emit_json,
    err_console,
    load_target,
    open_watched_cloud,
    parsed_by,
    progress,
    target_options,
)
from teal.cli.exits import Interrupted, Reported
from teal.cli.output import Activity, warn
from teal.cli.status_view import print_status
from teal.ops import bluegreen, preview
from teal.ops.oplog import current_user
from teal.ops.watch import check_watch_length, watch_limits
from teal.project.config import DomainSpec, Project, Target, parse_duration
from teal.project.loader import target_routes
from teal.rules.watch_rules import WatchLimits, WatchReport
from teal.runtime.errors import OperationError, UserError
from teal.runtime.routes import RouteTable


def _table_or_none(target: Target) -> RouteTable | None:
    """The app's routes, for derived checks; the deployed app may differ, so failures pass."""
    try:
        return target_routes(target, progress)
    except UserError:
        return None


@click.command()
@target_options
@click.option(
    "--preview",
    "through_preview",
    is_flag=True,
    help="Through the live domain, with the teal-preview header of the environment's preview.",
)
def check(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    through_preview: bool,
) -> None:
    """Run the [[checks]] against the environment's own endpoint (exit 1 if any fails).

    Without [[checks]], every GET route without path variables must answer 200.
    With --preview, through the custom domain with the environment's preview header
    (see teal preview): each answer must come from the environment.
    """
    _, target = load_target(project, env, extra, cloud)
    the_cloud, table = open_watched_cloud(target), _table_or_none(target)
    if through_preview:
        report = preview.check_preview(target, the_cloud, table)
    else:
        report = bluegreen.check_environment(target, the_cloud, table)
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
        raise Reported  # the JSON above already says what failed
    if not report.ok:
        raise bluegreen.ChecksFailed(target, report.results)


def watch_limit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The limits a watch judges by (``switch --watch``, a canary, a re-point's watch)."""
    command = click.option(
        "--max-p99-ms",
        type=click.FloatRange(0, min_open=True),
        metavar="N",
        help="A watch's limit on the p99 latency (default: [deploy] max_p99_ms, else none).",
    )(command)
    return click.option(
        "--max-error-rate",
        type=click.FloatRange(0, 100),
        metavar="PCT",
        help="A watch's limit: 5xx answers in percent of requests (default: [deploy] "
        "max_error_rate, else 1).",
    )(command)


# switch and rollback: traffic moves to the target, warmed first unless this is given
no_warm_option = click.option(
    "--no-warm",
    is_flag=True,
    help="Move traffic without warming the target first (by default each of its functions "
    "gets ready the execution environments the live one has been using: [functions.NAME] "
    "warm, else its peak of the last hour, 1 to 50).",
)


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
@click.option(
    "--watch",
    "watch_for",
    metavar="DURATION",
    callback=parsed_by(parse_duration),
    help="After the switch, watch the live traffic this long (90s, 5m...) and switch back "
    "on a breach (default: [deploy] watch).",
)
@click.option("--no-watch", is_flag=True, help="Do not watch, whatever [deploy] watch says.")
@no_warm_option
@watch_limit_options
def switch(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    to_name: str,
    skip_checks: bool,
    watch_for: int | None,
    no_watch: bool,
    max_error_rate: float | None,
    max_p99_ms: float | None,
    no_warm: bool,
) -> None:
    """Point the custom domain at another environment: warm it, checks, one atomic mapping
    update, then a request through the domain (switching back by itself if that fails).

    Warming readies each function of the target before any request reaches it: as many
    execution environments as the live environment has been using, each having imported
    the app and run its startup (no handler runs). A function that fails to start stops
    the switch (exit 1); the domain keeps serving what it served.

    With a watch, teal then reads the new environment's traffic and switches back (exit 1)
    when its error rate or p99 breaches the limits. Ctrl-C stops the watch and keeps the
    switch (exit 130).
    """
    _, target = load_target(project, env, extra, cloud)
    if no_watch and watch_for is not None:
        raise click.UsageError("--watch and --no-watch exclude each other")
    limits = None
    if not no_watch:
        limits = watch_limits(
            target.watch, seconds=watch_for, max_error_rate=max_error_rate, max_p99_ms=max_p99_ms
        )
    _switch_domain(
        target, to_name, skip_checks=skip_checks, as_json=as_json, watch=limits, warm=not no_warm
    )


@click.command()
@target_options
@click.option("--skip-checks", is_flag=True, help="Switch back without running the checks.")
@no_warm_option
def rollback(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    skip_checks: bool,
    no_warm: bool,
) -> None:
    """Point the custom domain back at the environment it served before the last switch
    (warmed first, as teal switch warms its target)."""
    _, target = load_target(project, env, extra, cloud)
    _switch_domain(target, None, skip_checks=skip_checks, as_json=as_json, warm=not no_warm)


class _SwitchKwargs(TypedDict):
    skip_checks: bool
    user: str
    progress: Callable[[str], None]
    table: RouteTable | None


def _switch_domain(
    target: Target,
    to_name: str | None,
    *,
    skip_checks: bool,
    as_json: bool,
    watch: WatchLimits | None = None,
    warm: bool = True,
) -> None:
    """A switch to ``to_name``, or (None) a rollback to where the domain was before."""
    the_cloud = open_watched_cloud(target)
    if watch is not None:  # bad input: said before anything starts
        check_watch_length(watch, the_cloud.traffic_timing, the_cloud.name)
    the_cloud.ensure_serving()
    with Activity(err_console) as activity:
        shared: _SwitchKwargs = {
            "skip_checks": skip_checks,
            "user": current_user(),
            "progress": activity.step,
            "table": _table_or_none(target),
        }
        if to_name is None:
            report = bluegreen.rollback(target, the_cloud, warm=warm, **shared)
        else:
            report = bluegreen.switch(
                target, to_name, the_cloud, watch=watch, live=activity.update, warm=warm, **shared
            )
    _print_switch(report, as_json)
    _end_by_watch(report, bluegreen.resolve_switch_target(target, report.to), as_json)


def _print_switch(report: bluegreen.SwitchReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_json())
        return
    verb = "switched" if report.changed else "unchanged:"
    mark, back = "[bold green]✔[/]", ""
    if report.switched_back:
        mark, back = "[bold red]✘[/]", f", then back to {report.from_}"
    console.print(
        f"{mark} {verb} {report.domain} → {report.to}{back} (was {report.from_ or 'unmapped'})"
    )
    console.print(f"  url: {escape(report.url)}")
    if report.warmed is not None:
        console.print(f"  warmed: {escape(report.warmed.line())}")
    if report.preview_ended:
        console.print(f"  the preview of {report.to} ended: every request reaches it now")
    if report.watch is not None:
        _print_watch(report.watch)


def _print_watch(watch: WatchReport) -> None:
    figures = watch.result.figures
    seen = figures.line(watch.limits.seconds).split(": ", 1)[1]
    mark = {"held": "[green]held[/]", "interrupted": "[yellow]stopped[/]"}.get(
        watch.verdict, "[red]switched back[/]"
    )
    console.print(f"  watch: {mark} after {figures.seconds:.0f} s ({escape(seen)})")
    console.print(f"         {escape(watch.reason)}")
    if watch.verdict == "held" and not figures.enough_traffic:
        warn(err_console, f"{watch.reason}: the switch stays, unjudged")


def _end_by_watch(report: bluegreen.SwitchReport, watched: Target, as_json: bool) -> None:
    """Exit 1 when the watch switched back, 130 when Ctrl-C stopped it; ``watched`` is the
    environment the switch went to."""
    watch = report.watch
    if watch is None or watch.verdict == "held":
        return
    if watch.verdict == "interrupted":
        err_console.print(
            f"watch stopped (Ctrl-C): {report.domain} stays on {report.to}; teal rollback goes back"
        )
        raise Interrupted
    if as_json:
        raise Reported  # the JSON above already says what happened
    raise OperationError(
        f"switched {report.domain} back to {report.from_}: {watch.reason}",
        where=report.domain,
        hint=f"see what {report.to} logged (teal logs{watched.flags}), fix it, deploy it "
        f"(teal deploy{watched.flags}) and switch again",
    )


@click.command(name="preview")
@target_options
@click.option(
    "--to",
    "to_name",
    metavar="TARGET",
    help="The environment to preview: an extra (2), 'base', or an environment name.",
)
@click.option("--off", is_flag=True, help="End the domain's preview.")
@click.option(
    "--domain",
    "domain_name",
    metavar="NAME",
    help="The domain, when the app's envs have several (default: the env's own).",
)
def preview_command(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    to_name: str | None,
    off: bool,
    domain_name: str | None,
) -> None:
    """Send the live domain's requests that carry `teal-preview: <extra>` to another
    environment (its name when it has no extra); every other request stays on the live
    one. A switch to the previewed environment ends the preview."""
    if (to_name is None) == (not off):
        raise click.UsageError("give either --to TARGET or --off")
    loaded, target = load_target(project, env, extra, cloud)
    target = _with_domain(loaded, target, domain_name)
    the_cloud = open_watched_cloud(target)
    the_cloud.ensure_serving()
    with Activity(err_console) as activity:
        if to_name is None:
            report = preview.end_preview(
                target, the_cloud, user=current_user(), progress=activity.step
            )
        else:
            report = preview.preview(
                target,
                to_name,
                the_cloud,
                user=current_user(),
                progress=activity.step,
                table=_table_or_none(target),
            )
    if as_json:
        emit_json(report.to_json())
    else:
        _print_preview(report)


def _with_domain(project: Project, target: Target, name: str | None) -> Target:
    """The target of the env whose domain ``--domain`` names (the given env's first)."""
    if name is None or (target.domain is not None and target.domain.name == name):
        return target
    from teal.project.config import resolve_target

    for env_name in project.config.env:
        other = resolve_target(project, env=env_name, extra=target.extra or "", cloud=target.cloud)
        if other.domain is not None and other.domain.name == name:
            return other
    known = ", ".join(d.name for d in configured_domains(project, target)) or "none"
    raise UserError(
        f"no env of {target.app} has the domain {name}",
        where="--domain",
        hint=f"the app's domains: {known}",
    )


def _print_preview(report: preview.PreviewReport) -> None:
    if report.preview is None:
        verb = "ended the preview" if report.changed else "no preview"
        console.print(f"[bold green]✔[/] {verb} on {report.domain}: it serves {report.live} to all")
        return
    verb = "previewing" if report.changed else "unchanged: previewing"
    console.print(
        f"[bold green]✔[/] {verb} {report.preview.environment} on {report.domain} "
        f"(the rest stays on {report.live})"
    )
    console.print(f"  try it: curl -H '{report.preview.header}' {escape(report.url)}")


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
        confirm_deletion(
            f"Delete {target.environment} from the {target.cloud} cloud?",
            refusal=f"deleting {target.environment} needs confirmation",
        )
    the_cloud = open_watched_cloud(target)
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
@click.option(
    "--wide",
    is_flag=True,
    help="Tables with every column and full local times, however narrow the terminal "
    "(by default status fits the terminal, times relative: '3 min ago').",
)
def status(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    wide: bool,
) -> None:
    """Every environment of the app, which one each domain serves, and the history."""
    loaded, target = load_target(project, env, extra, cloud)
    report = bluegreen.status(
        target, open_watched_cloud(target), configured_domains(loaded, target)
    )
    if as_json:
        emit_json(report.to_json())
    else:
        print_status(report, console, wide=wide)


def configured_domains(project: Project, target: Target) -> list[DomainSpec]:
    """The domains of every env in teal.toml, once each (the live one is found by mapping)."""
    from teal.project.config import resolve_target

    specs = {target.domain.name: target.domain} if target.domain else {}
    for env_name in project.config.env:
        other = resolve_target(project, env=env_name, extra="", cloud=target.cloud)
        if other.domain is not None:
            specs.setdefault(other.domain.name, other.domain)
    return list(specs.values())


def register(group: click.Group) -> None:
    for command in (check, switch, rollback, preview_command, delete, status):
        group.add_command(command)
