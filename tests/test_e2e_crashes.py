"""kill -9 at every step of deploy, switch, rollback and delete, through the CLI.

A test-only hook (``TEAL_CRASH_AT=<point>``, see ``teal.ops.crashpoints``) makes
the command die by SIGKILL at a named step. After each crash: the next
ordinary command proceeds without ``teal unlock``, the domain answered every
request of a steady client across the crash and the resume, the history knows
the crashed operation, and ``teal status`` tells the truth.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from e2e import LocalCloudEnv, Run, SteadyClient, get, rename_id_to_post_id

KILLED = -signal.SIGKILL


def crash(cloud: LocalCloudEnv, point: str, *args: str) -> Run:
    result = cloud.teal(*args, env={"TEAL_CRASH_AT": point})
    assert result.code == KILLED, f"teal {' '.join(args)} was not killed at {point}: {result}"
    return result


def status(cloud: LocalCloudEnv) -> dict[str, Any]:
    payload: dict[str, Any] = cloud.teal_ok("status", "--json").json()
    return payload


def version_at(url: str) -> str:
    code, body = get(url + "health")
    assert code == 200, body
    return str(json.loads(body)["version"])


def states(cloud: LocalCloudEnv) -> list[tuple[str, str]]:
    return [(h["action"], h["state"]) for h in status(cloud)["history"]]


def test_first_deploy_killed_before_it_touches_anything(local_cloud: LocalCloudEnv) -> None:
    crash(local_cloud, "deploy:locked", "deploy")
    assert status(local_cloud)["locks"][0]["stale"] is not None
    again = local_cloud.teal_ok("deploy", "--json")
    assert "released the lock on blog-dev" in again.err
    assert version_at(again.json()["domain"]["url"]) == "1"
    assert states(local_cloud) == [("unlock", "done"), ("deploy", "done")]
    assert status(local_cloud)["locks"] == []


def test_first_deploy_killed_holding_the_domain_lock(local_cloud: LocalCloudEnv) -> None:
    crash(local_cloud, "deploy:domain-locked", "deploy")
    seen = status(local_cloud)
    assert seen["environments"][0]["status"] == "CREATE_COMPLETE"
    assert seen["domains"][0]["live"] is None
    assert [h["state"] for h in seen["history"]] == ["interrupted"]
    assert {lock["lock"] for lock in seen["locks"]} == {"blog-dev", "domain:blog.example.com"}

    again = local_cloud.teal_ok("deploy", "--json").json()
    assert again["domain"]["live"] == "blog-dev"
    assert version_at(again["domain"]["url"]) == "1"
    assert states(local_cloud) == [
        ("deploy", "interrupted"),
        ("unlock", "done"),  # the environment's lock, as the deploy starts
        ("deploy", "done"),
        ("unlock", "done"),  # the domain's, when it maps the domain
    ]


def test_update_killed_after_the_apply(local_cloud: LocalCloudEnv) -> None:
    domain_url = local_cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    local_cloud.edit_app('VERSION = "1"', 'VERSION = "2"')
    with SteadyClient(domain_url + "health") as client:
        crash(local_cloud, "deploy:applied", "deploy")
        assert version_at(domain_url) == "2"
        again = local_cloud.teal_ok("deploy", "--json").json()
    assert client.failures == []
    assert again["action"] == "noop"
    assert states(local_cloud)[-3:] == [
        ("deploy", "interrupted"),
        ("unlock", "done"),
        ("deploy", "done"),
    ]


@pytest.mark.parametrize("point", ["deploy:side-by-side", "deploy:repointed"])
def test_replacement_behind_the_domain_killed_between_its_steps(
    local_cloud: LocalCloudEnv, point: str
) -> None:
    first = local_cloud.teal_ok("deploy", "--json").json()
    domain_url = first["domain"]["url"]
    rename_id_to_post_id(local_cloud)
    with SteadyClient(domain_url + "health") as client:
        crash(local_cloud, point, "deploy")
        assert version_at(domain_url) == ("1" if point == "deploy:side-by-side" else "2")
        assert status(local_cloud)["domains"][0]["live"] == "blog-dev"
        again = local_cloud.teal_ok("deploy", "--json").json()
        assert version_at(domain_url) == "2"
    assert client.failures == [], client.failures[:5]
    assert client.sent > 10
    assert again["domain"]["live"] == "blog-dev"
    assert get(first["endpoint"] + "health")[0] != 200  # the old API is gone at last
    seen = status(local_cloud)
    assert [h["state"] for h in seen["history"] if h["action"] == "deploy"] == [
        "done",
        "interrupted",
        "done",
    ]
    assert seen["locks"] == []


@pytest.mark.parametrize("point", ["switch:recorded", "switch:pointed"])
def test_switch_killed_then_rollback_knows_where_to_go(
    local_cloud: LocalCloudEnv, point: str
) -> None:
    domain_url = local_cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    local_cloud.edit_app('VERSION = "1"', 'VERSION = "2"')
    local_cloud.teal_ok("deploy", "--extra", "2")
    with SteadyClient(domain_url + "health") as client:
        crash(local_cloud, point, "switch", "--to", "2")
        expected = "2" if point == "switch:pointed" else "1"
        assert version_at(domain_url) == expected
        seen = status(local_cloud)
        assert seen["domains"][0]["live"] == f"blog-dev{'-2' if expected == '2' else ''}"
        assert seen["history"][-1]["action"] == "switch"
        assert seen["history"][-1]["state"] == "interrupted"

        back = local_cloud.teal_ok("rollback", "--json").json()
        assert back["to"] == "blog-dev"
        assert version_at(domain_url) == "1"
        local_cloud.teal_ok("switch", "--to", "2")
        assert version_at(domain_url) == "2"
    assert client.failures == []
    assert [a for a, s in states(local_cloud) if s == "interrupted"] == ["switch"]


def test_rollback_killed_after_it_moved_the_domain(local_cloud: LocalCloudEnv) -> None:
    domain_url = local_cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    local_cloud.edit_app('VERSION = "1"', 'VERSION = "2"')
    local_cloud.teal_ok("deploy", "--extra", "2")
    local_cloud.teal_ok("switch", "--to", "2")
    with SteadyClient(domain_url + "health") as client:
        crash(local_cloud, "switch:pointed", "rollback")
        assert version_at(domain_url) == "1"
        assert status(local_cloud)["domains"][0]["live"] == "blog-dev"
        forward = local_cloud.teal_ok("switch", "--to", "2", "--json").json()
        assert (forward["from"], forward["to"]) == ("blog-dev", "blog-dev-2")
    assert client.failures == []
    assert ("rollback", "interrupted") in states(local_cloud)


def test_delete_killed_after_the_stack_went(local_cloud: LocalCloudEnv) -> None:
    domain_url = local_cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    local_cloud.teal_ok("deploy", "--extra", "2")
    with SteadyClient(domain_url + "health") as client:
        crash(local_cloud, "delete:deleted", "delete", "--extra", "2", "--yes")
        seen = status(local_cloud)
        assert [e["name"] for e in seen["environments"]] == ["blog-dev"]
        assert seen["history"][-1]["state"] == "interrupted"
        again = local_cloud.teal_ok("deploy", "--extra", "2", "--json")
        assert "released the lock on blog-dev-2" in again.err
    assert client.failures == []


def test_forced_delete_killed_after_it_freed_the_domain(local_cloud: LocalCloudEnv) -> None:
    local_cloud.teal_ok("deploy")
    crash(local_cloud, "delete:unmapped", "delete", "--force", "--yes")
    seen = status(local_cloud)
    assert seen["domains"][0]["live"] is None
    assert {lock["lock"] for lock in seen["locks"]} == {"blog-dev", "domain:blog.example.com"}
    local_cloud.teal_ok("delete", "--yes")  # not live any more: no --force needed
    redeployed = local_cloud.teal_ok("deploy", "--json").json()
    assert redeployed["domain"]["live"] == "blog-dev"
    assert version_at(redeployed["domain"]["url"]) == "1"
    assert [a for a, s in states(local_cloud) if s == "interrupted"] == ["delete"]
