"""kill -9 at every step of deploy, switch, rollback and delete, through the CLI.

A test-only hook (``TEAL_CRASH_AT=<point>``, see ``teal.ops.crashpoints``) makes
the command die by SIGKILL at a named step. After each crash: the next
ordinary command proceeds without ``teal unlock``, the domain answered every
request of a steady client across the crash and the resume, the history knows
the crashed operation, and ``teal status`` tells the truth.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest

import teal
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


def settled(cloud: LocalCloudEnv, action: str) -> list[tuple[str, str]]:
    """The end state and the settling sentence of each interrupted ``action`` entry."""
    return [
        (h["state"], h["settled"])
        for h in status(cloud)["history"]
        if h["action"] == action and h.get("interrupted")
    ]


def deployed_twice(cloud: LocalCloudEnv) -> str:
    """blog-dev serving version 1 on the domain, blog-dev-2 version 2 beside it."""
    domain_url = str(cloud.teal_ok("deploy", "--json").json()["domain"]["url"])
    cloud.edit_app('VERSION = "1"', 'VERSION = "2"')
    cloud.teal_ok("deploy", "--extra", "2")
    return domain_url


def test_switch_killed_before_the_domain_moved_is_no_switch(local_cloud: LocalCloudEnv) -> None:
    domain_url = deployed_twice(local_cloud)
    with SteadyClient(domain_url + "health") as client:
        crash(local_cloud, "switch:recorded", "switch", "--to", "2")
        assert version_at(domain_url) == "1"
        assert status(local_cloud)["history"][-1]["state"] == "interrupted"

        nothing = local_cloud.teal("rollback", "--json")
        assert nothing.code == 1 and "no earlier switch" in nothing.json()["error"]["what"]
        assert "released the lock on domain:blog.example.com" in nothing.err
        assert settled(local_cloud, "switch") == [
            ("failed", "blog.example.com serves blog-dev now: it was interrupted before it "
             "took effect")
        ]  # fmt: skip
        local_cloud.teal_ok("switch", "--to", "2")
        assert version_at(domain_url) == "2"
    assert client.failures == []


def test_switch_killed_after_the_domain_moved_counts_as_done(local_cloud: LocalCloudEnv) -> None:
    domain_url = deployed_twice(local_cloud)
    with SteadyClient(domain_url + "health") as client:
        crash(local_cloud, "switch:pointed", "switch", "--to", "2")
        assert version_at(domain_url) == "2"
        assert status(local_cloud)["domains"][0]["live"] == "blog-dev-2"

        back = local_cloud.teal_ok("rollback", "--json").json()
        assert (back["from"], back["to"]) == ("blog-dev-2", "blog-dev")
        assert version_at(domain_url) == "1"
    assert client.failures == []
    assert settled(local_cloud, "switch") == [
        ("done", "blog.example.com serves blog-dev-2 now: it took effect")
    ]


def test_rollback_killed_before_the_domain_moved_rolls_back_when_run_again(
    local_cloud: LocalCloudEnv,
) -> None:
    """The killed rollback did nothing: run again, it goes back where the switch came from
    (it used to read its own entry as the last move and answer "already serves")."""
    domain_url = deployed_twice(local_cloud)
    local_cloud.teal_ok("switch", "--to", "2")
    with SteadyClient(domain_url + "health") as client:
        crash(local_cloud, "switch:recorded", "rollback")
        assert version_at(domain_url) == "2"
        back = local_cloud.teal_ok("rollback", "--json").json()
        assert (back["from"], back["to"], back["changed"]) == ("blog-dev-2", "blog-dev", True)
        assert version_at(domain_url) == "1"
    assert client.failures == []
    assert [s for s, _ in settled(local_cloud, "rollback")] == ["failed"]
    assert status(local_cloud)["domains"][0]["previous"] is None


def test_rollback_killed_after_the_domain_moved_is_not_undone_by_running_it_again(
    local_cloud: LocalCloudEnv,
) -> None:
    """The killed rollback took effect: run again, it must not serve the abandoned version
    (it used to go "back" to blog-dev-2)."""
    domain_url = deployed_twice(local_cloud)
    local_cloud.teal_ok("switch", "--to", "2")
    with SteadyClient(domain_url + "health") as client:
        crash(local_cloud, "switch:pointed", "rollback")
        assert version_at(domain_url) == "1"
        again = local_cloud.teal("rollback", "--json")
        assert again.code == 1, again
        assert "rolled back already" in again.json()["error"]["what"]
        assert "teal switch --to blog-dev-2" in again.json()["error"]["hint"]
        assert version_at(domain_url) == "1"
        forward = local_cloud.teal_ok("switch", "--to", "2", "--json").json()
        assert (forward["from"], forward["to"]) == ("blog-dev", "blog-dev-2")
    assert client.failures == []
    assert [s for s, _ in settled(local_cloud, "rollback")] == ["done"]


@pytest.mark.parametrize(
    ("point", "previewed", "effect"),
    [("preview:ruled", "blog-dev-2", "done"), ("preview:ended", None, "done")],
)
def test_preview_killed_after_it_took_effect_is_settled_as_done(
    local_cloud: LocalCloudEnv, point: str, previewed: str | None, effect: str
) -> None:
    deployed_twice(local_cloud)
    if point == "preview:ended":
        local_cloud.teal_ok("preview", "--to", "2")
        crash(local_cloud, point, "preview", "--off")
    else:
        crash(local_cloud, point, "preview", "--to", "2")
    assert (status(local_cloud)["domains"][0]["preview"] or {}).get("environment") == previewed
    local_cloud.teal_ok("preview", "--to", "2")  # the next command on the domain settles it
    assert [s for s, _ in settled(local_cloud, "preview")] == [effect]


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
    assert settled(local_cloud, "delete") == [
        ("failed", "blog-dev is CREATE_COMPLETE: it was not deleted")
    ]


def test_delete_killed_after_the_stack_went_is_settled_as_done(
    local_cloud: LocalCloudEnv,
) -> None:
    local_cloud.teal_ok("deploy")
    local_cloud.teal_ok("deploy", "--extra", "2")
    crash(local_cloud, "delete:deleted", "delete", "--extra", "2", "--yes")
    local_cloud.teal_ok("deploy", "--extra", "2")
    assert settled(local_cloud, "delete") == [
        ("done", "blog-dev-2 no longer exists: it was deleted")
    ]


def test_every_named_crash_point_is_crashed_at_by_a_test() -> None:
    """A crash point no test kills teal at proves nothing: each is used here or in the
    guarded switches' tests."""
    source = Path(teal.__file__).parent
    named = {
        match
        for path in source.rglob("*.py")
        for match in re.findall(r'crash_point\("([^"]+)"\)', path.read_text())
    }
    here = Path(__file__).parent
    tests = (here / "test_e2e_crashes.py").read_text() + (here / "test_e2e_guarded.py").read_text()
    assert len(named) >= 12
    assert sorted(p for p in named if f'"{p}"' not in tests) == []
