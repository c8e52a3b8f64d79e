"""`teal ci init github` and `teal aws policy` through the CLI: the workflow is YAML a
GitHub runner takes, running the documented commands; the policy is scoped to the app."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from e2e import REPO, Run

TOML = """\
[app]
name = "shop"
runtime = "python3.12"
cloud = "aws"

[aws]
region = "eu-west-1"

[domain]
name = "api.example.com"
certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"

[functions.web]
layers = ["arn:aws:lambda:eu-west-1:123456789012:layer:pillow:3"]

[resources]
template = "resources.yaml"
"""
RESOURCES = """\
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
"""
SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
JOB_KEYS = {"if", "runs-on", "concurrency", "steps", "permissions", "env"}
STEP_KEYS = {"name", "uses", "with", "run", "env"}


def project(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "teal.toml").write_text(TOML)
    (root / "resources.yaml").write_text(RESOURCES)
    (root / "app.py").write_text("from teal import App\n\napp = App()\n")
    return root


def workflow_of(root: Path) -> dict[Any, Any]:
    loaded = yaml.safe_load((root / ".github/workflows/teal.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def documented_commands() -> set[str]:
    """The `teal ...` lines of the CI page's and the commands page's text."""
    text = (REPO / "docs" / "ci.md").read_text() + (REPO / "docs" / "commands.md").read_text()
    return set(re.findall(r"`(teal [a-z][^`]*)`", text))


def test_the_workflow_plans_pull_requests_and_deploys_pushes(
    tmp_path: Path, teal_cli: Callable[..., Run]
) -> None:
    root = project(tmp_path)
    shown = teal_cli("ci", "init", "github", "--project", str(root), "--env", "prod", "--json")
    assert shown.code == 0, shown.err
    assert shown.json()["path"] == str(root / ".github/workflows/teal.yml")
    flow = workflow_of(root)
    # YAML reads a bare `on` as true: GitHub reads it as the key it is
    triggers = flow[True]
    assert triggers == {"pull_request": {"branches": ["main"]}, "push": {"branches": ["main"]}}
    assert flow["permissions"] == {"contents": "read", "id-token": "write"}
    assert flow["env"] == {"TEAL_ENV": "prod", "TEAL_CLOUD": "aws"}
    jobs = flow["jobs"]
    assert set(jobs) == {"plan", "deploy"}
    runs: dict[str, list[str]] = {}
    for name, job in jobs.items():
        assert set(job) <= JOB_KEYS and job["runs-on"] == "ubuntu-latest"
        assert job["concurrency"]["group"].startswith(f"teal-{name}-shop-prod")
        for step in job["steps"]:
            assert set(step) <= STEP_KEYS and ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert SHA_PINNED.match(step["uses"]), step["uses"]
        credentials = job["steps"][2]
        assert credentials["uses"].startswith("aws-actions/configure-aws-credentials@")
        assert credentials["with"]["aws-region"] == "eu-west-1"
        assert credentials["with"]["role-to-assume"] == "${{ vars.TEAL_DEPLOY_ROLE_ARN }}"
        assert job["steps"][1]["with"]["python-version"] == "3.12"
        runs[name] = [
            line
            for step in job["steps"]
            for line in step.get("run", "").splitlines()
            if line.startswith("teal ")
        ]
    assert runs == {"plan": ["teal plan --json > plan.json"], "deploy": ["teal deploy --yes"]}
    assert jobs["deploy"]["concurrency"]["cancel-in-progress"] is False
    documented = documented_commands()
    for line in runs["plan"] + runs["deploy"]:
        assert line.split(" >")[0] in documented, line


def test_the_plan_summary_reads_what_teal_plan_prints(tmp_path: Path) -> None:
    """The summary script runs on a plan's JSON as `teal plan --json` shapes it."""
    import subprocess
    import sys

    root = project(tmp_path)
    from teal.cli import main

    assert main(["ci", "init", "github", "--project", str(root)]) == 0
    script = workflow_of(root)["jobs"]["plan"]["steps"][-1]["run"]
    body = script.split("<<'PY'\n", 1)[1].rsplit("PY", 1)[0]
    plan = {
        "stack": "shop-dev",
        "action": "update",
        "notes": ["function web will be updated"],
        "api": {"replace": True, "reasons": [{"message": "the path part changed"}]},
        "changes": {
            "added": [],
            "modified": [],
            "replaced": [],
            "removed": [{"logical_id": "ResPosts1", "type": "AWS::ApiGateway::Resource"}],
        },
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    done = subprocess.run(
        [sys.executable, "-c", body], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert "## teal plan: shop-dev: update" in done.stdout
    assert "API replaced: yes" in done.stdout
    assert "- the path part changed" in done.stdout
    assert "- removed: ResPosts1 (AWS::ApiGateway::Resource)" in done.stdout


def test_an_existing_workflow_is_kept_without_force(
    tmp_path: Path, teal_cli: Callable[..., Run]
) -> None:
    root = project(tmp_path)
    path = root / ".github/workflows/teal.yml"
    path.parent.mkdir(parents=True)
    path.write_text("name: ours\n")
    refused = teal_cli("ci", "init", "github", "--project", str(root), "--json")
    assert refused.code == 2
    assert "--force" in refused.json()["error"]["hint"]
    assert path.read_text() == "name: ours\n"
    forced = teal_cli("ci", "init", "github", "--project", str(root), "--force")
    assert forced.code == 0, forced.err
    assert workflow_of(root)["name"] == "teal"


def test_a_workflow_needs_a_region(tmp_path: Path, teal_cli: Callable[..., Run]) -> None:
    root = project(tmp_path)
    (root / "teal.toml").write_text(TOML.replace('region = "eu-west-1"', ""))
    refused = teal_cli("ci", "init", "github", "--project", str(root), "--json")
    assert refused.code == 2
    assert refused.json()["error"]["where"] == "teal.toml [aws] region"
    assert not (root / ".github").exists()


def test_the_policy_is_scoped_to_the_app(tmp_path: Path, teal_cli: Callable[..., Run]) -> None:
    root = project(tmp_path)
    shown = teal_cli("aws", "policy", "--project", str(root), "--account", "123456789012", "--json")
    assert shown.code == 0, shown.err
    statements = {s["Sid"]: s for s in shown.json()["policy"]["Statement"]}
    for statement in statements.values():
        actions = statement["Action"]
        assert "*" not in actions and all(":" in a and not a.endswith(":*") for a in actions)
    assert statements["TealStacks"]["Resource"] == [
        "arn:aws:cloudformation:eu-west-1:123456789012:stack/shop-*/*",
        "arn:aws:cloudformation:eu-west-1:123456789012:stack/teal-domain-api-example-com/*",
    ]
    assert statements["StackPassRoles"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}
    }
    assert statements["StackPassRoles"]["Resource"] == [
        "arn:aws:iam::123456789012:role/shop-*",
        "arn:aws:iam::123456789012:role/teal-domain-api-example-com-*",
    ]
    assert (
        "arn:aws:lambda:eu-west-1:123456789012:layer:pillow:3"
        in (statements["StackLambda"]["Resource"])
    )
    # the [resources] template's table, made by CloudFormation as the caller
    assert "dynamodb:CreateTable" in statements["StackDynamodb"]["Action"]
    # no domain's alias record without a hosted zone
    assert "StackRoute53" not in statements
    # only the statements whose resource AWS takes as * alone say *
    wide = {sid for sid, s in statements.items() if s["Resource"] == "*"}
    # metric reads and DescribeParameters (metadata of the parameters a deploy checks)
    assert wide == {"TealMetrics", "TealListStacks", "TealParametersRead"}
    text = teal_cli("aws", "policy", "--project", str(root), "--account", "123456789012")
    assert text.code == 0, text.err
    assert "# TealMetrics: teal switch --watch" in text.out
    assert "#   resource *: CloudWatch's metric reads take no resource" in text.out
    document = text.out[text.out.index("\n{") :]
    assert json.loads(document) == shown.json()["policy"]


def test_blue_green_deploys_the_idle_side_and_switches_to_it(
    tmp_path: Path, teal_cli: Callable[..., Run]
) -> None:
    import subprocess
    import sys

    root = project(tmp_path)
    made = teal_cli("ci", "init", "github", "--project", str(root), "--blue-green", "2")
    assert made.code == 0, made.err
    steps = workflow_of(root)["jobs"]["deploy"]["steps"]
    idle, deploy, switch = steps[-3:]
    assert idle["id"] == "idle"
    to = "${{ steps.idle.outputs.to }}"
    assert f"teal deploy --extra {to} --yes" in deploy["run"]
    assert switch["run"] == f"teal switch --to {to}"
    assert "teal status --json" in documented_commands()
    # the step's script picks the side the domain does not serve
    script = idle["run"].split("<<'PY'\n", 1)[1].rsplit("PY", 1)[0]
    for live, side in (("shop-dev-2", "to=base"), ("shop-dev", "to=2"), (None, "to=2")):
        status = {"domains": [{"name": "api.example.com", "live": live}]}
        (tmp_path / "status.json").write_text(json.dumps(status))
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.stdout.strip() == side, (live, done.stderr)


def test_blue_green_needs_a_domain_and_a_good_extra(
    tmp_path: Path, teal_cli: Callable[..., Run]
) -> None:
    root = project(tmp_path)
    bad = teal_cli("ci", "init", "github", "--project", str(root), "--blue-green", "?", "--json")
    assert bad.code == 2 and bad.json()["error"]["where"] == "--blue-green"
    (root / "teal.toml").write_text(TOML.split("[domain]", maxsplit=1)[0])
    (root / "resources.yaml").unlink()
    none = teal_cli("ci", "init", "github", "--project", str(root), "--blue-green", "2", "--json")
    assert none.code == 2 and none.json()["error"]["where"] == "teal.toml [domain]"
    assert not (root / ".github").exists()
