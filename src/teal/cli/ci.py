"""``teal ci init github``: the workflow that plans pull requests and deploys pushes."""

from __future__ import annotations

from pathlib import Path

import click

from teal._version import __version__
from teal.cli.common import console, emit_json, json_option, project_option
from teal.project.config import load_project, resolve_target
from teal.runtime.errors import UserError


@click.group("ci")
def ci_group() -> None:
    """Deploy from CI: writes a workflow that plans pull requests and deploys pushes."""


@ci_group.command("init")
@click.argument("provider", metavar="PROVIDER", type=click.Choice(["github"]))
@project_option
@json_option
@click.option("--env", default="dev", show_default=True, help="The env pushes deploy.")
@click.option("--branch", default="main", show_default=True, help="The branch that deploys.")
@click.option("--region", default=None, help="The AWS region (default: [aws] region).")
@click.option(
    "--blue-green",
    "extra",
    metavar="EXTRA",
    default=None,
    help="Deploy the environment the domain does not serve (the env or its copy EXTRA), "
    "then `teal switch --to` it, watched as [deploy] watch says.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing workflow file.")
def init_command(  # noqa: PLR0917 (click passes each option by name)
    provider: str,
    project: Path,
    as_json: bool,
    env: str,
    branch: str,
    region: str | None,
    extra: str | None,
    force: bool,
) -> None:
    """Write .github/workflows/teal.yml: `teal plan --json` on pull requests (in the job's
    summary), `teal deploy --yes` on pushes to the branch, with OIDC credentials."""
    from teal.project.ci_workflow import (
        WORKFLOW_PATH,
        BlueGreen,
        WorkflowSettings,
        github_workflow,
    )

    loaded = load_project(project)
    chosen_region = region or loaded.config.aws.region
    if not chosen_region:
        raise UserError(
            "the workflow needs an AWS region",
            where="teal.toml [aws] region",
            hint="set [aws] region in teal.toml, or pass --region",
        )
    path = loaded.root / WORKFLOW_PATH
    if path.exists() and not force:
        raise UserError(
            f"{WORKFLOW_PATH} already exists",
            where=str(path),
            hint="pass --force to overwrite it",
        )
    python = loaded.config.app.runtime.removeprefix("python")  # the app's own Python
    blue_green = None
    if extra is not None:
        try:
            copy = resolve_target(loaded, env=env, extra=extra, cloud="aws")
        except UserError as error:  # the env or the extra: name the flag given
            hint = error.hint or "an extra is lowercase letters, digits and -"
            raise UserError(error.what, where="--blue-green", hint=hint) from error
        if copy.domain is None:
            raise UserError(
                f"--blue-green switches a domain, and env {env} has none",
                where="teal.toml [domain]",
                hint="add a [domain] table, or leave --blue-green out",
            )
        blue_green = BlueGreen(copy.domain.name, extra, copy.environment)
    settings = WorkflowSettings(
        loaded.config.app.name, env, branch, chosen_region, __version__, python, blue_green
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(github_workflow(settings), encoding="utf-8")
    if as_json:
        emit_json({"provider": provider, "path": str(path), "env": env, "branch": branch})
        return
    console.print(f"wrote {path}")


def register(group: click.Group) -> None:
    group.add_command(ci_group)
