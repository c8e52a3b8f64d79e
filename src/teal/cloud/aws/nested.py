"""All nested templates of a stack in one object, so reading a stack costs fixed calls.

An app with many routes is split into nested "page" stacks. Asking
CloudFormation for each page's template costs two calls per page
(describe_stack_resource, get_template), so reading a large app would cost
more than a small one. Instead, whenever teal applies a template with nested
stacks, it also writes one *bundle* object holding every page's template by
its logical id. The bundle's key is the hash of the page keys the main
template points at (``templates/<sha256>.json`` are content-addressed), so
the main template alone names its bundle and the bundle can never be stale:

    describe_stacks + get_template + get_object(bundle)

whatever the number of routes. Stacks deployed before bundles existed have
none; reading them falls back to CloudFormation, one page at a time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from teal.cloud.aws.artifacts import ArtifactBucket
from teal.cloud.aws.retry import Retrier, error_code
from teal.cloud.aws.stack_events import STACK_TYPE
from teal.template import nested_keys
from teal.template.types import Template

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUNDLE_PREFIX = "templates/nested-"
BUNDLE_VERSION = 1
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def bundle_key(template: Template) -> str | None:
    """The key of the bundle of ``template``'s nested templates; None if it has none.

    None as well when a nested stack does not point at a teal artifact key:
    such a template's pages cannot be named from the main template alone.
    """
    keys = nested_keys(template)
    if not keys or len(keys) != _stack_count(template):
        return None
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()
    return f"{BUNDLE_PREFIX}{digest}.json"


def bundle_bytes(templates: Mapping[str, Template]) -> bytes:
    """The bundle's body: every nested template by the logical id of its stack resource."""
    return json.dumps(
        {"version": BUNDLE_VERSION, "templates": dict(templates)},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def _stack_count(template: Template) -> int:
    resources = template.get("Resources", {})
    return sum(1 for body in resources.values() if body.get("Type") == STACK_TYPE)


class NestedBundles:
    """Reads and writes bundles in the artifacts bucket."""

    def __init__(self, s3: S3Client, bucket: ArtifactBucket, retry: Retrier) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._retry = retry
        # Nested templates put during this run, so writing a bundle need not read them back.
        self._known: dict[str, bytes] = {}

    def remember(self, key: str, data: bytes) -> None:
        """Note an artifact just uploaded; nested templates are kept for the bundle."""
        if key.startswith("templates/") and not key.startswith(BUNDLE_PREFIX):
            self._known[key] = data

    def read(self, template: Template) -> dict[str, Template] | None:
        """The nested templates of ``template`` by logical id, or None without a bundle."""
        key = bundle_key(template)
        if key is None:
            return None
        body = self._get(key)
        if body is None:
            return None
        templates = _parse(body)
        wanted = nested_keys(template)
        if templates is None or set(templates) != set(wanted):
            return None
        return templates

    def write(self, template: Template) -> None:
        """Put the bundle of ``template`` unless it is there.

        Its nested templates are read from this run's uploads, else from the
        bucket; when one is missing no bundle is written (CloudFormation will
        refuse the template in its own words, and a bundle is never partial).
        """
        key = bundle_key(template)
        if key is None or self._bucket.has(key):
            return
        templates: dict[str, Template] = {}
        for logical_id, artifact in nested_keys(template).items():
            body = self._known.get(artifact) or self._get(artifact)
            if body is None:
                return
            templates[logical_id] = json.loads(body)
        self._bucket.put(key, bundle_bytes(templates))

    def _get(self, key: str) -> bytes | None:
        self._bucket.ensure()
        try:
            response = self._retry(self._s3.get_object, Bucket=self._bucket.name, Key=key)
        except ClientError as error:
            if error_code(error) in _MISSING:
                return None
            raise
        data: bytes = response["Body"].read()
        return data


def _parse(body: bytes) -> dict[str, Template] | None:
    try:
        data: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("version") != BUNDLE_VERSION:
        return None
    templates = data.get("templates")
    if not isinstance(templates, dict):
        return None
    return {str(k): v for k, v in templates.items() if isinstance(v, dict)}
