"""``teal template`` and ``teal plan``: what would be deployed, and what it would do.

``template`` needs no cloud and no credentials. ``plan`` compares against the
environment's deployed stack, read once from its cloud, or against a template
written by ``teal template`` (``--against FILE``, no cloud needed); either way
the same :func:`teal.plan.analysis.build_plan` decides, as for ``teal deploy``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from teal.cli.common import (
    console,
    emit_json,
    err_console,
    load_target,
    progress,
    target_options,
)
from teal.cloud import open_cloud
from teal.cloud.base import Cloud
from teal.ops.apply import Step, apply_steps
from teal.ops.decision import (
    Prepared,
    ReplacePolicy,
    decide,
    package_for,
    plan_summary,
    prepare,
    with_layers,
)
from teal.plan.analysis import Plan, ResourceChange, build_plan
from teal.plan.changeset import ChangeSetReport, compare_change_set
from teal.project.config import Target
from teal.project.loader import target_routes
from teal.runtime.errors import UserError
from teal.runtime.routes import RouteTable
from teal.template import StoredTemplates, Synthesized, nested_keys, synthesize

LISTED_CHANGES = 25  # per kind, in text output; --json lists all


def _load(
    project: Path, env: str | None, extra: str | None, cloud: str | None, as_json: bool
) -> tuple[Target, RouteTable, str]:
    _, target = load_target(project, env, extra, cloud)
    table = target_routes(target, progress)
    package = package_for(target)
    return with_layers(target, package), table, package.key


@click.command(name="template")
@target_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write <stack>.template.json and the nested templates (templates/*.json) here.",
)
def template_command(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    out: Path | None,
) -> None:
    """Write the environment's CloudFormation template(s) as JSON; no cloud needed."""
    target, table, code_key = _load(project, env, extra, cloud, as_json)
    synthesized = synthesize(table, target, code_key)
    files = write_templates(synthesized, target.environment, out) if out is not None else []
    if as_json:
        emit_json(
            {
                "stack": target.environment,
                "rest_api_logical_id": synthesized.rest_api_logical_id,
                "code_key": code_key,
                "parameters": list(synthesized.parameters),
                "template": synthesized.template,
                "nested": synthesized.nested,
                "files": [str(f) for f in files],
            }
        )
    elif out is not None:
        for file in files:
            console.print(escape(str(file)))
    else:
        if synthesized.nested:
            err_console.print(
                f"{len(synthesized.nested)} nested templates not shown: use --out DIR to write them"
            )
        console.print_json(json.dumps(synthesized.template))


def write_templates(synthesized: Synthesized, stack: str, out: Path) -> list[Path]:
    """The main template as ``<stack>.template.json``, nested ones under their artifact keys."""
    try:
        return _write_templates(synthesized, stack, out)
    except OSError as exc:  # a folder that cannot be made or written is the user's input
        raise UserError(
            f"cannot write the templates there: {exc.strerror or exc}",
            where=str(exc.filename or out),
            hint="give --out a folder you can write to",
        ) from exc


