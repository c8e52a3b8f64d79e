"""`teal deploy` end to end on the local cloud, through the CLI, as a user runs it."""

from __future__ import annotations

import json

from e2e import LocalCloudEnv, SteadyClient, get, rename_id_to_post_id
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.projects import last_plan


def test_deploy_serves_every_route_and_redeploy_is_a_noop(local_cloud: LocalCloudEnv) -> None:
    first = local_cloud.teal_ok("deploy", "--json").json()
    assert first["action"] == "create" and first["status"] == "CREATE_COMPLETE"
    assert first["api_replaced"] is False and first["previous_endpoint"] is None
    endpoint = first["endpoint"]
    assert get(endpoint + "health") == (200, '{"status":"ok","version":"1"}')
    assert get(endpoint)[1] == "The teal blog (version 1)\n"
    status, body = get(endpoint + "posts", "POST", json.dumps({"title": "t"}).encode())
    assert status == 201 and json.loads(body)["title"] == "t"
    assert json.loads(get(endpoint + "posts/2")[1])["title"] == "t"
    assert get(endpoint + "posts/2", "DELETE")[0] == 200
    assert get(endpoint + "posts/2")[0] == 404
    assert json.loads(get(endpoint + "posts/1/comments")[1]) == {"post": "1", "comments": []}
    assert json.loads(get(endpoint + "posts?limit=0")[1]) == {"posts": []}
    assert get(endpoint + "nope")[0] == 403
    assert first["domain"]["live"] == "blog-dev"
    assert get(first["domain"]["url"] + "health")[0] == 200

    again = local_cloud.teal_ok("deploy", "--json").json()
    assert again["action"] == "noop" and again["endpoint"] == endpoint
    assert again["status"] == "CREATE_COMPLETE"


def test_compatible_changes_update_in_place(local_cloud: LocalCloudEnv) -> None:
    endpoint = local_cloud.teal_ok("deploy", "--json").json()["endpoint"]
    local_cloud.edit_app(
        'return {"status": "ok", "version": VERSION}',
        'return {"status": "ok", "version": VERSION, "changed": True}',
    )
    (local_cloud.project / "app.py").write_text(
        (local_cloud.project / "app.py").read_text()
        + '\n\n@app.route("/about")\ndef about(request):\n    return "about"\n'
    )
    toml = local_cloud.project / "teal.toml"
    toml.write_text(toml.read_text().replace("memory = 256", "memory = 512"))
    result = local_cloud.teal_ok("deploy", "--json").json()
    assert result["action"] == "update" and result["api_replaced"] is False
    assert result["endpoint"] == endpoint
    assert json.loads(get(endpoint + "health")[1])["changed"] is True
    assert get(endpoint + "about") == (200, "about")


def test_rename_replaces_the_api_and_the_domain_follows_without_a_gap(
    local_cloud: LocalCloudEnv,
) -> None:
    first = local_cloud.teal_ok("deploy", "--json").json()
    old_endpoint, domain_url = first["endpoint"], first["domain"]["url"]
    rename_id_to_post_id(local_cloud)
    plan = local_cloud.teal_ok("plan", "--json").json()
    assert plan["api"]["replace"] is True
    assert any("{id}" in r["message"] for r in plan["api"]["reasons"])
    said = last_plan(LocalPaths(local_cloud.home), "blog-dev")  # the console shows it
    assert said is not None and (said.by, said.action, said.replace) == (
        "teal plan",
        "replace",
        True,
    )
    assert [r["message"] for r in plan["api"]["reasons"]] == list(said.reasons)
    assert [s["does"] for s in plan["steps"]] == list(said.steps)

    with SteadyClient(domain_url + "health") as client:
        result = local_cloud.teal_ok("deploy", "--json").json()
    assert client.sent > 20
    assert client.failures == []
    assert result["api_replaced"] is True
    assert result["previous_endpoint"] == old_endpoint
    assert result["endpoint"] != old_endpoint
    assert result["domain"]["live"] == "blog-dev"
    assert json.loads(get(result["endpoint"] + "posts/1")[1])["id"] == "1"
    assert get(old_endpoint + "health")[0] != 200  # the old API is gone
    assert json.loads(get(domain_url + "health")[1])["version"] == "2"


