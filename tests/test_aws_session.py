"""Credentials and region: one clear CloudUnavailable (exit 2) before any work."""

from __future__ import annotations

import pytest

from aws_fakes import ACCOUNT, REGION, aws_env, moto, moto_endpoint  # noqa: F401
from teal.cloud.aws import AwsCloud
from teal.cloud.base import CloudUnavailable
from teal.runtime.errors import UserError


def test_from_settings_proves_credentials_and_reads_the_account(moto: str) -> None:  # noqa: F811
    cloud = AwsCloud.from_settings(REGION, None, moto)
    assert cloud.account_id == ACCOUNT
    assert cloud.region == REGION
    assert cloud.artifact_bucket == f"teal-artifacts-{ACCOUNT}-{REGION}"


def test_region_and_endpoint_come_from_the_environment(
    moto: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    cloud = AwsCloud.from_settings(None, None)
    assert cloud.region == "eu-west-1"
    assert cloud.endpoint_url("abc123", "live") == (
        "https://abc123.execute-api.eu-west-1.amazonaws.com/live/"
    )


def test_missing_region_is_a_user_error(aws_env: None) -> None:  # noqa: F811
    with pytest.raises(CloudUnavailable, match="no AWS region") as caught:
        AwsCloud.from_settings(None, None, "http://127.0.0.1:9")
    assert isinstance(caught.value, UserError)
    assert caught.value.hint and "AWS_REGION" in caught.value.hint


def test_missing_credentials_is_a_user_error(
    aws_env: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CloudUnavailable, match="no AWS credentials"):
        AwsCloud.from_settings(REGION, None, "http://127.0.0.1:9")


def test_unknown_profile_is_a_user_error(aws_env: None) -> None:  # noqa: F811
    with pytest.raises(CloudUnavailable, match="profile 'work' is not configured"):
        AwsCloud.from_settings(REGION, "work", "http://127.0.0.1:9")


def test_profile_from_the_config_file(
    moto: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
) -> None:
    import os
    from pathlib import Path

    config = Path(os.environ["AWS_CONFIG_FILE"])
    config.write_text(
        "[profile work]\nregion = eu-central-1\n"
        "aws_access_key_id = work\naws_secret_access_key = work\n"
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    cloud = AwsCloud.from_settings(None, "work", moto)
    assert cloud.region == "eu-central-1"