def _write_templates(synthesized: Synthesized, stack: str, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    main = out / f"{stack}.template.json"
    written = [main]
    main.write_text(json.dumps(synthesized.template, indent=2) + "\n", encoding="utf-8")
    for key, template in sorted(synthesized.nested.items()):
        path = out / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(template, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


_TEMPLATE_FILES = "give a file written by `teal template --out DIR` or `teal template --json`"


def read_templates(path: Path) -> StoredTemplates:
    """A template written by ``teal template --out`` (nested ones beside it) or ``--json``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(
            f"cannot read a template: {exc}",
            where=str(path),
            hint=_TEMPLATE_FILES,
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("template", data), dict):
        raise UserError("not a CloudFormation template", where=str(path), hint=_TEMPLATE_FILES)
    by_key: dict[str, Any] = data.get("nested", {}) if "template" in data else {}
    main: dict[str, Any] = data.get("template", data)
    if "Resources" not in main:
        raise UserError(
            "not a CloudFormation template (no Resources)", where=str(path), hint=_TEMPLATE_FILES
        )
    nested = {}
    for logical_id, key in nested_keys(main).items():
        nested[logical_id] = by_key[key] if key in by_key else _read_nested(path.parent / key)
    return StoredTemplates(main, nested)


def _read_nested(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(
            "a nested template the main template points at is missing",
            where=str(path),
            hint="keep the templates/ folder that `teal template --out DIR` wrote beside it",
        )
    try:
        nested: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(
            f"cannot read a template: {exc}", where=str(path), hint=_TEMPLATE_FILES
        ) from exc
    return nested


@click.command(name="plan")
@target_options
@click.option(
    "--against",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Compare with this template (from `teal template`) instead of the deployed stack.",
)
def plan_command(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    against: Path | None,
) -> None:
    """Show what deploy would do, and whether the API must be replaced and why.

    On aws, CloudFormation's own change set (with its Replacement column) is
    shown beside teal's verdict, and is ``change_set`` in ``--json``.
    """
    report: ChangeSetReport | None = None
    steps: tuple[Step, ...] = ()
    resume = False
    dependencies: str | None = None
    if against is not None:
        target, table, code_key = _load(project, env, extra, cloud, as_json)
        plan = build_plan(table, target, code_key, read_templates(against))
    else:
        _, target = load_target(project, env, extra, cloud)
        opened = open_cloud(target)
        # the very steps deploy takes
        prepared = prepare(target, opened, progress)
        plan = prepared.plan
        report = _change_set(opened, prepared)
        decision = decide(prepared, ReplacePolicy("auto"))
        steps = apply_steps(prepared, decision)
        resume = prepared.resuming
        dependencies = prepared.package.dependencies
        summary = plan_summary(
            "teal plan",
            decision.value,  # what deploy would do, in the words teal deploy reports it
            plan.verdict,
            notes=plan.notes,
            steps=[step.does for step in steps],
        )
        opened.record_plan(target.environment, summary)
    body = {
        **plan.to_json(),
        "against": str(against) if against else None,
        "resume": resume,
        "steps": [step.to_json() for step in steps],
        "dependencies": dependencies,
    }
    if report is not None:
        body |= {"change_set": report.to_json(), "change_set_note": report.note}
    if as_json:
        emit_json(body)
    else:
        print_plan(plan)
        if dependencies is not None:
            console.print(f"  dependencies: {escape(dependencies)}")
        print_steps(steps, resume)
        if report is not None:
            print_change_set(report)


def _change_set(cloud: Cloud, prepared: Prepared) -> ChangeSetReport | None:
    """CloudFormation's change set beside teal's verdict, where the cloud has one."""
    plan = prepared.plan
    return compare_change_set(
        cloud,
        prepared.target,
        plan.chosen,
        plan.changes,
        stack_exists=prepared.deployed is not None,
    )


def print_steps(steps: tuple[Step, ...], resume: bool) -> None:
    if resume:
        console.print(
            "  [bold yellow]a replacement of the API stopped half-way[/]: the domain still "
            "serves the old API; deploy continues it"
        )
    if steps:
        console.print("  deploy would:")
    for number, each in enumerate(steps, start=1):
        console.print(f"    {number}. {escape(each.does)}")


def print_change_set(report: ChangeSetReport) -> None:
    if report.uploaded:
        err_console.print(
            f"uploaded {report.uploaded} nested template(s) for CloudFormation to read"
        )
    if report.note:
        console.print(f"  CloudFormation: {escape(report.note)}")
    if not report.rows:
        return
    table = Table(title="CloudFormation's change set", title_justify="left", box=None)
    for column in ("action", "logical id", "type", "Replacement", "teal"):
        table.add_column(column)
    for row in report.rows:
        table.add_row(
            escape(row.action),
            escape(row.logical_id),
            escape(row.resource_type),
            escape(row.replacement or "-"),
            escape(row.teal or "-"),
        )
    console.print(table)


def print_plan(plan: Plan) -> None:
    console.print(f"[bold]{escape(plan.stack)}[/]: {_action_words(plan)}")
    api = plan.chosen.rest_api_logical_id
    if plan.replace:
        console.print(
            f"  API: [bold yellow]replaced[/] ({escape(plan.current_api or '-')} -> "
            f"{escape(api)}): a new API with a new endpoint is built beside the old one, "
            "which is deleted after"
        )
        for reason in plan.verdict.reasons:
            console.print(f"    - {escape(reason.explanation)}")
            console.print(f"      [dim]API Gateway would answer: {escape(reason.message)}[/]")
    elif plan.current_api is not None:
        console.print(f"  API: kept ({escape(api)}); the update is safe for API Gateway")
    for note in plan.notes:
        console.print(f"  • {escape(note)}")
    changes = plan.changes
    for mark, words, items in (
        ("+", "to add", changes.added),
        ("~", "to change in place", changes.modified),
        ("±", "to replace (new resource, then the old one deleted)", changes.replaced),
        ("-", "to remove", changes.removed),
    ):
        if items:
            console.print(f"  {len(items)} {words}")
            _print_changes(mark, items)


def _action_words(plan: Plan) -> str:
    match plan.action:
        case "create":
            return "will be created"
        case "noop":
            return "no changes; deploy would leave it as it is"
        case _:
            return "will be updated"


def _print_changes(mark: str, items: tuple[ResourceChange, ...]) -> None:
    for change in items[:LISTED_CHANGES]:
        console.print(f"    {mark} {escape(change.logical_id)} [dim]{escape(change.type)}[/]")
        if change.reason:
            console.print(f"        [dim]{escape(change.reason)}[/]")
    if len(items) > LISTED_CHANGES:
        console.print(f"    ... and {len(items) - LISTED_CHANGES} more (--json lists all)")


def register(group: click.Group) -> None:
    group.add_command(template_command)
    group.add_command(plan_command)
