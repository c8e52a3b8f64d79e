"""A replacement behind a live domain that stopped between its steps is continued, never
cleaned up first; and no apply deletes an API that a domain still maps."""

from __future__ import annotations

import json

from e2e import LocalCloudEnv, SteadyClient, get, rename_id_to_post_id
from teal.cloud.base import BasePathMapping
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.paths import LocalPaths
from teal.project.config import DomainSpec

HEALTHY = 'return {"status": "ok", "version": VERSION}'
BROKEN = 'return Response({"status": "broken"}, status=500)'


def version_at(url: str) -> str:
    status, body = get(url + "health")
    assert status == 200, body
    return str(json.loads(body)["version"])


def test_a_replacement_stopped_by_its_health_check_is_continued_with_no_gap(
    local_cloud: LocalCloudEnv,
) -> None:
    first = local_cloud.teal_ok("deploy", "--json").json()
    domain_url = first["domain"]["url"]
    rename_id_to_post_id(local_cloud)
    local_cloud.edit_app(HEALTHY, BROKEN)

    stopped = local_cloud.teal("deploy")
    assert stopped.code == 1
    assert "the next deploy continues from here" in stopped.err
    status = local_cloud.teal_ok("status", "--json").json()
    assert status["domains"][0]["live"] == "blog-dev"  # the stack still holds the old API
    assert version_at(domain_url) == "1"
    assert status["history"][-1]["state"] == "failed"

    local_cloud.edit_app(BROKEN, HEALTHY)
    plan = local_cloud.teal_ok("plan", "--json").json()
    assert plan["resume"] is True
    with SteadyClient(domain_url + "health") as client:
        resumed = local_cloud.teal_ok("deploy", "--json").json()
        assert version_at(domain_url) == "2"
    assert client.failures == [], client.failures[:5]
    assert client.sent > 10
    assert (resumed["action"], resumed["api_replaced"]) == ("replace", True)
    assert resumed["previous_endpoint"] == first["endpoint"]
    assert resumed["domain"]["live"] == "blog-dev"
    assert get(first["endpoint"] + "health")[0] != 200  # the old API is gone
    assert version_at(resumed["endpoint"]) == "2"
    history = local_cloud.teal_ok("status", "--json").json()["history"]
    assert [(h["action"], h["state"]) for h in history] == [
        ("deploy", "done"),
        ("deploy", "failed"),
        ("deploy", "done"),
    ]


def test_no_apply_deletes_an_api_that_a_domain_maps(local_cloud: LocalCloudEnv) -> None:
    first = local_cloud.teal_ok("deploy", "--json").json()
    cloud = LocalCloud(LocalPaths(local_cloud.home))
    other = cloud.ensure_domain(DomainSpec("old-clients.example.com"), {"teal:app": "blog"})
    cloud.create_mapping(BasePathMapping("old-clients.example.com", "", first["api_id"], "dev"))
    rename_id_to_post_id(local_cloud)

    refused = local_cloud.teal("deploy")

    assert refused.code == 1
    assert f"it would delete API {first['api_id']}" in refused.err
    assert "old-clients.example.com" in refused.err
    assert version_at(first["domain"]["url"]) == "2"  # step 2 moved the configured domain
    assert version_at(other.url) == "1"  # and the old API still serves the other one

    cloud.delete_mapping("old-clients.example.com", "")
    done = local_cloud.teal_ok("deploy", "--json").json()
    assert done["action"] == "update"  # the side-by-side stack sheds its old API
    assert get(first["endpoint"] + "health")[0] != 200
    cloud.close()


def test_deleting_an_environment_refuses_while_another_domain_maps_it(
    local_cloud: LocalCloudEnv,
) -> None:
    copy = local_cloud.teal_ok("deploy", "--extra", "2", "--json").json()
    cloud = LocalCloud(LocalPaths(local_cloud.home))
    cloud.ensure_domain(DomainSpec("preview.example.com"), {"teal:app": "blog"})
    cloud.create_mapping(BasePathMapping("preview.example.com", "", copy["api_id"], "dev"))

    refused = local_cloud.teal("delete", "--extra", "2", "--yes", "--force")

    assert refused.code == 1 and "preview.example.com" in refused.err
    assert version_at(copy["endpoint"]) == "1"
    cloud.close()
