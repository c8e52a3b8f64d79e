"""teal's artifacts bucket: one per account and region, created on first use.

Keys are content-addressed (``code/<sha256>.zip``, ``templates/<sha256>.json``),
so an artifact already there is never uploaded again. The same bucket holds
the locks and the history, so every machine deploying the app shares them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from teal.cloud.aws.retry import Retrier, error_code
from teal.runtime.errors import OperationError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Progress = Callable[[int], None]  # bytes sent since the previous call

# Packages above this size go through the multipart transfer, which reports progress.
MULTIPART_THRESHOLD = 8 * 1024 * 1024


def bucket_name(account_id: str, region: str) -> str:
    return f"teal-artifacts-{account_id}-{region}"


class ArtifactBucket:
    def __init__(
        self, s3: S3Client, name: str, region: str, endpoint_url: str | None, retry: Retrier
    ) -> None:
        self._s3 = s3
        self.name = name
        self._region = region
        self._endpoint_url = endpoint_url
        self._retry = retry
        self._ready = False

    def ensure(self) -> None:
        """Create the bucket (encrypted, versioned, private) unless it exists."""
        if self._ready:
            return
        if not self._exists():
            self._create()
        self._ready = True

    def has(self, key: str) -> bool:
        self.ensure()
        try:
            self._retry(self._s3.head_object, Bucket=self.name, Key=key)
        except ClientError as error:
            if error_code(error) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put(self, key: str, data: bytes, progress: Progress | None = None) -> None:
        self.ensure()
        if progress is None and len(data) < MULTIPART_THRESHOLD:
            self._retry(self._s3.put_object, Bucket=self.name, Key=key, Body=data)
            return
        self._s3.upload_fileobj(
            io.BytesIO(data),
            self.name,
            key,
            Callback=progress,
            Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD),
        )

    def delete(self, key: str) -> None:
        """Delete an artifact (S3 answers success for a missing key too)."""
        self.ensure()
        self._retry(self._s3.delete_object, Bucket=self.name, Key=key)

    def url(self, key: str) -> str:
        """The HTTPS URL CloudFormation reads a template from."""
        if self._endpoint_url:
            return f"{self._endpoint_url.rstrip('/')}/{self.name}/{key}"
        return f"https://{self.name}.s3.{self._region}.amazonaws.com/{key}"

    def _exists(self) -> bool:
        try:
            self._retry(self._s3.head_bucket, Bucket=self.name)
        except ClientError as error:
            code = error_code(error)
            if code in ("404", "NoSuchBucket", "NotFound"):
                return False
            if code in ("403", "AccessDenied", "Forbidden"):
                raise OperationError(
                    f"bucket {self.name} exists but this account cannot use it",
                    where="s3",
                    hint="check the IAM permissions of these credentials for s3:ListBucket",
                ) from error
            raise
        return True

    def _create(self) -> None:
        try:
            if self._region == "us-east-1":
                self._retry(self._s3.create_bucket, Bucket=self.name)
            else:
                self._retry(
                    self._s3.create_bucket,
                    Bucket=self.name,
                    CreateBucketConfiguration={"LocationConstraint": self._region},  # type: ignore[typeddict-item]
                )
        except ClientError as error:
            if error_code(error) != "BucketAlreadyOwnedByYou":
                raise
        self._secure()

    def _secure(self) -> None:
        self._retry(
            self._s3.put_public_access_block,
            Bucket=self.name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        self._retry(
            self._s3.put_bucket_encryption,
            Bucket=self.name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        self._retry(
            self._s3.put_bucket_versioning,
            Bucket=self.name,
            VersioningConfiguration={"Status": "Enabled"},
        )
