"""Versions, the alias and canary deploys on the local cloud, through the CLI in a
subprocess and real HTTP: what an invocation runs, and a canary's share, promotion and
rollback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from e2e import LocalCloudEnv, free_port, get

APP = """
from teal import App, Response

VERSION = "1"
BROKEN = False

app = App()


@app.route("/who")
def who(request):
    context = request.context
    if BROKEN:
        answer = {"error": "broken", "function_version": context.function_version}
        return Response(answer, status=500)
    return {
        "version": VERSION,
        "function_version": context.function_version,
        "invoked_arn": context.invoked_function_arn,
    }


@app.route("/items/{id}")
def item(request):
    return {"id": request.path_params["id"]}
"""

TOML = """
[app]
name = "canary"
entry = "app:app"
runtime = "python3.11"
"""


@pytest.fixture
def cloud(tmp_path: Path) -> LocalCloudEnv:
    project = tmp_path / "canary"
    project.mkdir()
    (project / "app.py").write_text(textwrap.dedent(APP))
    (project / "teal.toml").write_text(textwrap.dedent(TOML))
    env = LocalCloudEnv(tmp_path / "teal-home", free_port(), project)
    yield env  # type: ignore[misc]
    env.teal("local", "stop")


def _who(url: str) -> dict[str, str]:
    status, body = get(f"{url}who")
    assert status == 200, body
    answer: dict[str, str] = json.loads(body)
    return answer


def test_an_invocation_runs_the_alias_version_and_a_change_publishes_the_next(
    cloud: LocalCloudEnv,
) -> None:
    url = cloud.teal_ok("deploy", "--json").json()["endpoint"]
    first = _who(url)
    assert first["function_version"] == "1"
    assert first["invoked_arn"].endswith(":function:canary-dev-who:live")
    cloud.edit_app('VERSION = "1"', 'VERSION = "2"')
    cloud.teal_ok("deploy", "--json")
    second = _who(url)
    assert (second["version"], second["function_version"]) == ("2", "2")
    status = cloud.teal_ok("status", "--json").json()
    versions = status["environments"][0]["versions"]
    assert versions["who"] == {
        "alias_version": "2",
        "canary_version": None,
        "canary_percent": None,
    }
    assert versions["item"]["alias_version"] == "2"  # its variables name the new code too
    logs = b"".join(p.read_bytes() for p in (cloud.home / "logs").rglob("*") if p.is_file())
    assert b"Version: 2" in logs  # START RequestId: ... Version: 2


class _Counter:
    """Requests back to back from a thread: which version answered, and failures."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Counter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        deadline = time.monotonic() + 240
        while not self._stop.is_set() and time.monotonic() < deadline:
            status, body = get(f"{self.url}who")
            try:
                version = str(json.loads(body).get("function_version", "?"))
            except ValueError:
                version = "?"  # not the app's answer: the gateway's own
            self.seen[version] += 1
            if status != 200:
                self.failed[version] += 1


def _deploy_in_background(cloud: LocalCloudEnv, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "teal", "deploy", *args, "--project", str(cloud.project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cloud.env,
        stdin=subprocess.DEVNULL,
    )


def test_a_good_canary_sends_its_share_to_the_new_version_then_promotes(
    cloud: LocalCloudEnv,
) -> None:
    url = cloud.teal_ok("deploy", "--json").json()["endpoint"]
    _who(url)
    cloud.edit_app('VERSION = "1"', 'VERSION = "2"')
    with _Counter(url) as counter:
        deploying = _deploy_in_background(cloud, "--canary", "20%", "--watch", "12s", "--json")
        out, err = deploying.communicate(timeout=300)
    assert deploying.returncode == 0, err
    report = json.loads(out)["canary"]
    assert report["verdict"] == "promoted"
    assert report["percent"] == 20
    # during the canary: version 1 and 2 both answered, ~20 % the new one
    during = counter.seen["1"] + counter.seen["2"]
    assert during >= 300, counter.seen
    assert report["requests_new"] >= 20
    share = report["requests_new"] / (report["requests_new"] + counter.seen["1"])
    assert 0.14 <= share <= 0.26, (report, counter.seen)
    assert not counter.failed
    assert _who(url)["function_version"] == "2"
    history = cloud.teal_ok("status", "--json").json()["history"]
    actions = [entry["action"] for entry in history]
    assert {"canary-started", "canary-promoted"} <= set(actions)


def test_a_failing_canary_is_rolled_back_with_the_old_version_failing_nothing(
    cloud: LocalCloudEnv,
) -> None:
    url = cloud.teal_ok("deploy", "--json").json()["endpoint"]
    _who(url)
    cloud.edit_app("BROKEN = False", "BROKEN = True")
    with _Counter(url) as counter:
        deploying = _deploy_in_background(cloud, "--canary", "20%", "--watch", "30s", "--json")
        out, err = deploying.communicate(timeout=300)
    assert deploying.returncode == 1, err
    report = json.loads(out)["canary"]
    assert report["verdict"] == "rolled-back"
    assert report["errors_new"] >= 2
    # every failure was the new version's; the old one answered every request it got
    assert set(counter.failed) == {"2"}, counter.failed
    assert counter.seen["1"] > 0
    for _ in range(20):
        assert _who(url)["function_version"] == "1"
    history = cloud.teal_ok("status", "--json").json()["history"]
    rolled = [e for e in history if e["action"] == "canary-rolled-back"]
    assert rolled and rolled[0]["errors_new"] >= 2


def test_a_canary_of_a_change_that_replaces_the_api_is_refused_and_the_plan_says_why(
    cloud: LocalCloudEnv,
) -> None:
    cloud.teal_ok("deploy", "--json")
    cloud.edit_app('"/items/{id}"', '"/items/{item_id}"')
    cloud.edit_app('path_params["id"]', 'path_params["item_id"]')
    refused = cloud.teal("deploy", "--canary", "10%", "--json")
    assert refused.code == 2, refused.err
    assert "two RestApis" in refused.err and "teal switch --watch" in refused.err
    (cloud.project / "teal.toml").write_text(TOML + '\n[deploy]\ncanary = "10%"\n')
    plan = cloud.teal_ok("plan")
    assert "no canary" in plan.out + plan.err
    history = cloud.teal_ok("status", "--json").json()["history"]
    assert [e["action"] for e in history] == ["deploy"]  # the refusal changed nothing


def test_ctrl_c_during_a_canary_puts_every_alias_back_on_the_old_version(
    cloud: LocalCloudEnv,
) -> None:
    url = cloud.teal_ok("deploy", "--json").json()["endpoint"]
    _who(url)
    cloud.edit_app('VERSION = "1"', 'VERSION = "2"')
    with _Counter(url) as counter:
        deploying = _deploy_in_background(cloud, "--canary", "50%", "--watch", "120s")
        deadline = time.monotonic() + 120
        while counter.seen["2"] < 5 and time.monotonic() < deadline:
            time.sleep(0.2)  # the canary runs: the new version answers some requests
        assert counter.seen["2"] >= 5, counter.seen
        deploying.send_signal(signal.SIGINT)
        _, err = deploying.communicate(timeout=120)
    assert deploying.returncode == 130, err
    assert "back on the old versions" in err
    assert not counter.failed
    for _ in range(20):
        assert _who(url)["function_version"] == "1"
    history = cloud.teal_ok("status", "--json").json()["history"]
    assert "canary-rolled-back" in [e["action"] for e in history]
