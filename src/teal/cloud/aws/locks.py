"""Locks as leases in the artifact bucket, with S3's conditional writes.

``put_object(IfNoneMatch="*")`` succeeds for exactly one writer when several
machines race for the same key; the others get 412 and read who holds it.
The body is the :class:`LockOwner` record, so a refusal names the holder.

A lease is renewed by rewriting the object with ``IfMatch`` on the ETag the
holder last saw, so a renewal never revives a lock that was broken and taken
by someone else. How long ago a lock was renewed is measured on S3's clock
(the object's ``LastModified`` against the response's ``Date``), so machines
with skewed clocks agree on when a lease has expired. Both count whole seconds:
a lease is minutes long (see ``DEFAULT_LEASE_S``), never near a second.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from teal.cloud.aws.artifacts import ArtifactBucket
from teal.cloud.aws.retry import Retrier, error_code
from teal.cloud.base import HeldLock, LockHeld, LockOwner

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOCK_PREFIX = "locks/"
# 412: someone else's write won; 409: a concurrent conditional write is in flight.
_TAKEN = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
_GONE = frozenset({"NoSuchKey", "404"})


class S3Locks:
    def __init__(self, s3: S3Client, bucket: ArtifactBucket, retry: Retrier) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._retry = retry

    def acquire(self, key: str, owner: LockOwner) -> None:
        self._bucket.ensure()
        try:
            self._put(key, owner, IfNoneMatch="*")
        except ClientError as error:
            if error_code(error) not in _TAKEN:
                raise
            holder = self._read(key)
            # The holder released it between our write and our read: try once more.
            if holder is None:
                return self.acquire(key, owner)
            raise LockHeld(key, holder[0]) from error
        return None

    def renew(self, key: str, owner: LockOwner) -> bool:
        held = self._read(key)
        if held is None or not held[0].same_holder(owner):
            return False
        try:
            self._put(key, owner.renewed_at(datetime.now(UTC)), IfMatch=held[1])
        except ClientError as error:
            if error_code(error) in _TAKEN or error_code(error) in _GONE:
                return False
            raise
        return True

    def release(self, key: str, owner: LockOwner) -> None:
        """Delete the lock if ``owner`` still holds it (it may have been broken and retaken)."""
        self.break_(key, owner)

    def break_(self, key: str, holder: LockOwner | None = None) -> LockOwner | None:
        held = self._read(key)
        if held is None or (holder is not None and not held[0].same_holder(holder)):
            return None
        self._delete(key, etag=held[1])
        return held[0]

    def list(self) -> list[HeldLock]:
        self._bucket.ensure()
        found: list[HeldLock] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket.name, Prefix=LOCK_PREFIX):
            for item in page.get("Contents", []):
                key = item["Key"].removeprefix(LOCK_PREFIX).removesuffix(".json")
                held = self._read(key)
                if held is not None:
                    found.append(HeldLock(key, held[0]))
        return found

    def _put(self, key: str, owner: LockOwner, **condition: str) -> None:
        self._retry(
            self._s3.put_object,
            Bucket=self._bucket.name,
            Key=_object_key(key),
            Body=json.dumps(owner.to_record()).encode(),
            ContentType="application/json",
            **condition,  # type: ignore[arg-type]
        )

    def _read(self, key: str) -> tuple[LockOwner, str] | None:
        self._bucket.ensure()
        try:
            response = self._retry(
                self._s3.get_object, Bucket=self._bucket.name, Key=_object_key(key)
            )
        except ClientError as error:
            if error_code(error) in _GONE:
                return None
            raise
        owner = LockOwner.from_record(json.loads(response["Body"].read()))
        return _renewed_on_s3_clock(owner, response), response["ETag"]

    def _delete(self, key: str, etag: str) -> None:
        try:
            # IfMatch: never delete a lock that someone re-took after we read it.
            self._retry(
                self._s3.delete_object,
                Bucket=self._bucket.name,
                Key=_object_key(key),
                IfMatch=etag,
            )
        except ClientError as error:
            if error_code(error) not in _TAKEN and error_code(error) not in _GONE:
                raise


def _renewed_on_s3_clock(owner: LockOwner, response: Any) -> LockOwner:
    """The owner with ``renewed`` moved to this machine's clock, aged as S3 measures it."""
    modified = response.get("LastModified")
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if not isinstance(modified, datetime) or not date:
        return owner
    age = parsedate_to_datetime(date) - modified
    return owner.renewed_at(datetime.now(UTC) - max(age, timedelta(0)))


def _object_key(key: str) -> str:
    return f"{LOCK_PREFIX}{key}.json"
