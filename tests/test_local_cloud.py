"""LocalCloud beyond stacks: domains, base path mappings, locks, history, URLs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ports import free_port
from teal.cloud.base import (
    BasePathMapping,
    HistoryEntry,
    LockHeld,
    LockOwner,
    StackFailed,
)
from teal.cloud.local.cloud import ApiGatewayRefused, LocalCloud
from teal.cloud.local.gateway.serving import StoreServingState
from teal.cloud.local.paths import LocalPaths
from teal.project.config import DomainSpec
from test_local_engine_support import Events, blog_request

SINCE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCloud]:
    monkeypatch.setenv("TEAL_LOCAL_PORT", str(free_port()))
    local = LocalCloud(LocalPaths(tmp_path / "home"))
    yield local
    local.close()


@pytest.fixture
def two_apis(cloud: LocalCloud) -> tuple[str, str]:
    blue = cloud.apply_stack(blog_request(cloud, "blog-dev"), Events())
    green = cloud.apply_stack(blog_request(cloud, "blog-dev-2"), Events())
    return blue.outputs["ApiId"], green.outputs["ApiId"]


def test_endpoint_url_is_the_gateway_path_of_the_stage(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAL_LOCAL_PORT", "4999")
    assert (
        cloud.endpoint_url("abcdefghij", "dev")
        == "http://127.0.0.1:4999/restapis/abcdefghij/dev/_user_request_/"
    )
    assert (cloud.name, cloud.region, cloud.account_id) == ("local", "us-east-1", "000000000000")
    assert cloud.artifact_bucket == "teal-local-artifacts"


def test_a_domain_gets_a_stable_port_of_its_own(cloud: LocalCloud) -> None:
    base = int(__import__("os").environ["TEAL_LOCAL_PORT"])
    first = cloud.ensure_domain(DomainSpec("api.example.com"), {"teal:app": "blog"})
    again = cloud.ensure_domain(DomainSpec("api.example.com", base_path="v1"), {})
    other = cloud.ensure_domain(DomainSpec("other.example.com"), {})

    port = int(first.url.rsplit(":", 1)[1].strip("/"))
    assert port > base
    assert first.url == f"http://127.0.0.1:{port}/"
    assert again.url == f"http://127.0.0.1:{port}/v1/"
    assert first.tags == {"teal:app": "blog"}
    assert other.url != first.url
    assert cloud.get_domain("api.example.com") == first
    assert cloud.get_domain("nowhere.example.com") is None
    reopened = LocalCloud(cloud.paths)
    assert reopened.get_domain("api.example.com") == first
    reopened.close()


def test_a_mapping_is_created_read_and_refused_twice(
    cloud: LocalCloud, two_apis: tuple[str, str]
) -> None:
    blue, _green = two_apis
    cloud.ensure_domain(DomainSpec("api.example.com"), {})
    mapping = BasePathMapping("api.example.com", "", blue, "dev")

    cloud.create_mapping(mapping)

    assert cloud.get_mapping("api.example.com", "") == mapping
    assert cloud.get_mapping("api.example.com", "(none)") == mapping
    assert cloud.get_mapping("api.example.com", "v2") is None
    with pytest.raises(ApiGatewayRefused, match="Base path already exists for this domain name"):
        cloud.create_mapping(mapping)


def test_mapping_errors_name_what_is_missing(cloud: LocalCloud, two_apis: tuple[str, str]) -> None:
    blue, _green = two_apis
    with pytest.raises(ApiGatewayRefused, match="Invalid domain name identifier specified"):
        cloud.create_mapping(BasePathMapping("nowhere.example.com", "", blue, "dev"))
    cloud.ensure_domain(DomainSpec("api.example.com"), {})
    with pytest.raises(ApiGatewayRefused, match="Invalid stage identifier specified"):
        cloud.create_mapping(BasePathMapping("api.example.com", "", blue, "prod"))
    with pytest.raises(ApiGatewayRefused, match="Invalid API identifier specified"):
        cloud.create_mapping(BasePathMapping("api.example.com", "", "zzzzzzzzzz", "dev"))
    with pytest.raises(ApiGatewayRefused, match="Invalid base path mapping identifier"):
        cloud.update_mapping(BasePathMapping("api.example.com", "", blue, "dev"))


def test_update_mapping_re_points_the_domain_in_one_change(
    cloud: LocalCloud, two_apis: tuple[str, str]
) -> None:
    blue, green = two_apis
    serving = StoreServingState(cloud.paths)
    domain = cloud.ensure_domain(DomainSpec("api.example.com"), {})
    cloud.create_mapping(BasePathMapping("api.example.com", "", blue, "dev"))
    generation = serving.generation()

    cloud.update_mapping(BasePathMapping("api.example.com", "", green, "dev"))

    assert serving.generation() == generation + 1
    [route] = serving.domains()
    assert route.name == "api.example.com"
    assert domain.url == f"http://127.0.0.1:{route.port}/"
    assert route.mappings == {"": (green, "dev")}
    cloud.delete_mapping("api.example.com", "")
    assert cloud.get_mapping("api.example.com", "") is None
    assert serving.domains()[0].mappings == {}
    serving.close()


def test_locks_name_their_owner_and_can_be_broken(cloud: LocalCloud) -> None:
    mine = LockOwner("ana", "laptop", 123, "deploy", SINCE)
    theirs = LockOwner("bo", "ci", 456, "switch", SINCE)
    cloud.acquire_lock("blog-dev", mine)

    with pytest.raises(LockHeld, match=r"deploy by ana@laptop \(pid 123\)") as held:
        cloud.acquire_lock("blog-dev", theirs)
    assert held.value.owner == mine

    cloud.release_lock("blog-dev", theirs)  # not theirs to release
    with pytest.raises(LockHeld):
        cloud.acquire_lock("blog-dev", theirs)
    cloud.release_lock("blog-dev", mine)
    cloud.acquire_lock("blog-dev", theirs)
    assert cloud.break_lock("blog-dev") == theirs
    assert cloud.break_lock("blog-dev") is None
    cloud.acquire_lock("blog-dev", mine)


def test_history_is_kept_per_app_oldest_first(cloud: LocalCloud) -> None:
    deploy = HistoryEntry(SINCE, "ana", "deploy", "blog-dev", details={"api_replaced": True})
    switch = HistoryEntry(SINCE, "ana", "switch", "blog-dev", from_="blog-dev", to="blog-dev-2")
    cloud.record_history("blog", deploy)
    cloud.record_history("other", deploy)
    cloud.record_history("blog", switch)

    assert cloud.read_history("blog") == [deploy, switch]
    assert cloud.read_history("blog")[0].to_json()["api_replaced"] is True
    assert cloud.read_history("nothing") == []


def test_list_stacks_filters_by_tags(cloud: LocalCloud, two_apis: tuple[str, str]) -> None:
    names = [s.name for s in cloud.list_stacks({"teal:app": "blog"})]
    assert names == ["blog-dev", "blog-dev-2"]
    assert cloud.list_stacks({"teal:app": "other"}) == []
    deployed = cloud.describe_stack("blog-dev")
    assert deployed is not None
    assert deployed.is_stable
    assert deployed.tags == {"teal:app": "blog", "teal:env": "dev"}
    assert deployed.updated_at is not None


def test_a_mapped_api_and_stage_cannot_be_deleted_as_on_aws(
    cloud: LocalCloud, two_apis: tuple[str, str]
) -> None:
    blue, _green = two_apis
    cloud.ensure_domain(DomainSpec("api.example.com"), {})
    cloud.create_mapping(BasePathMapping("api.example.com", "", blue, "dev"))
    events = Events()
    with pytest.raises(StackFailed) as failed:
        cloud.delete_stack("blog-dev", events)
    reasons = {e.logical_id: e.reason for e in failed.value.failures}
    assert reasons["Stage"] == (
        "Deleting stage dev failed. Please remove all base path mappings related to the "
        "stage in your domains. (Service: ApiGateway, Status Code: 400, "
        "Error Code: BadRequestException)"
    )
    assert cloud.describe_stack("blog-dev").status == "DELETE_FAILED"  # type: ignore[union-attr]
    assert StoreServingState(cloud.paths).stage(blue, "dev") is not None  # still served

    cloud.delete_mapping("api.example.com", "")
    cloud.delete_stack("blog-dev", Events())
    assert cloud.describe_stack("blog-dev") is None