def test_rename_refused_or_forced_leaves_the_old_version_serving(
    local_cloud: LocalCloudEnv,
) -> None:
    endpoint = local_cloud.teal_ok("deploy", "--json").json()["endpoint"]
    rename_id_to_post_id(local_cloud)

    refused = local_cloud.teal("deploy", "--no-auto-replace")
    assert refused.code == 1
    assert "nothing was changed" in refused.err and "--extra 2" in refused.err
    assert json.loads(get(endpoint + "health")[1])["version"] == "1"

    still_refused = local_cloud.teal("deploy", "--no-auto-replace", "--yes", "--json")
    assert still_refused.code == 1  # --yes answers "prompt"; it never overrides "never"
    error = still_refused.json()  # with --json a failure is one JSON object too
    assert error["exit_code"] == 1 and error["error"]["kind"] == "failed"
    assert "would fail" in error["error"]["what"]

    forced = local_cloud.teal("deploy", "--force-update")
    assert forced.code == 1
    assert "UPDATE_ROLLBACK_COMPLETE" in forced.err
    assert "A sibling ({id}) of this resource already has a variable path part" in forced.err
    assert json.loads(get(endpoint + "health")[1])["version"] == "1"
    assert json.loads(get(endpoint + "posts/1")[1])["id"] == "1"
    last = local_cloud.teal_ok("status", "--json").json()["history"][-1]
    assert (last["action"], last["status"], last["failed"]) == (
        "deploy",
        "UPDATE_ROLLBACK_COMPLETE",
        True,
    )


def test_a_held_lock_stops_a_second_deploy_naming_the_holder(
    local_cloud: LocalCloudEnv,
) -> None:
    import os
    from datetime import UTC, datetime

    from teal.cloud.base import LockOwner
    from teal.cloud.local.cloud import LocalCloud
    from teal.cloud.local.paths import LocalPaths

    local_cloud.teal_ok("deploy")
    cloud = LocalCloud(LocalPaths(local_cloud.home))
    holder = LockOwner("alice", "laptop", os.getpid(), "deploy", datetime.now(UTC))
    cloud.acquire_lock("blog-dev", holder)
    blocked = local_cloud.teal("deploy")
    assert blocked.code == 1
    assert "alice@laptop" in blocked.err and "teal unlock" in blocked.err
    assert "lease" in blocked.err
    assert local_cloud.teal_ok("unlock", "--json").json()["released"] is True
    local_cloud.teal_ok("deploy")

    import socket

    dead = LockOwner("bob", socket.gethostname(), ended_pid(), "deploy", datetime.now(UTC))
    cloud.acquire_lock("blog-dev", dead)
    stale = local_cloud.teal_ok("deploy")  # a dead holder's lock breaks itself
    assert "released the lock on blog-dev" in stale.err
    assert "no longer runs on this host" in stale.err
    unlocks = [
        h
        for h in local_cloud.teal_ok("status", "--json").json()["history"]
        if h["action"] == "unlock"
    ]
    assert [(h["lock"], h["automatic"]) for h in unlocks] == [
        ("blog-dev", False),
        ("blog-dev", True),
    ]


def test_removed_route_stops_answering_and_the_next_deploy_is_a_noop(
    local_cloud: LocalCloudEnv,
) -> None:
    endpoint = local_cloud.teal_ok("deploy", "--json").json()["endpoint"]
    assert get(endpoint + "posts/1/comments")[0] == 200
    local_cloud.edit_app('@app.route("/posts/{id}/comments")', "# removed route")
    removed = local_cloud.teal_ok("deploy", "--json").json()
    assert removed["action"] == "update" and removed["endpoint"] == endpoint
    assert get(endpoint + "posts/1/comments")[0] == 403
    assert get(endpoint + "posts/1")[0] == 200
    assert local_cloud.teal_ok("deploy", "--json").json()["action"] == "noop"


