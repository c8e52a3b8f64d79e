"""``teal aws``: what a deploy identity on AWS needs (``teal aws policy``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
from rich.markup import escape

from teal.cli.common import console, emit_json, json_option, progress, project_option
from teal.cloud.base import StackEvent
from teal.project.config import load_project, resolve_target
from teal.runtime.errors import UserError

_ACCOUNT = re.compile(r"^[0-9]{12}$")


def _account(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not _ACCOUNT.match(value):
        raise click.BadParameter(f"{value!r} is not an AWS account id (12 digits)")
    return value


@click.group("aws")
def aws_group() -> None:
    """What teal needs on AWS: the IAM policy of a deploy identity (for CI)."""


@aws_group.command("policy")
@project_option
@json_option
@click.option("--region", default=None, help="The region ([aws] region or AWS_REGION; else *).")
@click.option(
    "--account", default=None, callback=_account, help="The account id to name in ARNs (else *)."
)
def policy_command(project: Path, as_json: bool, region: str | None, account: str | None) -> None:
    """Print the least-privilege IAM policy that deploys this project.

    Every action teal calls, and every action CloudFormation takes for teal's
    stacks, with resources scoped to the app's names wherever AWS allows it.
    Changes nothing and needs no credentials.
    """
    from teal.cloud import aws_deploy_policy

    if region is not None and not region.strip():
        raise UserError("--region must not be empty", where="--region", hint="leave it out")
    loaded = load_project(project)
    document, lines, chosen_region = aws_deploy_policy(loaded, region, account)
    if as_json:
        app = loaded.config.app.name
        emit_json({"app": app, "region": chosen_region, "policy": document})
        return
    for line in lines:
        console.print(f"# {escape(line)}")
    console.print(escape(json.dumps(document, indent=2)))


_REPOSITORY = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")


def _repository(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not _REPOSITORY.match(value):
        raise click.BadParameter(f"{value!r} is not a GitHub repository (OWNER/REPO)")
    return value


@aws_group.command("bootstrap")
@project_option
@json_option
@click.option(
    "--github",
    "repository",
    metavar="OWNER/REPO",
    callback=_repository,
    help="The repository whose workflows may deploy the app.",
)
@click.option("--branch", default="main", show_default=True, help="The branch that deploys.")
@click.option("--delete", is_flag=True, help="Delete the bootstrap stack (never the bucket).")
def bootstrap_command(
    project: Path, as_json: bool, repository: str | None, branch: str, delete: bool
) -> None:
    """Make the stack that lets a GitHub repository deploy this app: GitHub's OIDC
    provider (or the account's own), a role only that repository may assume, holding
    the policy `teal aws policy` prints, and the artifacts bucket. Prints the role's ARN."""
    from teal.cloud import aws_bootstrap, aws_unbootstrap

    loaded = load_project(project)
    target = resolve_target(loaded, cloud="aws")
    if delete:
        deleted = aws_unbootstrap(target, _show_event)
        if as_json:
            emit_json({"deleted": deleted})
        else:
            console.print("deleted" if deleted else "no bootstrap stack to delete")
        return
    if repository is None:
        raise UserError(
            "which repository may deploy?",
            where="--github",
            hint="pass --github OWNER/REPO (or --delete)",
        )
    if not branch.strip():
        raise UserError("--branch must not be empty", where="--branch", hint="leave it out")
    done = aws_bootstrap(loaded, target, repository, branch, _show_event)
    if as_json:
        emit_json(done)
        return
    console.print(escape(done["role_arn"]))
    progress(
        f"set the repository variable TEAL_DEPLOY_ROLE_ARN of {repository} to this ARN "
        "(teal ci init github writes the workflow that reads it)"
    )


def _show_event(event: StackEvent) -> None:
    progress(f"{event.logical_id} {event.status}" + (f": {event.reason}" if event.reason else ""))


def register(group: click.Group) -> None:
    group.add_command(aws_group)
