"""The seed's whole flow on a real AWS account, through the CLI. Opt-in.

Skipped unless ``TEAL_AWS_E2E=1``: it needs credentials, network, and it
creates (then deletes) real stacks, APIs and functions, which costs a few
cents. The custom-domain part (switch, rollback) also needs
``TEAL_AWS_E2E_DOMAIN`` (a name you control) and ``TEAL_AWS_E2E_CERT`` (an ACM
certificate for it in the region); ``TEAL_AWS_E2E_ZONE`` adds the Route 53
record; the domain's stack is removed at the end. Region and credentials come
from the usual places (``AWS_PROFILE``, ``AWS_REGION``...). See docs/aws.md
("Running the end-to-end suite on your account").

    TEAL_AWS_E2E=1 AWS_PROFILE=sandbox AWS_REGION=eu-west-1 \\
        pytest tests/test_aws_e2e.py -v

The app gets a unique name, so runs never collide; everything it deployed
is deleted at the end, also when a step fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e import EXAMPLE_BLOG, Run

DOMAIN = os.environ.get("TEAL_AWS_E2E_DOMAIN")
CERT = os.environ.get("TEAL_AWS_E2E_CERT")
ZONE = os.environ.get("TEAL_AWS_E2E_ZONE")
STACK_TIMEOUT = 1800  # seconds a CLI command may take: CloudFormation can be slow

pytestmark = pytest.mark.skipif(
    os.environ.get("TEAL_AWS_E2E") != "1",
    reason="real AWS: set TEAL_AWS_E2E=1 (and credentials) to run",
)
needs_domain = pytest.mark.skipif(
    not (DOMAIN and CERT), reason="set TEAL_AWS_E2E_DOMAIN and TEAL_AWS_E2E_CERT"
)


@dataclass
class AwsProject:
    root: Path
    app: str

    def teal(self, *args: str) -> Run:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEAL_")}
        proc = subprocess.run(
            [sys.executable, "-m", "teal", *args, "--project", str(self.root)],
            capture_output=True,
            text=True,
            env=env,
            timeout=STACK_TIMEOUT,
            check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str) -> Run:
        run = self.teal(*args)
        assert run.code == 0, f"teal {' '.join(args)} exited {run.code}:\n{run.err}"
        return run


def teal_toml(app: str, domain: bool) -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    lines = [
        "[app]",
        f'name = "{app}"',
        'entry = "app:app"',
        'runtime = "python3.12"',
        'cloud = "aws"',
        "",
        "[deploy]",
        'auto_replace = "auto"',
        "",
        "[[checks]]",
        'path = "/health"',
        "status = 200",
        'contains = "ok"',
    ]
    if region:
        lines += ["", "[aws]", f'region = "{region}"']
    if domain:
        lines += ["", "[domain]", f'name = "{DOMAIN}"', f'certificate_arn = "{CERT}"']
        if ZONE:
            lines.append(f'hosted_zone = "{ZONE}"')
    return "\n".join(lines) + "\n"


def make_project(tmp_path: Path, domain: bool) -> Iterator[AwsProject]:
    app = f"teal-e2e-{uuid.uuid4().hex[:8]}"
    root = Path(shutil.copytree(EXAMPLE_BLOG, tmp_path / "blog"))
    (root / "teal.toml").write_text(teal_toml(app, domain=domain))
    project = AwsProject(root, app)
    try:
        yield project
    finally:
        # Both copies, whatever happened; --force because the domain may point at one.
        for extra in ("2", None):
            flags = ("--extra", extra) if extra else ()
            project.teal("delete", *flags, "--force", "--yes")
        if domain:
            remove_domain()


def remove_domain() -> None:
    """The domain's own stack outlives environments; the next run's app would not own it."""
    from teal.cloud.aws import AwsCloud, domain_stack_name

    assert DOMAIN is not None
    cloud = AwsCloud.from_settings(None, None)
    cloud.delete_mapping(DOMAIN, "")
    cloud.delete_stack(domain_stack_name(DOMAIN), lambda _event: None)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[AwsProject]:
    yield from make_project(tmp_path, domain=False)


@pytest.fixture
def domain_project(tmp_path: Path) -> Iterator[AwsProject]:
    yield from make_project(tmp_path, domain=True)


def get(url: str, attempts: int = 30) -> tuple[int, str]:
    """GET with patience: a new API or function answers a little after it is created."""
    status, body = 0, ""
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read().decode()
        except urllib.error.URLError as error:
            status, body = 0, str(error)
        time.sleep(5)
    return status, body


def rename_id(app_py: Path) -> None:
    """The classic unsafe change: /posts/{id} becomes /posts/{post_id}."""
    app_py.write_text(
        app_py.read_text().replace("{id}", "{post_id}").replace('["id"]', '["post_id"]')
    )


def test_deploy_replace_extra_check_and_delete_on_aws(project: AwsProject) -> None:
    first = project.ok("deploy", "--json").json()
    assert first["action"] == "create" and first["status"] == "CREATE_COMPLETE"
    endpoint = first["endpoint"]
    assert get(endpoint + "health")[0] == 200

    plan = project.ok("plan", "--json").json()
    assert plan["action"] == "noop"
    assert project.ok("deploy", "--json").json()["action"] == "noop"

    rename_id(project.root / "app.py")
    plan = project.ok("plan", "--json").json()
    assert plan["api"]["replace"] is True
    assert plan["change_set"] is not None  # CloudFormation's own rows beside teal's
    replaced = project.ok("deploy", "--json").json()
    assert replaced["api_replaced"] is True
    assert replaced["endpoint"] != endpoint and replaced["previous_endpoint"] == endpoint
    status, body = get(replaced["endpoint"] + "posts/1")
    assert status in (200, 404), body  # the route exists under its new name

    extra = project.ok("deploy", "--extra", "2", "--json").json()
    assert extra["stack"].endswith("-2")
    project.ok("check", "--extra", "2")

    environments = project.ok("status", "--json").json()["environments"]
    assert {e["name"] for e in environments} == {f"{project.app}-dev", f"{project.app}-dev-2"}


@needs_domain
def test_switch_and_rollback_of_a_custom_domain_on_aws(domain_project: AwsProject) -> None:
    project = domain_project
    base = project.ok("deploy", "--json").json()
    assert base["domain"]["live"] == f"{project.app}-dev"
    project.ok("deploy", "--extra", "2", "--json")
    switched = project.ok("switch", "--to", "2", "--json").json()
    assert switched["to"] == f"{project.app}-dev-2"
    back = project.ok("rollback", "--json").json()
    assert back["to"] == f"{project.app}-dev"
    # The live environment's API replaced: the domain moves to the new API with it.
    rename_id(project.root / "app.py")
    replaced = project.ok("deploy", "--json").json()
    assert replaced["api_replaced"] is True
    assert replaced["domain"]["live"] == f"{project.app}-dev"
    refused = project.teal("delete", "--yes")
    assert refused.code != 0  # the live environment is not deleted without --force
