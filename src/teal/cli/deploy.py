"""Commands on one environment's deployment: deploy, url, unlock."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click
from rich.markup import escape

from teal.cli.bluegreen import configured_domains, watch_limit_options
from teal.cli.common import (
    console,
    emit_json,
    err_console,
    is_interactive,
    load_target,
    open_watched_cloud,
    parsed_by,
    target_options,
)
from teal.cli.exits import Reported
from teal.cli.output import Activity, warn
from teal.cloud import open_cloud
from teal.ops import oplog
from teal.ops.canary import CanaryRolledBack
from teal.ops.decision import ReplacePolicy, plan_summary
from teal.ops.deploy import DeployReport, deploy
from teal.ops.environments import domain_lock_key, find_environment, read_domain
from teal.ops.oplog import current_user
from teal.project.config import Target, parse_duration, parse_percent


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
@click.option(
    "--canary",
    "canary",
    metavar="PCT",
    callback=parsed_by(parse_percent),
    help="For an in-place update, send this share (10%) of the changed functions' "
    "invocations to their new versions, watch them, then promote or roll back (default: "
    "[deploy] canary).",
)
@click.option(
    "--watch",
    "watch_for",
    metavar="DURATION",
    callback=parsed_by(parse_duration),
    help="How long a canary (or the watch after a replacement's re-point) watches "
    "(90s, 5m...; default: [deploy] watch, else 5m for a canary).",
)
@watch_limit_options
@click.option("--verbose", "-v", is_flag=True, help="Print every stack event.")
@click.option(
    "--no-warm",
    is_flag=True,
    help="When the API is replaced behind the domain, re-point it without warming the new "
    "functions first (by default each gets ready what the live one has been using).",
)
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
    canary: float | None,
    watch_for: int | None,
    max_error_rate: float | None,
    max_p99_ms: float | None,
    verbose: bool,
    no_warm: bool,
) -> None:
    """Deploy the environment: create or update its stack, replacing the API when an
    in-place update would fail (automated blue-green), and keep the custom domain on
    the live version with no gap.
    """
    _, target = load_target(project, env, extra, cloud)
    target = _with_watch_flags(target, canary, watch_for, max_error_rate, max_p99_ms)
    the_cloud = open_watched_cloud(target)
    mode = "never" if no_auto_replace else target.auto_replace
    with Activity(err_console, verbose=verbose) as activity:
        confirm = activity.ask if is_interactive() else None
        policy = ReplacePolicy(mode, yes=yes, force_update=force_update, confirm=confirm)
        try:
            report = deploy(
                target,
                the_cloud,
                policy,
                on_event=activity,
                progress=activity.step,
                user=current_user(),
                live=activity.update,
                warm=not no_warm,
            )
        except CanaryRolledBack as back:
            if not as_json:
                raise
            failed = {"stack": target.environment, "status": "failed", "error": back.what}
            emit_json({**failed, "canary": back.report.to_json()})
            raise Reported from back
    summary = plan_summary(
        "teal deploy", report.decision.value, report.verdict, notes=report.verdict.notes
    )
    the_cloud.record_plan(target.environment, summary)
    if as_json:
        emit_json(report.to_json())
    else:
        _print_report(report)


def _with_watch_flags(
    target: Target,
    canary: float | None,
    watch_for: int | None,
    max_error_rate: float | None,
    max_p99_ms: float | None,
) -> Target:
    """The target with the command's canary and watch flags over ``[deploy]``."""
    watch = target.watch
    watch = replace(
        watch,
        seconds=watch_for if watch_for is not None else watch.seconds,
        max_error_rate=watch.max_error_rate if max_error_rate is None else max_error_rate,
        max_p99_ms=watch.max_p99_ms if max_p99_ms is None else max_p99_ms,
        where="--watch" if watch_for is not None else watch.where,
    )
    if canary is None:
        return replace(target, watch=watch)
    return replace(target, watch=watch, canary_percent=canary, canary_where="--canary")


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
    if report.warmed is not None:
        console.print(f"  warmed:   {escape(report.warmed.line())}")
    if report.watch is not None:
        figures = report.watch.result.figures
        console.print(
            f"  watch:    held after {figures.seconds:.0f} s, {figures.requests} requests, "
            f"{figures.errors} errors: {escape(report.watch.reason)}"
        )
        if not figures.enough_traffic:
            warn(err_console, f"{report.watch.reason}: the new API stays, unjudged")
    if report.canary is not None:
        canary = report.canary
        figures = canary.figures
        console.print(
            f"  canary:   {canary.percent:g}% for {figures.seconds:.0f} s, "
            f"{figures.requests} requests to the new versions, {figures.errors} errors: "
            f"{canary.verdict}"
        )
        if canary.note:
            warn(err_console, f"{canary.note}: the new versions were promoted unjudged")
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
    _, target = load_target(project, env, extra, cloud)
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
@click.option(
    "--domain", "for_domain", is_flag=True, help="Only the lock of the environment's domain."
)
@click.option(
    "--force", is_flag=True, help="Also release locks whose process still runs on this host."
)
def unlock(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    for_domain: bool,
    force: bool,
) -> None:
    """Release the app's locks: those of its environments and of its domains.

    teal breaks a lock by itself when its holder is gone (its process ended on this
    host, or its lease ran out elsewhere); this is for a lock you know is stale
    sooner, e.g. a crashed CI runner's. Each release is recorded in the history.
    """
    loaded, target = load_target(project, env, extra, cloud)
    if for_domain:
        if target.domain is None:
            raise click.UsageError("no [domain] is configured")
        keys = [domain_lock_key(target.domain)]
    else:
        domains = configured_domains(loaded, target)
        keys = [target.environment, *(domain_lock_key(d) for d in domains)]
    found = oplog.unlock(
        open_cloud(target),
        target.app,
        keys,
        user=current_user(),
        force=force,
        exact=for_domain,
        domain=target.domain,
    )
    if as_json:
        released = [u for u in found if u.released]
        emit_json({"released": bool(released), "locks": [u.to_json() for u in found]})
        return
    if not found:
        console.print(f"no locks held for {target.app}")
    for item in found:
        verb = "released" if item.released else "kept"
        console.print(f"{verb} {item.key} (held by {escape(item.holder.describe())}): {item.why}")
    if any(not u.released for u in found):
        warn(err_console, "pass --force to release locks whose process still runs")


def register(group: click.Group) -> None:
    group.add_command(deploy_command)
    group.add_command(url)
    group.add_command(unlock)
