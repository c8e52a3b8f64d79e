"""Artifacts bucket, lock and history on S3, through a moto server on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aws_fakes import aws_env, moto, moto_clients, moto_cloud, moto_endpoint  # noqa: F401
from teal.cloud.aws import AwsCloud
from teal.cloud.base import HistoryEntry, LockHeld, LockOwner
from teal.runtime.errors import OperationError

SINCE = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def owner(user: str = "ana", operation: str = "deploy") -> LockOwner:
    return LockOwner(user=user, host="laptop", pid=42, operation=operation, since=SINCE)


def test_bucket_is_created_on_first_use_private_encrypted_versioned(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    s3 = moto_cloud.clients.s3
    assert not moto_cloud.has_artifact("code/abc.zip")
    bucket = moto_cloud.artifact_bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())


def test_artifacts_are_put_once_and_found_by_key(moto_cloud: AwsCloud) -> None:  # noqa: F811
    moto_cloud.put_artifact("code/abc.zip", b"zip bytes")
    assert moto_cloud.has_artifact("code/abc.zip")
    assert not moto_cloud.has_artifact("code/other.zip")
    body = moto_cloud.clients.s3.get_object(Bucket=moto_cloud.artifact_bucket, Key="code/abc.zip")
    assert body["Body"].read() == b"zip bytes"


def test_upload_reports_progress(moto_cloud: AwsCloud) -> None:  # noqa: F811
    sent: list[int] = []
    data = b"x" * 300_000
    moto_cloud.put_artifact("code/big.zip", data, progress=sent.append)
    assert sum(sent) == len(data)
    assert moto_cloud.has_artifact("code/big.zip")


def test_bucket_in_another_region_uses_a_location_constraint(moto: str) -> None:  # noqa: F811
    cloud = AwsCloud.from_settings("eu-west-1", None, moto)
    cloud.put_artifact("templates/t.json", b"{}")
    location = cloud.clients.s3.get_bucket_location(Bucket=cloud.artifact_bucket)
    assert location["LocationConstraint"] == "eu-west-1"


def test_artifact_url_points_into_the_bucket(moto_cloud: AwsCloud) -> None:  # noqa: F811
    assert moto_cloud.artifact_url("templates/a.json").endswith(
        f"/{moto_cloud.artifact_bucket}/templates/a.json"
    )


def test_lock_is_exclusive_and_names_its_holder(moto_cloud: AwsCloud) -> None:  # noqa: F811
    moto_cloud.acquire_lock("blog-dev", owner("ana"))
    with pytest.raises(LockHeld) as caught:
        moto_cloud.acquire_lock("blog-dev", owner("ben"))
    assert isinstance(caught.value, OperationError)
    assert caught.value.owner.same_holder(owner("ana"))
    assert "deploy by ana@laptop (pid 42)" in caught.value.what
    # Another environment's lock is independent.
    moto_cloud.acquire_lock("blog-prod", owner("ben"))


def test_release_frees_the_lock_for_the_next_holder(moto_cloud: AwsCloud) -> None:  # noqa: F811
    moto_cloud.acquire_lock("blog-dev", owner("ana"))
    moto_cloud.release_lock("blog-dev", owner("ana"))
    moto_cloud.acquire_lock("blog-dev", owner("ben"))
    with pytest.raises(LockHeld):
        moto_cloud.acquire_lock("blog-dev", owner("ana"))


def test_release_by_a_former_holder_leaves_the_new_lock(moto_cloud: AwsCloud) -> None:  # noqa: F811
    moto_cloud.acquire_lock("blog-dev", owner("ana"))
    broken = moto_cloud.break_lock("blog-dev")
    assert broken is not None and broken.same_holder(owner("ana"))
    moto_cloud.acquire_lock("blog-dev", owner("ben"))
    moto_cloud.release_lock("blog-dev", owner("ana"))
    with pytest.raises(LockHeld) as caught:
        moto_cloud.acquire_lock("blog-dev", owner("cy"))
    assert caught.value.owner.user == "ben"


def test_break_lock_without_a_lock_returns_none(moto_cloud: AwsCloud) -> None:  # noqa: F811
    assert moto_cloud.break_lock("blog-dev") is None


def test_history_reads_back_in_order_per_app(moto_cloud: AwsCloud) -> None:  # noqa: F811
    entries = [
        HistoryEntry(
            SINCE + timedelta(minutes=2),
            "ana",
            "switch",
            "blog-prod-2",
            "blog-prod",
            "blog-prod-2",
            {"domain": "api.example.com"},
        ),
        HistoryEntry(SINCE, "ana", "deploy", "blog-prod", details={"api_replaced": False}),
        HistoryEntry(
            SINCE + timedelta(minutes=3), "ben", "rollback", "blog-prod", "blog-prod-2", "blog-prod"
        ),
    ]
    for entry in entries:
        moto_cloud.record_history("blog", entry)
    moto_cloud.record_history("blog-x", HistoryEntry(SINCE, "cy", "delete", "blog-x-dev"))

    history = moto_cloud.read_history("blog")
    assert [e.action for e in history] == ["deploy", "switch", "rollback"]
    assert history[1] == entries[0]
    assert history[0].details == {"api_replaced": False}
    assert moto_cloud.read_history("nothing") == []
