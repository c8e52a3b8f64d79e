"""The history of deploys, switches, rollbacks and deletes, as objects in the bucket.

One object per entry, ``history/<app>/<time>-<id>.json``: appends never
conflict between machines, S3 lists keys in order, so the time-first key
reads oldest first, and an operation's end rewrites the object of its start.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import TYPE_CHECKING

from teal.cloud.aws.artifacts import ArtifactBucket
from teal.cloud.aws.retry import Retrier
from teal.cloud.base import HistoryEntry

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

HISTORY_PREFIX = "history/"


def entry_key(app: str, entry: HistoryEntry) -> str:
    """Time first, so keys list oldest first; the id last, so a rewrite hits the same key."""
    stamp = entry.time.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{HISTORY_PREFIX}{app}/{stamp}-{entry.id}.json"


class S3History:
    def __init__(self, s3: S3Client, bucket: ArtifactBucket, retry: Retrier) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._retry = retry

    def record(self, app: str, entry: HistoryEntry) -> None:
        self._bucket.ensure()
        self._retry(
            self._s3.put_object,
            Bucket=self._bucket.name,
            Key=entry_key(app, entry),
            Body=json.dumps(entry.to_record()).encode(),
            ContentType="application/json",
        )

    def read(self, app: str) -> list[HistoryEntry]:
        self._bucket.ensure()
        keys = self._keys(app)
        entries = [self._entry(key) for key in keys]
        return sorted(entries, key=lambda e: e.time)

    def _keys(self, app: str) -> list[str]:
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket.name, Prefix=f"{HISTORY_PREFIX}{app}/"):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def _entry(self, key: str) -> HistoryEntry:
        response = self._retry(self._s3.get_object, Bucket=self._bucket.name, Key=key)
        return HistoryEntry.from_record(json.loads(response["Body"].read()))
