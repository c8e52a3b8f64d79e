"""Guarded switches and previews end to end, through the CLI on the local cloud, under a
steady client of the domain: a watched switch to failing routes goes back by itself, a
healthy one holds, a watch without traffic says so, Ctrl-C keeps the switch; a preview
sends only the requests with its header, ends with --off or with a switch to it, and
keeps its environment from being deleted; a replacement's re-point is watched too."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from e2e import LocalCloudEnv, SteadyClient, get, rename_id_to_post_id
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.paths import LocalPaths
from test_e2e_bluegreen import version_at

BROKEN_POSTS = ('return {"posts": list(POSTS.values())[:limit]}', 'raise RuntimeError("broken")')


def history(cloud: LocalCloudEnv) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = cloud.teal_ok("status", "--json").json()["history"]
    return entries


def with_header(url: str, value: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"teal-preview": value})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def deploy_base_and_extra(cloud: LocalCloudEnv, *edits: tuple[str, str]) -> str:
    """blog-dev at version 1 behind the domain, blog-dev-2 at version 2 with ``edits``."""
    domain_url: str = cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    cloud.edit_app('VERSION = "1"', 'VERSION = "2"')
    for old, new in edits:
        cloud.edit_app(old, new)
    cloud.teal_ok("deploy", "--extra", "2")
    return domain_url


def test_a_watched_switch_to_failing_routes_is_switched_back_with_no_failed_request(
    local_cloud: LocalCloudEnv,
) -> None:
    domain_url = deploy_base_and_extra(local_cloud, BROKEN_POSTS)
    local_cloud.teal_ok("preview", "--to", "2")  # ended by the switch, and said to stay so
    with SteadyClient(domain_url + "health") as health, SteadyClient(domain_url + "posts"):
        watched = local_cloud.teal("switch", "--to", "2", "--watch", "30s", "--json")
        assert version_at(domain_url) == "1"
    assert watched.code == 1, watched.err
    report = watched.json()
    assert (report["from"], report["to"]) == ("blog-dev", "blog-dev-2")
    watch = report["watch"]
    assert watch["verdict"] == "switched-back" and watch["errors"] > 0
    assert watch["seconds"] < 30  # it went back within the window, not at its end
    assert "over the limit of 1%" in watch["reason"]
    assert "watching blog-dev-2:" in watched.err  # the live figures, on stderr
    assert "the preview of blog-dev-2 that the switch ended stays ended" in watched.err
    assert health.sent > 20 and health.failures == []  # none from the switching itself

    moves = [e for e in history(local_cloud) if e["action"] in ("switch", "switched-back")]
    switch, back = moves[-2:]
    assert (switch["action"], switch["from"], switch["to"]) == ("switch", "blog-dev", "blog-dev-2")
    assert switch["state"] == "done" and switch["watch"]["verdict"] == "switched-back"
    assert (back["action"], back["from"], back["to"]) == (
        "switched-back",
        "blog-dev-2",
        "blog-dev",
    )
    assert back["state"] == "done" and back["watch"]["errors"] == watch["errors"]
    status = local_cloud.teal_ok("status", "--json").json()
    domain = status["domains"][0]
    assert (domain["live"], domain["previous"]) == ("blog-dev", None)  # no way back to it

    # the switch back was the rollback: another one would serve what failed again
    refused = local_cloud.teal("rollback")
    assert refused.code == 1
    assert "a rollback now would serve blog-dev-2 again" in refused.err
    assert "teal switch --to blog-dev-2" in refused.err
    assert version_at(domain_url) == "1"


def test_a_healthy_watched_switch_holds_and_one_without_traffic_says_so(
    local_cloud: LocalCloudEnv,
) -> None:
    domain_url = deploy_base_and_extra(local_cloud)
    with SteadyClient(domain_url + "health") as health:
        held = local_cloud.teal_ok("switch", "--to", "2", "--watch", "4s", "--json").json()
        assert version_at(domain_url) == "2"
    assert held["watch"]["verdict"] == "held" and held["watch"]["enough_traffic"] is True
    assert held["watch"]["errors"] == 0 and held["watch"]["requests"] >= 20
    assert health.failures == []

    quiet = local_cloud.teal("switch", "--to", "base", "--watch", "3s")
    assert quiet.code == 0, quiet.err
    assert "not enough traffic to judge" in quiet.out
    assert "warning:" in quiet.err and "the switch stays, unjudged" in quiet.err
    assert version_at(domain_url) == "1"
    last = history(local_cloud)[-1]
    assert last["watch"]["verdict"] == "held" and last["watch"]["enough_traffic"] is False


def test_ctrl_c_during_the_watch_keeps_the_switch(local_cloud: LocalCloudEnv) -> None:
    domain_url = deploy_base_and_extra(local_cloud)
    command = [sys.executable, "-m", "teal", "switch", "--to", "2", "--watch", "60s"]
    process = subprocess.Popen(
        [*command, "--project", str(local_cloud.project)],
        env=local_cloud.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    watching = threading.Event()
    lines: list[str] = []

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "watching blog-dev-2:" in line:
                watching.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert watching.wait(timeout=60), "".join(lines)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        process.kill()
    reader.join(timeout=10)
    assert process.stdout is not None
    out = process.stdout.read()
    assert process.returncode == 130, "".join(lines) + out
    assert "watch stopped (Ctrl-C): blog.example.com stays on blog-dev-2" in "".join(lines)
    assert version_at(domain_url) == "2"
    last = history(local_cloud)[-1]
    assert last["action"] == "switch" and last["watch"]["verdict"] == "interrupted"
    assert local_cloud.teal_ok("status", "--json").json()["locks"] == []


KILLED = -signal.SIGKILL


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return condition()


def test_a_killed_watch_of_a_failing_switch_is_switched_back_by_the_gateway(
    local_cloud: LocalCloudEnv,
) -> None:
    """kill -9 of the watching command used to leave the broken environment live."""
    domain_url = deploy_base_and_extra(local_cloud, BROKEN_POSTS)
    with SteadyClient(domain_url + "health") as health, SteadyClient(domain_url + "posts"):
        killed = local_cloud.teal(
            "switch", "--to", "2", "--watch", "30s", env={"TEAL_CRASH_AT": "switch:watching"}
        )
        assert killed.code == KILLED, killed
        assert wait_for(lambda: version_at(domain_url) == "1", 30)  # within the watch's period
    assert health.failures == []
    entries = history(local_cloud)
    switch = next(e for e in entries if e["action"] == "switch")
    assert switch["watch"]["verdict"] == "switched-back"
    assert switch["watch"]["judged_by"] == "local gateway"
    assert "over the limit of 1%" in switch["watch"]["reason"]
    back = entries[-1]
    assert (back["action"], back["from"], back["to"]) == ("switched-back", "blog-dev-2", "blog-dev")
    refused = local_cloud.teal("rollback")  # the switch back was the rollback
    assert refused.code == 1 and "a rollback now would serve blog-dev-2 again" in refused.err


def test_a_killed_watch_of_a_healthy_switch_is_said_and_held_at_its_deadline(
    local_cloud: LocalCloudEnv,
) -> None:
    domain_url = deploy_base_and_extra(local_cloud)
    with SteadyClient(domain_url + "health") as client:
        killed = local_cloud.teal(
            "switch", "--to", "2", "--watch", "6s", env={"TEAL_CRASH_AT": "switch:watching"}
        )
        assert killed.code == KILLED, killed
        said = local_cloud.teal_ok("status")
        assert "lost its command" in said.err and "the local gateway judges it" in said.err

        def ended() -> bool:
            switch = [e for e in history(local_cloud) if e["action"] == "switch"][-1]
            return bool(switch["watch"]["verdict"] != "watching")

        assert wait_for(ended, 20)
    assert client.failures == []
    switch = [e for e in history(local_cloud) if e["action"] == "switch"][-1]
    assert switch["watch"]["verdict"] == "held" and switch["watch"]["judged_by"] == "local gateway"
    assert version_at(domain_url) == "2"
    assert "lost its command" not in local_cloud.teal_ok("status").err


def test_a_preview_sends_only_the_requests_with_its_header(local_cloud: LocalCloudEnv) -> None:
    domain_url = deploy_base_and_extra(local_cloud)
    with SteadyClient(domain_url + "health") as client:
        previewed = local_cloud.teal_ok("preview", "--to", "2", "--json").json()
        assert previewed["preview"] == {"header": "teal-preview: 2", "environment": "blog-dev-2"}
        assert json.loads(with_header(domain_url + "health", "2")[1])["version"] == "2"
        assert json.loads(with_header(domain_url + "health", "3")[1])["version"] == "1"
        assert version_at(domain_url) == "1"
        status = local_cloud.teal_ok("status", "--json").json()
        assert status["domains"][0]["preview"] == previewed["preview"]
        assert status["domains"][0]["live"] == "blog-dev"

        checked = local_cloud.teal_ok("check", "--preview", "--extra", "2", "--json").json()
        assert checked["ok"] is True and checked["endpoint"] == domain_url
        not_previewed = local_cloud.teal("check", "--preview", "--json")
        assert not_previewed.code == 2 and "blog-dev is not previewed" in not_previewed.err

        refused = local_cloud.teal("delete", "--extra", "2", "--yes")
        assert refused.code == 1 and "blog-dev-2 is previewed" in refused.err
        assert "teal preview --off" in refused.err

        ended = local_cloud.teal_ok("preview", "--off", "--json").json()
        assert (ended["preview"], ended["previous"]) == (None, "blog-dev-2")
        assert json.loads(with_header(domain_url + "health", "2")[1])["version"] == "1"
        again = local_cloud.teal_ok("preview", "--off", "--json").json()
        assert again["changed"] is False

        local_cloud.teal_ok("preview", "--to", "2")
        switched = local_cloud.teal_ok("switch", "--to", "2", "--json").json()
        assert switched["preview_ended"] is True
        assert version_at(domain_url) == "2"
    assert client.sent > 20 and client.failures == []
    assert client.bodies  # every answer without the header was the live environment's
    status = local_cloud.teal_ok("status", "--json").json()
    assert status["domains"][0]["preview"] is None
    previews = [(h["from"], h["to"]) for h in status["history"] if h["action"] == "preview"]
    assert previews == [
        (None, "blog-dev-2"),
        ("blog-dev-2", None),
        (None, "blog-dev-2"),
        ("blog-dev-2", None),  # ended by the switch
    ]


def test_the_re_point_of_a_replacement_is_watched_and_undone_on_a_breach(
    local_cloud: LocalCloudEnv,
) -> None:
    toml = local_cloud.project / "teal.toml"
    toml.write_text(toml.read_text().replace("[deploy]\n", '[deploy]\nwatch = "20s"\n'))
    domain_url = local_cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    rename_id_to_post_id(local_cloud)  # an update that needs a new API: version 2
    local_cloud.edit_app("return POSTS[post_id]", 'raise RuntimeError("broken")')
    with SteadyClient(domain_url + "health") as health, SteadyClient(domain_url + "posts/1"):
        failed = local_cloud.teal("deploy", "--json")
        assert version_at(domain_url) == "1"
    assert failed.code == 1, failed.err
    assert "the watch of the new API saw error rate" in failed.json()["error"]["what"]
    assert health.failures == []
    entries = history(local_cloud)
    deployed, back = entries[-2:]  # the deploy's entry was written first, when it began
    assert (deployed["action"], deployed["state"]) == ("deploy", "failed")
    assert deployed["watch"]["verdict"] == "switched-back"
    assert (back["action"], back["state"], back["to"]) == ("switched-back", "done", "blog-dev")

    local_cloud.edit_app('raise RuntimeError("broken")', "return POSTS[post_id]")
    toml.write_text(toml.read_text().replace('watch = "20s"', 'watch = "4s"'))  # held: its end
    with SteadyClient(domain_url + "posts/1") as client:
        fixed = local_cloud.teal_ok("deploy", "--json").json()
    assert fixed["watch"]["verdict"] == "held" and fixed["domain"]["live"] == "blog-dev"
    assert version_at(domain_url) == "2" and client.failures == []
    assert get(domain_url + "posts/1")[0] == 200


def test_preview_off_removes_a_preview_rule_a_failed_replacement_left(
    local_cloud: LocalCloudEnv,
) -> None:
    """Replacing a preview deletes the old rule last; if that delete failed, both rules
    stay: --off (what the failure's message advises) ends them all."""
    domain_url = deploy_base_and_extra(local_cloud)
    local_cloud.teal_ok("preview", "--to", "2")
    cloud = LocalCloud(LocalPaths(local_cloud.home))
    [rule] = cloud.list_routing_rules("blog.example.com")
    left = replace(rule, priority=rule.priority + 1, headers=(("teal-preview", "old"),))
    cloud.create_routing_rule("blog.example.com", left)
    assert json.loads(with_header(domain_url + "health", "old")[1])["version"] == "2"

    ended = local_cloud.teal_ok("preview", "--off", "--json").json()
    assert ended["preview"] is None
    assert cloud.list_routing_rules("blog.example.com") == []
    for value in ("2", "old"):
        assert json.loads(with_header(domain_url + "health", value)[1])["version"] == "1"
