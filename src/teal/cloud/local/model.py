"""What the local data plane (gateway and workers) reads from the local cloud's state.

The control plane (stack engine, store) writes these facts; the gateway reads
them through :class:`ServingState` for every request, so deploys and switches
take effect without a restart. Plain frozen dataclasses, no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from teal.cloud.base import RoutingRule

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "000000000000"
LOCAL_ARTIFACT_BUCKET = "teal-local-artifacts"


@dataclass(frozen=True)
class HostSettings:
    """How this machine runs an environment's functions: the region its AWS SDK is
    given, the profile whose credentials it gets, and the interpreter.

    They come from the teal.toml of the deploy that wrote the function (``[aws]
    region`` and ``profile``, ``[local] python``), through ``open_cloud``: the code
    package does not carry teal.toml, as the zip Lambda gets does not. Lambda has no
    such settings (a function runs in its stack's region, with its role).
    """

    aws_region: str | None = None
    aws_profile: str | None = None
    python: str | None = None
    dependencies: str | None = None  # [app] dependencies: the source the layer is read from
    optional_dependencies: tuple[str, ...] = ()  # [app] optional_dependencies

    def __post_init__(self) -> None:
        # read back from JSON, the groups are a list
        object.__setattr__(self, "optional_dependencies", tuple(self.optional_dependencies))


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function's configuration, enough to start and call workers."""

    name: str
    arn: str
    code_sha256: str  # content hash of the code artifact (the unpack folder's name)
    code_key: str  # artifact key of the zip
    handler: str  # "module.attr", as Lambda's Handler property
    runtime: str
    memory_mb: int
    timeout_s: int
    variables: Mapping[str, str] = field(default_factory=dict)  # Environment.Variables
    # SourceArn patterns of the AWS::Lambda::Permission resources that let
    # API Gateway invoke it; no match means API Gateway answers 500.
    invoke_source_arns: tuple[str, ...] = ()
    # LoggingConfig.LogGroup: a log group several functions share ("": the function's
    # own, /aws/lambda/<name>)
    log_group: str = ""
    host: HostSettings = field(default_factory=HostSettings)  # the local cloud's own record
    # Lambda's version: "$LATEST" or a published version's number ("3")
    version: str = "$LATEST"
    # the ARN the invocation named (an alias's, a version's), as context.invoked_function_arn
    # gives it; "" for the function's own
    invoked_arn: str = ""
    # an alias's routing: the other version it sends ``canary_weight`` (0-1) of the
    # invocations to; resolved per invocation (:meth:`routed`)
    canary: FunctionSpec | None = None
    canary_weight: float = 0.0

    @functools.cached_property  # looked up for every request; the spec never changes
    def version_key(self) -> str:
        """Workers are pooled per function *version* (and the ARN that invokes it, which
        its context tells): same name, new code or a new version, new pool."""
        env = ",".join(f"{k}={v}" for k, v in sorted(self.variables.items()))
        host = self.host
        return (
            f"{self.name}:{self.version}:{self.invoked_arn}:{self.code_sha256}:{self.handler}:"
            f"{self.memory_mb}:{self.timeout_s}:{self.log_group}:{env}:{host.aws_region}:"
            f"{host.aws_profile}:{host.python}"
        )

    def routed(self, draw: float) -> FunctionSpec:
        """The version one invocation runs: the alias's canary for a ``draw`` (uniform in
        [0, 1)) below its weight, else this one."""
        if self.canary is not None and draw < self.canary_weight:
            return self.canary
        return self

    def version_keys(self) -> frozenset[str]:
        """The pools this spec may invoke (its canary's too)."""
        canary = {self.canary.version_key} if self.canary is not None else set()
        return frozenset({self.version_key, *canary})


@dataclass(frozen=True)
class MockAnswer:
    """What a MOCK integration answers (a CORS preflight): a status and fixed headers."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RouteIntegration:
    """One method of a deployment snapshot: path template, verb, target function, and
    who may call it."""

    resource_path: str
    http_method: str
    function_arn: str | None  # None for a non-Lambda integration (not served locally)
    authorization: str = "NONE"  # NONE, CUSTOM, COGNITO_USER_POOLS or AWS_IAM
    authorizer_id: str | None = None
    api_key_required: bool = False
    mock: MockAnswer | None = None  # a MOCK integration's answer

    @functools.cached_property
    def guarded(self) -> bool:
        """Whether a request must pass an authorizer or show an API key first."""
        return self.authorization != "NONE" or self.api_key_required


@dataclass(frozen=True)
class AuthorizerSpec:
    """An authorizer of a deployment snapshot."""

    id: str
    name: str
    type: str  # TOKEN, REQUEST or COGNITO_USER_POOLS
    function_arn: str | None = None  # a Lambda authorizer's function
    identity_sources: tuple[str, ...] = ()  # API Gateway's expressions
    ttl_s: int = 300
    validation: str | None = None  # a TOKEN authorizer's IdentityValidationExpression
    provider_arns: tuple[str, ...] = ()  # a Cognito authorizer's user pools


@dataclass(frozen=True)
class GatewayResponseSpec:
    """A gateway response of a deployment snapshot: its status and static headers."""

    type: str  # DEFAULT_4XX, UNAUTHORIZED...
    status: int | None = None  # None: the answer keeps its own status
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ServedStage:
    """A stage and the deployment snapshot it serves."""

    api_id: str
    stage_name: str
    deployment_id: str
    routes: tuple[RouteIntegration, ...]
    stage_variables: Mapping[str, str] = field(default_factory=dict)
    # the RestApi's binaryMediaTypes when the deployment was made: what the stage honours
    binary_media_types: tuple[str, ...] = ()
    authorizers: Mapping[str, AuthorizerSpec] = field(default_factory=dict)  # by id
    gateway_responses: Mapping[str, GatewayResponseSpec] = field(default_factory=dict)  # by type
    region: str = LOCAL_REGION  # the RestApi's (its stack's): execute-api ARNs carry it


@dataclass(frozen=True)
class DomainRoute:
    """A custom domain, its stable local port, its base path mappings and the routing
    rules evaluated before them (by priority; none while the domain's routing mode
    is mappings only)."""

    name: str
    port: int
    mappings: Mapping[str, tuple[str, str]]  # base path ("" = root) -> (api_id, stage)
    rules: tuple[RoutingRule, ...] = ()


class ServingState(Protocol):
    """Read side of the local cloud's state, as the gateway uses it."""

    def generation(self) -> int:
        """A number that changes whenever anything below changes (cheap to poll)."""
        ...

    def stage(self, api_id: str, stage_name: str) -> ServedStage | None: ...
    def function_by_arn(self, arn: str) -> FunctionSpec | None: ...
    def function_named(self, name: str) -> FunctionSpec | None:
        """A function by its name (unique in the account, whatever its ARN's region)."""
        ...

    def domains(self) -> list[DomainRoute]: ...
    def api_key(self, api_id: str, stage_name: str, value: str) -> str | None:
        """The id of an enabled API key with this value that a usage plan of the stage
        accepts, else None."""
        ...
