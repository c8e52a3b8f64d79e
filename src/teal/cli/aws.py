"""``teal aws``: what a deploy identity on AWS needs (``teal aws policy``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
from rich.markup import escape

from teal.cli.common import console, emit_json, json_option, project_option
from teal.project.config import load_project
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


def register(group: click.Group) -> None:
    group.add_command(aws_group)
