"""One operation at a time per environment, with an S3 conditional write.

``put_object(IfNoneMatch="*")`` succeeds for exactly one writer when several
machines race for the same key; the others get 412 and read who holds it.
The body is the :class:`LockOwner` as JSON, so a refusal names the holder.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from teal.cloud.aws.artifacts import ArtifactBucket
from teal.cloud.aws.retry import Retrier, error_code
from teal.cloud.base import LockHeld, LockOwner

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOCK_PREFIX = "locks/"
# 412: someone else's write won; 409: a concurrent conditional write is in flight.
_TAKEN = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


def owner_to_json(owner: LockOwner) -> dict[str, Any]:
    return {
        "user": owner.user,
        "host": owner.host,
        "pid": owner.pid,
        "operation": owner.operation,
        "since": owner.since.isoformat(),
    }


def owner_from_json(data: dict[str, Any]) -> LockOwner:
    return LockOwner(
        user=str(data["user"]),
        host=str(data["host"]),
        pid=int(data["pid"]),
        operation=str(data["operation"]),
        since=datetime.fromisoformat(str(data["since"])),
    )


class S3Locks:
    def __init__(self, s3: S3Client, bucket: ArtifactBucket, retry: Retrier) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._retry = retry

    def acquire(self, key: str, owner: LockOwner) -> None:
        self._bucket.ensure()
        body = json.dumps(owner_to_json(owner)).encode()
        try:
            self._retry(
                self._s3.put_object,
                Bucket=self._bucket.name,
                Key=_object_key(key),
                Body=body,
                IfNoneMatch="*",
                ContentType="application/json",
            )
        except ClientError as error:
            if error_code(error) not in _TAKEN:
                raise
            holder = self._read(key)
            # The holder released it between our write and our read: try once more.
            if holder is None:
                return self.acquire(key, owner)
            raise LockHeld(key, holder[0]) from error
        return None

    def release(self, key: str, owner: LockOwner) -> None:
        """Delete the lock if ``owner`` still holds it (it may have been broken and retaken)."""
        held = self._read(key)
        if held is None or held[0] != owner:
            return
        self._delete(key, etag=held[1])

    def break_(self, key: str) -> LockOwner | None:
        held = self._read(key)
        if held is None:
            return None
        self._delete(key, etag=None)
        return held[0]

    def _read(self, key: str) -> tuple[LockOwner, str] | None:
        self._bucket.ensure()
        try:
            response = self._retry(
                self._s3.get_object, Bucket=self._bucket.name, Key=_object_key(key)
            )
        except ClientError as error:
            if error_code(error) in ("NoSuchKey", "404"):
                return None
            raise
        owner = owner_from_json(json.loads(response["Body"].read()))
        return owner, response["ETag"]

    def _delete(self, key: str, etag: str | None) -> None:
        if etag is None:
            self._retry(self._s3.delete_object, Bucket=self._bucket.name, Key=_object_key(key))
            return
        try:
            # IfMatch: never delete a lock that someone re-took after we read it.
            self._retry(
                self._s3.delete_object,
                Bucket=self._bucket.name,
                Key=_object_key(key),
                IfMatch=etag,
            )
        except ClientError as error:
            if error_code(error) not in _TAKEN and error_code(error) != "NoSuchKey":
                raise


def _object_key(key: str) -> str:
    return f"{LOCK_PREFIX}{key}.json"
