"""``teal ci init github``: the workflow that plans pull requests and deploys pushes."""

from __future__ import annotations

from pathlib import Path

import click

from teal._version import __version__
from teal.cli.common import console, emit_json, json_option, project_option
from teal.project.config import load_project
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
@click.option("--force", is_flag=True, help="Overwrite an existing workflow file.")
def init_command(  # noqa: PLR0917 (click passes each option by name)
    provider: str,
    project: Path,
    as_json: bool,
    env: str,
    branch: str,
    region: str | None,
    force: bool,
) -> None:
    """Write .github/workflows/teal.yml: `teal plan --json` on pull requests (in the job's
    summary), `teal deploy --yes` on pushes to the branch, with OIDC credentials."""
    from teal.project.ci_workflow import WORKFLOW_PATH, WorkflowSettings, github_workflow

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
    settings = WorkflowSettings(
        loaded.config.app.name, env, branch, chosen_region, __version__, python
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(github_workflow(settings), encoding="utf-8")
    if as_json:
        emit_json({"provider": provider, "path": str(path), "env": env, "branch": branch})
        return
    console.print(f"wrote {path}")


def register(group: click.Group) -> None:
    group.add_command(ci_group)
