"""Credentials, region and clients, resolved the way boto3 users expect.

The default credential chain, ``AWS_PROFILE``/``AWS_REGION`` and
``AWS_ENDPOINT_URL`` (read natively by boto3) all apply; ``[aws] profile`` and
``region`` from teal.toml win over the environment, and ``AWS_REGION`` wins
over ``AWS_DEFAULT_REGION`` and the profile's region. Before any work a cheap
``sts get-caller-identity`` proves the credentials, so a missing or expired
login is one clear message (exit 2) and nothing was changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from teal.cloud.base import CloudUnavailable

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_apigatewayv2 import ApiGatewayV2Client
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client

# botocore's own retries for throttling and transient errors; teal's Retrier
# adds a longer budget on top for the polling loops.
# Connections per client: as many as the warm-ups a switch sends one function at once
# (teal.project.config.MAX_WARM); botocore keeps 10, and drops the connections beyond.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=50)

LOGIN_HINT = (
    "configure credentials (aws configure, aws sso login, AWS_PROFILE or "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and a region ([aws] region in teal.toml "
    "or AWS_REGION)"
)


@dataclass(frozen=True)
class AwsClients:
    """The clients teal uses, all from one session, plus who and where they act."""

    account_id: str
    region: str
    endpoint_url: str | None
    cloudformation: CloudFormationClient
    s3: S3Client
    apigateway: APIGatewayClient
    logs: CloudWatchLogsClient
    lambda_: LambdaClient
    cloudwatch: CloudWatchClient
    apigatewayv2: ApiGatewayV2Client  # a custom domain's routing rules live in its API
    profile: str | None = None  # the session's: a client made later (SQS's) uses it too


def open_session(
    region: str | None, profile: str | None, endpoint_url: str | None = None
) -> AwsClients:
    """Resolve credentials and region, prove them with STS, and build the clients."""
    session = _session(region, profile)
    resolved_region = session.region_name
    if not resolved_region:
        raise CloudUnavailable("no AWS region is configured", where="aws", hint=LOGIN_HINT)
    if session.get_credentials() is None:
        raise CloudUnavailable("no AWS credentials were found", where="aws", hint=LOGIN_HINT)
    account_id = _caller_account(session, resolved_region, endpoint_url)

    def client_kwargs() -> dict[str, object]:
        kwargs: dict[str, object] = {"region_name": resolved_region, "config": CLIENT_CONFIG}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        return kwargs

    return AwsClients(
        account_id=account_id,
        region=resolved_region,
        endpoint_url=endpoint_url,
        cloudformation=session.client("cloudformation", **client_kwargs()),  # type: ignore[call-overload]
        s3=session.client("s3", **client_kwargs()),  # type: ignore[call-overload]
        apigateway=session.client("apigateway", **client_kwargs()),  # type: ignore[call-overload]
        logs=session.client("logs", **client_kwargs()),  # type: ignore[call-overload]
        lambda_=session.client("lambda", **client_kwargs()),  # type: ignore[call-overload]
        cloudwatch=session.client("cloudwatch", **client_kwargs()),  # type: ignore[call-overload]
        apigatewayv2=session.client("apigatewayv2", **client_kwargs()),  # type: ignore[call-overload]
        profile=profile,
    )


def _session(region: str | None, profile: str | None) -> boto3.Session:
    # boto3 reads AWS_DEFAULT_REGION and the profile's region but not AWS_REGION,
    # which the other AWS SDKs and Lambda use; honor it too.
    region = region or os.environ.get("AWS_REGION") or None
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as error:
        raise CloudUnavailable(
            f"AWS profile {profile!r} is not configured", where="aws", hint=LOGIN_HINT
        ) from error


def _caller_account(session: boto3.Session, region: str, endpoint_url: str | None) -> str:
    sts = (
        session.client("sts", region_name=region, endpoint_url=endpoint_url)
        if endpoint_url
        else session.client("sts", region_name=region)
    )
    try:
        return sts.get_caller_identity()["Account"]
    except NoCredentialsError as error:
        raise CloudUnavailable(
            "no AWS credentials were found", where="aws", hint=LOGIN_HINT
        ) from error
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        raise CloudUnavailable(
            f"AWS refused the credentials: {message}", where="aws", hint=LOGIN_HINT
        ) from error
    except BotoCoreError as error:
        raise CloudUnavailable(
            f"AWS could not be reached: {error}", where="aws", hint=LOGIN_HINT
        ) from error
