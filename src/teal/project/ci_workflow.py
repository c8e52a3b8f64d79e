"""The GitHub Actions workflow ``teal ci init github`` writes.

Pull requests run ``teal plan --json`` and put what it says in the job's
summary; pushes to the branch run ``teal deploy --yes``. Credentials come from
GitHub's OIDC token (``id-token: write``) through a role the repository names
in its ``TEAL_DEPLOY_ROLE_ARN`` variable (``teal aws policy`` prints that
role's policy); actions are pinned to commit SHAs; one concurrency group per
environment, so two runs never deploy it at once (teal's locks would refuse the
second; the group queues it instead).
"""

from __future__ import annotations

from dataclasses import dataclass

WORKFLOW_PATH = ".github/workflows/teal.yml"
ROLE_VARIABLE = "TEAL_DEPLOY_ROLE_ARN"
# Pinned to commits (a tag can be moved); the comment names the release.
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2"
SETUP_PYTHON = "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b  # v5.3.0"
AWS_CREDENTIALS = (
    "aws-actions/configure-aws-credentials@e3dd6a429d7300a6a4c196c26e071d42e0343502  # v4.0.2"
)
# What a pull request's summary shows of `teal plan --json`: what deploy would do,
# whether the API must be replaced and why, the notes, and the changes by kind.
_SUMMARY = """\
python - >> "$GITHUB_STEP_SUMMARY" <<'PY'
import json
plan = json.load(open("plan.json"))
api = plan["api"]
print(f"## teal plan: {plan['stack']}: {plan['action']}")
print("API replaced: " + ("yes" if api["replace"] else "no"))
for reason in api["reasons"]:
    print(f"- {reason['message']}")
for note in plan["notes"]:
    print(f"- {note}")
for kind, changes in plan["changes"].items():
    for change in changes:
        print(f"- {kind}: {change['logical_id']} ({change['type']})")
PY"""


# Blue-green: which of the two environments the domain does not serve (status's JSON).
_IDLE = """\
teal status --json > status.json
python - >> "$GITHUB_OUTPUT" <<'PY'
import json
domains = json.load(open("status.json"))["domains"]
live = {row["name"]: row["live"] for row in domains}.get("DOMAIN")
print("to=base" if live == "COPY" else "to=EXTRA")
PY"""


@dataclass(frozen=True)
class BlueGreen:
    """Deploy the environment the domain does not serve, then switch to it."""

    domain: str
    extra: str  # the copy's extra; the other side is the env itself ("base")
    copy: str  # the copy's environment name


@dataclass(frozen=True)
class WorkflowSettings:
    app: str
    env: str
    branch: str
    region: str
    teal_version: str
    python: str
    blue_green: BlueGreen | None = None


def _indented(text: str, spaces: int = 10) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


def _deploy_steps(blue_green: BlueGreen | None) -> str:
    """`teal deploy --yes`; blue-green: the idle side, then `teal switch --to` it (watched
    as [deploy] watch says)."""
    if blue_green is None:
        return """\
      - name: teal deploy
        run: teal deploy --yes
"""
    idle = _IDLE.replace("DOMAIN", blue_green.domain).replace("COPY", blue_green.copy)
    idle = idle.replace("EXTRA", blue_green.extra)
    to = "${{ steps.idle.outputs.to }}"
    return f"""\
      - name: the environment the domain does not serve
        id: idle
        run: |
{_indented(idle)}
      - name: teal deploy
        run: |
          if [ "{to}" = base ]; then teal deploy --yes; else teal deploy --extra {to} --yes; fi
      - name: teal switch
        run: teal switch --to {to}
"""


def github_workflow(settings: WorkflowSettings) -> str:
    """The workflow's text (YAML)."""
    s = settings
    summary = _indented(_SUMMARY)
    setup = f"""\
      - uses: {CHECKOUT}
      - uses: {SETUP_PYTHON}
        with:
          python-version: "{s.python}"
      - uses: {AWS_CREDENTIALS}
        with:
          role-to-assume: ${{{{ vars.{ROLE_VARIABLE} }}}}
          aws-region: {s.region}
      - name: install teal
        run: pip install "teal-deploy=={s.teal_version}"
"""
    return f"""\
# Written by `teal ci init github`: plans on pull requests, deploys on pushes to {s.branch}.
# Set the repository variable {ROLE_VARIABLE} to the ARN of a role GitHub's OIDC
# provider may assume, holding the policy `teal aws policy` prints.
name: teal

on:
  pull_request:
    branches: [{s.branch}]
  push:
    branches: [{s.branch}]

permissions:
  contents: read
  id-token: write

env:
  TEAL_ENV: {s.env}
  TEAL_CLOUD: aws

jobs:
  plan:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    concurrency:
      group: teal-plan-{s.app}-{s.env}-${{{{ github.event.pull_request.number }}}}
      cancel-in-progress: true
    steps:
{setup}      - name: teal plan
        run: |
          teal plan --json > plan.json
{summary}

  deploy:
    if: github.event_name == 'push'
    runs-on: ubuntu-latest
    concurrency:
      group: teal-deploy-{s.app}-{s.env}
      cancel-in-progress: false
    steps:
{setup}{_deploy_steps(s.blue_green)}"""
