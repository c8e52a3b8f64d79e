"""Manual blue-green end to end on the local cloud: extra env, check, switch,
rollback, delete, status — under a steady stream of requests to the domain."""

from __future__ import annotations

import json

from e2e import LocalCloudEnv, SteadyClient, get


def version_at(url: str) -> str:
    status, body = get(url + "health")
    assert status == 200, body
    return str(json.loads(body)["version"])


def history_actions(cloud: LocalCloudEnv) -> list[tuple[str, str, str | None, str | None]]:
    history = cloud.teal_ok("status", "--json").json()["history"]
    return [(h["action"], h["environment"], h["from"], h["to"]) for h in history]


def test_manual_flow_with_zero_failed_requests(local_cloud: LocalCloudEnv) -> None:
    base = local_cloud.teal_ok("deploy", "--json").json()
    domain_url = base["domain"]["url"]
    with SteadyClient(domain_url + "health") as client:
        local_cloud.edit_app('VERSION = "1"', 'VERSION = "2"')
        green = local_cloud.teal_ok("deploy", "--extra", "2", "--json").json()
        assert green["stack"] == "blog-dev-2"
        assert green["domain"]["live"] == "blog-dev"  # an extra never takes the domain
        assert version_at(domain_url) == "1"
        assert version_at(green["endpoint"]) == "2"

        checked = local_cloud.teal_ok("check", "--extra", "2", "--json").json()
        assert checked["ok"] is True and checked["checks"][0]["path"] == "/health"

        deleted = local_cloud.teal("delete", "--extra", "2", "--yes")
        assert deleted.code == 0  # not live: deletable; deploy it again afterwards
        local_cloud.teal_ok("deploy", "--extra", "2")

        switched = local_cloud.teal_ok("switch", "--to", "2", "--json").json()
        assert (switched["from"], switched["to"]) == ("blog-dev", "blog-dev-2")
        assert switched["url"] == domain_url
        assert version_at(domain_url) == "2"
        same = local_cloud.teal_ok("switch", "--to", "blog-dev-2", "--json").json()
        assert (same["changed"], same["checks_skipped"]) == (False, False)

        live_delete = local_cloud.teal("delete", "--extra", "2", "--yes")
        assert live_delete.code == 1 and "blog.example.com" in live_delete.err

        back = local_cloud.teal_ok("rollback", "--json").json()
        assert (back["from"], back["to"]) == ("blog-dev-2", "blog-dev")
        assert version_at(domain_url) == "1"
        twice = local_cloud.teal("rollback", "--json")  # never re-serves what was abandoned
        assert twice.code == 1 and "rolled back already" in twice.json()["error"]["what"]
        assert version_at(domain_url) == "1"

        local_cloud.teal_ok("switch", "--to", "2")
        base_delete = local_cloud.teal("delete", "--yes", "--json")
        assert base_delete.code == 0, base_delete.err
        assert version_at(domain_url) == "2"
    assert client.sent > 20
    assert client.failures == []

    status = local_cloud.teal_ok("status", "--json").json()
    assert [e["name"] for e in status["environments"]] == ["blog-dev-2"]
    assert status["environments"][0]["live"] is True
    (mapping,) = status["domains"][0].pop("mappings")
    assert (mapping["base_path"], mapping["app"], mapping["environment"]) == (
        "/",
        "blog",
        "blog-dev-2",
    )
    assert mapping["api_id"] in status["environments"][0]["endpoint"]
    assert status["domains"] == [
        {
            "name": "blog.example.com",
            "url": domain_url,
            "live": "blog-dev-2",
            "previous": "blog-dev",
            "preview": None,
        }
    ]
    actions = history_actions(local_cloud)
    assert [a[0] for a in actions] == [
        "deploy",
        "deploy",
        "delete",
        "deploy",
        "switch",
        "rollback",
        "switch",
        "delete",
    ]
    assert actions[4][2:] == ("blog-dev", "blog-dev-2")
    assert actions[5][2:] == ("blog-dev-2", "blog-dev")


def test_switch_refused_when_checks_fail_or_target_missing(local_cloud: LocalCloudEnv) -> None:
    domain_url = local_cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    local_cloud.edit_app(
        'return {"status": "ok", "version": VERSION}',
        'return Response({"status": "down"}, status=503)',
    )
    local_cloud.teal_ok("deploy", "--extra", "broken")

    failing = local_cloud.teal("switch", "--to", "broken")
    assert failing.code == 1 and "check(s) failed" in failing.err
    assert version_at(domain_url) == "1"

    missing = local_cloud.teal("switch", "--to", "nope")
    assert missing.code != 0 and "blog-dev-nope does not exist" in missing.err

    no_rollback = local_cloud.teal("rollback")
    assert no_rollback.code == 1 and "no earlier switch" in no_rollback.err

    skipped = local_cloud.teal_ok("switch", "--to", "broken", "--skip-checks", "--json")
    assert skipped.code == 0
    history = local_cloud.teal_ok("status", "--json").json()["history"]
    assert history[-1]["action"] == "switch" and history[-1]["checks_skipped"] is True


def test_check_reports_each_result_and_exits_1_on_failure(local_cloud: LocalCloudEnv) -> None:
    local_cloud.teal_ok("deploy")
    toml = local_cloud.project / "teal.toml"
    toml.write_text(toml.read_text() + '\n[[checks]]\npath = "/posts/999"\nstatus = 200\n')
    result = local_cloud.teal("check", "--json")
    assert result.code == 1
    checks = result.json()["checks"]
    assert [c["ok"] for c in checks] == [True, False]
    assert checks[1]["status"] == 404


def test_delete_needs_yes_without_a_terminal(local_cloud: LocalCloudEnv) -> None:
    local_cloud.teal_ok("deploy", "--extra", "2")
    result = local_cloud.teal("delete", "--extra", "2")
    assert result.code == 2 and "--yes" in result.err
    assert local_cloud.teal_ok("status", "--json").json()["environments"][0]["name"] == "blog-dev-2"


def test_forced_delete_of_the_live_environment_frees_the_domain(
    local_cloud: LocalCloudEnv,
) -> None:
    first = local_cloud.teal_ok("deploy", "--json").json()
    forced = local_cloud.teal_ok("delete", "--yes", "--force", "--json").json()
    assert forced == {"environment": "blog-dev", "deleted": True}
    status = local_cloud.teal_ok("status", "--json").json()
    assert status["environments"] == [] and status["domains"][0]["live"] is None
    again = local_cloud.teal_ok("deploy", "--json").json()
    assert again["domain"] == {
        "name": "blog.example.com",
        "url": first["domain"]["url"],
        "live": "blog-dev",
    }
    assert version_at(first["domain"]["url"]) == "1"
