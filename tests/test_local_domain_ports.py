"""A custom domain's port held by another program: commands say so instead of printing a
URL that program answers, and the gateway says it once."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e import LocalCloudEnv, Run, get
from runtime_here import RUNTIME
from teal.cloud.local.gateway.lifecycle import log_file
from teal.cloud.local.paths import LocalPaths

WARNING = "cannot listen on"


@pytest.fixture
def held_domain_port(local_cloud: LocalCloudEnv) -> Iterator[int]:
    """The blog deployed with its domain, the gateway stopped, the domain's port taken."""
    first = local_cloud.teal_ok("deploy", "--json").json()
    domain_port = int(first["domain"]["url"].rsplit(":", 1)[1].strip("/"))
    local_cloud.teal_ok("local", "stop")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", domain_port))
        squatter.listen(8)
        yield domain_port


def assert_names_the_held_port(run: Run, port: int) -> None:
    assert run.code == 1, run.err
    assert "blog.example.com" in run.err
    assert f"port {port} is held by another program" in run.err
    assert f"ss -ltnp 'sport = :{port}'" in run.err  # the hint says how to find it


def test_deploy_and_url_fail_naming_the_domain_and_its_port(
    local_cloud: LocalCloudEnv, held_domain_port: int
) -> None:
    assert_names_the_held_port(local_cloud.teal("deploy"), held_domain_port)
    assert_names_the_held_port(local_cloud.teal("url"), held_domain_port)
    time.sleep(3)  # the gateway keeps retrying the port meanwhile, quietly
    warnings = log_file(LocalPaths(local_cloud.home)).read_text().count(WARNING)
    assert 1 <= warnings <= 2, f"the gateway log repeats the warning {warnings} times"


def test_a_deploy_without_a_domain_is_unaffected(
    local_cloud: LocalCloudEnv, held_domain_port: int, tmp_path: Path
) -> None:
    other = tmp_path / "notes"
    other.mkdir()
    (other / "teal.toml").write_text(
        f'[app]\nname = "notes"\nentry = "app:app"\nruntime = "{RUNTIME}"\n'
    )
    (other / "app.py").write_text(
        textwrap.dedent(
            """
            from teal import App

            app = App()


            @app.route("/")
            def home(request):
                return "notes"
            """
        )
    )
    deployed = subprocess.run(
        [sys.executable, "-m", "teal", "deploy", "--json", "--project", str(other)],
        capture_output=True,
        text=True,
        env=local_cloud.env,
        stdin=subprocess.DEVNULL,
        timeout=180,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stderr
    endpoint = Run(deployed.returncode, deployed.stdout, deployed.stderr).json()["endpoint"]
    assert get(endpoint) == (200, "notes")


def test_once_the_port_is_free_the_domain_is_served_again(local_cloud: LocalCloudEnv) -> None:
    first = local_cloud.teal_ok("deploy", "--json").json()
    domain_url = first["domain"]["url"]
    domain_port = int(domain_url.rsplit(":", 1)[1].strip("/"))
    local_cloud.teal_ok("local", "stop")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", domain_port))
        squatter.listen(8)
        assert local_cloud.teal("url").code == 1
    result = local_cloud.teal_ok("url", "--json").json()  # asks the gateway to try at once
    assert result["domain"]["url"] == domain_url
    assert get(domain_url + "health")[0] == 200