def test_two_deploys_at_once_one_proceeds_the_other_fails_fast(
    local_cloud: LocalCloudEnv,
) -> None:
    import subprocess
    import sys
    import time

    # The first deploy imports an app that takes seconds to import (inside its lock).
    app = local_cloud.project / "app.py"
    app.write_text(
        "import os, time\ntime.sleep(float(os.environ.get('SLOW_IMPORT', '0')))\n" + app.read_text()
    )
    slow_env = {**local_cloud.env, "SLOW_IMPORT": "4"}
    command = [sys.executable, "-m", "teal", "deploy", "--project", str(local_cloud.project)]
    first = subprocess.Popen(
        command, env=slow_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not _lock_held(local_cloud, "blog-dev") and time.monotonic() < deadline:
            time.sleep(0.02)
        second = local_cloud.teal("deploy")
        assert first.poll() is None, "the first deploy must still be running"
        assert second.code == 1
        assert "blog-dev is locked: deploy by" in second.err
    finally:
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err


def _lock_held(cloud: LocalCloudEnv, key: str) -> bool:
    import sqlite3

    database = cloud.home / "state.db"
    if not database.exists():
        return False
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        try:
            return conn.execute("SELECT 1 FROM locks WHERE key = ?", (key,)).fetchone() is not None
        except sqlite3.OperationalError:  # schema not created yet
            return False


def test_prompt_policy_without_a_terminal_needs_yes(local_cloud: LocalCloudEnv) -> None:
    toml = local_cloud.project / "teal.toml"
    toml.write_text(toml.read_text().replace('auto_replace = "auto"', 'auto_replace = "prompt"'))
    endpoint = local_cloud.teal_ok("deploy", "--json").json()["endpoint"]
    rename_id_to_post_id(local_cloud)
    refused = local_cloud.teal("deploy")
    assert refused.code == 1 and "no terminal to ask (pass --yes)" in refused.err
    assert json.loads(get(endpoint + "health")[1])["version"] == "1"
    replaced = local_cloud.teal_ok("deploy", "--yes", "--json").json()
    assert replaced["api_replaced"] is True


def test_ctrl_c_during_a_deploy_leaves_a_state_the_next_deploy_continues_from(
    local_cloud: LocalCloudEnv,
) -> None:
    import signal
    import subprocess
    import sys
    import time

    endpoint = local_cloud.teal_ok("deploy", "--json").json()["endpoint"]
    app = local_cloud.project / "app.py"
    app.write_text(
        "import os, time\ntime.sleep(float(os.environ.get('SLOW_IMPORT', '0')))\n"
        + app.read_text().replace('VERSION = "1"', 'VERSION = "2"')
    )
    command = [sys.executable, "-m", "teal", "deploy", "--project", str(local_cloud.project)]
    interrupted = subprocess.Popen(
        command,
        env={**local_cloud.env, "SLOW_IMPORT": "5"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not _lock_held(local_cloud, "blog-dev") and time.monotonic() < deadline:
        time.sleep(0.02)
    interrupted.send_signal(signal.SIGINT)
    _, err = interrupted.communicate(timeout=60)
    assert interrupted.returncode != 0, err
    assert not _lock_held(local_cloud, "blog-dev")
    assert json.loads(get(endpoint + "health")[1])["version"] == "1"
    again = local_cloud.teal_ok("deploy", "--json").json()
    assert again["action"] == "update"
    assert json.loads(get(endpoint + "health")[1])["version"] == "2"


def ended_pid() -> int:
    """The pid of a child process that has exited (and been reaped)."""
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
