"""AWS::Lambda::Function, Permission, Version and Alias.

A function is stored (by :mod:`teal.cloud.local.functions.catalog`) as the
:class:`FunctionSpec` the workers start from; its code must be an artifact
already put in the local artifact bucket.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from teal.cloud.local.functions import catalog
from teal.cloud.local.model import LOCAL_ARTIFACT_BUCKET, FunctionSpec, HostSettings
from teal.cloud.local.stacks.resources import (
    Properties,
    Provisioned,
    ResourceContext,
    ResourceFailed,
    optional_int,
    require_str,
)

FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_S = 3


def function_arn(ctx: ResourceContext, name: str) -> str:
    return f"arn:aws:lambda:{ctx.region}:{ctx.account_id}:function:{name}"


def function_name_of(reference: str) -> str:
    """FunctionName accepts a name, an ARN or a partial ARN; the name is the last part."""
    parts = reference.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return reference


def _log_group(config: Any) -> str:
    """LoggingConfig.LogGroup, or "" for the function's own log group."""
    if config is None:
        return ""
    group = config.get("LogGroup", "") if isinstance(config, dict) else None
    if not isinstance(group, str):
        raise ResourceFailed("Property LoggingConfig.LogGroup must be a string")
    return group


class Function:
    type_name = "AWS::Lambda::Function"
    properties = frozenset(
        {
            "FunctionName",
            "Handler",
            "Runtime",
            "Code",
            "Role",
            "MemorySize",
            "Timeout",
            "Environment",
            "Description",
            "Tags",
            "Architectures",
            "LoggingConfig",
            "PackageType",
            # kept, not emulated: the local cloud has no layers, VPCs or concurrency quotas
            # (teal.cloud.local.stacks.notes says so in the deploy's output)
            "Layers",
            "ReservedConcurrentExecutions",
            "VpcConfig",
            "SnapStart",
        }
    )
    required = frozenset({"Code", "Role"})
    attributes = frozenset({"Arn"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        name = props.get("FunctionName") or ctx.physical_name(64)
        if not isinstance(name, str) or not FUNCTION_NAME.match(name):
            raise ResourceFailed(
                f"1 validation error detected: Value '{name}' at 'functionName' failed to "
                "satisfy constraint: Member must have length less than or equal to 64 and "
                "contain only letters, digits, '-' and '_'"
            )
        if catalog.function_exists(ctx.conn, name):
            raise ResourceFailed(f"{name} already exists")
        spec = self._spec(ctx, name, props, ctx.host or HostSettings())
        catalog.create_function(ctx.conn, spec)
        return Provisioned(name, {"Arn": spec.arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        host = ctx.host
        if host is None:  # a command that read no project: the function keeps its own
            stored = catalog.function_by_name(ctx.conn, current.physical_id)
            host = stored.host if stored is not None else HostSettings()
        spec = self._spec(ctx, current.physical_id, new, host)
        catalog.update_function(ctx.conn, spec)
        return Provisioned(current.physical_id, {"Arn": spec.arn})

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        catalog.delete_function(ctx.conn, current.physical_id)

    def _spec(
        self, ctx: ResourceContext, name: str, props: Properties, host: HostSettings
    ) -> FunctionSpec:
        if props.get("PackageType", "Zip") != "Zip":
            raise ResourceFailed("Only PackageType Zip is supported by the local cloud")
        code_key = self._code_key(ctx, props.get("Code"))
        environment = (props.get("Environment") or {}).get("Variables") or {}
        if not isinstance(environment, dict):
            raise ResourceFailed("Property Environment.Variables must be a map of strings")
        return FunctionSpec(
            name=name,
            arn=function_arn(ctx, name),
            code_sha256=hashlib.sha256(ctx.store.read_artifact(code_key)).hexdigest(),
            code_key=code_key,
            handler=require_str(props, "Handler"),
            runtime=require_str(props, "Runtime"),
            memory_mb=optional_int(props, "MemorySize", DEFAULT_MEMORY_MB),
            timeout_s=optional_int(props, "Timeout", DEFAULT_TIMEOUT_S),
            variables={str(k): str(v) for k, v in environment.items()},
            log_group=_log_group(props.get("LoggingConfig")),
            host=host,
        )

    def _code_key(self, ctx: ResourceContext, code: Any) -> str:
        if not isinstance(code, dict) or set(code) - {"S3Bucket", "S3Key"}:
            raise ResourceFailed(
                "Property Code must be {S3Bucket, S3Key} in the local cloud "
                f"(got {sorted(code) if isinstance(code, dict) else code!r})"
            )
        bucket, key = code.get("S3Bucket"), code.get("S3Key")
        if bucket != LOCAL_ARTIFACT_BUCKET:
            raise ResourceFailed(
                "Error occurred while GetObject. S3 Error Code: NoSuchBucket. "
                f"S3 Error Message: The specified bucket does not exist ({bucket})"
            )
        if not isinstance(key, str) or not ctx.store.has_artifact(key):
            raise ResourceFailed(
                "Error occurred while GetObject. S3 Error Code: NoSuchKey. "
                f"S3 Error Message: The specified key does not exist. ({key})"
            )
        return key


class Permission:
    type_name = "AWS::Lambda::Permission"
    properties = frozenset({"FunctionName", "Action", "Principal", "SourceArn", "SourceAccount"})
    required = frozenset({"FunctionName", "Action", "Principal"})
    attributes: frozenset[str] = frozenset()
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        function = function_name_of(require_str(props, "FunctionName"))
        if not catalog.function_exists(ctx.conn, function):
            raise ResourceFailed(
                f"Function not found: {function_arn(ctx, function)} "
                "(Service: Lambda, Status Code: 404, Error Code: ResourceNotFoundException)"
            )
        permission_id = ctx.physical_name(128)
        catalog.add_permission(
            ctx.conn,
            permission_id,
            function,
            source_arn=props.get("SourceArn"),
            principal=require_str(props, "Principal"),
            action=require_str(props, "Action"),
        )
        return Provisioned(permission_id)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        # Every property of a permission is create-only: the engine replaces instead.
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        catalog.remove_permission(ctx.conn, current.physical_id)


class Version:
    """A published version: what ``$LATEST`` is when the resource is created."""

    type_name = "AWS::Lambda::Version"
    properties = frozenset(
        {"FunctionName", "Description", "CodeSha256", "ProvisionedConcurrencyConfig"}
    )
    required = frozenset({"FunctionName"})
    attributes = frozenset({"Version", "FunctionArn"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        function = function_name_of(require_str(props, "FunctionName"))
        if not catalog.function_exists(ctx.conn, function):
            raise _function_not_found(ctx, function)
        number = catalog.publish_version(ctx.conn, function)
        arn = function_arn(ctx, function)
        return Provisioned(f"{arn}:{number}", {"Version": str(number), "FunctionArn": arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        # Every property of a version is create-only: the engine replaces instead.
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        base, number = catalog.split_qualifier(current.physical_id)
        if number is None or not number.isdigit():
            return
        try:
            catalog.delete_version(ctx.conn, function_name_of(base), int(number))
        except ValueError as refused:
            raise ResourceFailed(str(refused)) from refused


class Alias:
    """An alias: the version it points at, and the share of invocations another gets
    (``RoutingConfig.AdditionalVersionWeights``, one version, as Lambda allows)."""

    type_name = "AWS::Lambda::Alias"
    properties = frozenset(
        {
            "FunctionName",
            "FunctionVersion",
            "Name",
            "Description",
            "RoutingConfig",
            # kept, not emulated: the local cloud starts workers on demand
            "ProvisionedConcurrencyConfig",
        }
    )
    required = frozenset({"FunctionName", "FunctionVersion", "Name"})
    attributes = frozenset({"AliasArn"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        return self._put(ctx, props)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        return self._put(ctx, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        base, name = catalog.split_qualifier(current.physical_id)
        if name is not None:
            catalog.delete_alias(ctx.conn, function_name_of(base), name)

    def _put(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        function = function_name_of(require_str(props, "FunctionName"))
        if not catalog.function_exists(ctx.conn, function):
            raise _function_not_found(ctx, function)
        name = require_str(props, "Name")
        version = self._version(ctx, function, props.get("FunctionVersion"))
        weights = {
            self._version(ctx, function, w.get("FunctionVersion")): self._weight(w)
            for w in _weights(props.get("RoutingConfig"))
        }
        if version in weights:
            raise ResourceFailed(
                "Invalid function version in AdditionalVersionWeights: it is the version "
                "the alias points to"
            )
        catalog.put_alias(ctx.conn, catalog.Alias(function, name, version, weights))
        arn = f"{function_arn(ctx, function)}:{name}"
        return Provisioned(arn, {"AliasArn": arn})

    @staticmethod
    def _version(ctx: ResourceContext, function: str, value: Any) -> int:
        text = str(value)
        if not text.isdigit() or not catalog.version_exists(ctx.conn, function, int(text)):
            raise ResourceFailed(
                f"Function not found: {function_arn(ctx, function)}:{text} "
                "(Service: Lambda, Status Code: 404, Error Code: ResourceNotFoundException)"
            )
        return int(text)

    @staticmethod
    def _weight(entry: Mapping[str, Any]) -> float:
        weight = entry.get("FunctionWeight")
        try:
            share = float(weight)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ResourceFailed(f"FunctionWeight must be a number (got {weight!r})") from exc
        if not 0.0 <= share <= 1.0:
            raise ResourceFailed(
                f"1 validation error detected: Value '{share}' at 'functionWeight' failed to "
                "satisfy constraint: Member must have value less than or equal to 1.0"
            )
        return share


def _weights(routing: Any) -> list[Mapping[str, Any]]:
    if routing is None:
        return []
    entries = routing.get("AdditionalVersionWeights", []) if isinstance(routing, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ResourceFailed("RoutingConfig.AdditionalVersionWeights must be a list")
    if len(entries) > 1:
        raise ResourceFailed(
            "1 validation error detected: Value at 'routingConfig.additionalVersionWeights' "
            "failed to satisfy constraint: Member must have length less than or equal to 1"
        )
    return entries


def _function_not_found(ctx: ResourceContext, function: str) -> ResourceFailed:
    return ResourceFailed(
        f"Function not found: {function_arn(ctx, function)} "
        "(Service: Lambda, Status Code: 404, Error Code: ResourceNotFoundException)"
    )
