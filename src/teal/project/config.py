"""teal.toml: schema, validation, and resolution to a deploy :class:`Target`.

Precedence, lowest first: ``[app]``/``[domain]``/``[deploy]``, then the
``[env.<name>]`` overrides of the chosen env, then environment variables
(``TEAL_ENV``, ``TEAL_EXTRA``, ``TEAL_CLOUD``), then command-line flags.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import types
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from teal.project.resources_file import ExtraResources, read_resources_file
from teal.project.secret_refs import REFERENCE_FORMS, ReferenceTable, VariableValue
from teal.project.tomllines import key_lines, line_of
from teal.rules.apigateway import BASE_PATH_CHARACTERS, BASE_PATH_LIMIT, base_path_accepted
from teal.rules.labels import (
    APP_TAG,
    ENV_TAG,
    ENVIRONMENT_TAG,
    EXTRA_TAG,
    RESERVED_TAG_PREFIXES,
)
from teal.runtime.access import CORSConfig, cors_problems
from teal.runtime.entry import (
    CORS_VARIABLE,
    ENTRY_VARIABLE,
    ENVIRONMENT_VARIABLE,
    FUNCTION_VARIABLE,
)
from teal.runtime.errors import ConfigError
from teal.runtime.routes import DOT_SEGMENTS
from teal.runtime.secrets import (
    REFERENCES_VARIABLE,
    SOURCE_VARIABLE,
    Reference,
    encode_references,
)

CONFIG_FILE = "teal.toml"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
EXTRA_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
Runtime = Literal["python3.11", "python3.12", "python3.13"]
CloudName = Literal["local", "aws"]
AutoReplace = Literal["auto", "prompt", "never"]
# For an ASGI or WSGI app: a resource per route of the framework's table, or one greedy
# resource (/ and /{proxy+}) for the whole app (teal.project.loader).
ApiMode = Literal["routes", "proxy"]
Architecture = Literal["x86_64", "arm64"]  # Lambda's Architectures
DependencySource = Literal["uv.lock", "pyproject.toml", "requirements.txt"]
STACK_NAME_LIMIT = 128

# Lambda's rules for environment variables ("Working with Lambda environment
# variables" and "Defined runtime environment variables", both read at
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html):
# keys match [a-zA-Z]([a-zA-Z0-9_])+ (a letter, at least two characters),
# the runtime's own keys are reserved, and all variables of a function
# together may take 4 KB. (TZ was reserved once; the current page lists it
# among the variables a function may set.)
VARIABLE_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]+$")
LAMBDA_RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
# What teal itself sets on every function: the template's variables
# (template/functions.py) and the local worker's (cloud/local/functions/workers.py).
TEAL_VARIABLES = frozenset(
    {
        ENTRY_VARIABLE,
        FUNCTION_VARIABLE,
        ENVIRONMENT_VARIABLE,
        CORS_VARIABLE,
        REFERENCES_VARIABLE,
        SOURCE_VARIABLE,
        "TEAL_LOCAL_FUNCTION_ARN",
    }
)
VARIABLES_SIZE_LIMIT = 4096  # bytes, measured by Lambda on the variables as compact JSON

# [app] binary_media_types when the project sets none: the list AWS Chalice uses by
# default, which covers what web apps commonly send and serve as bytes (archives,
# audio, images, video), leaving JSON, text, forms and multipart as text.
DEFAULT_ENV = "dev"  # the env a command means without --env or TEAL_ENV
DEFAULT_BINARY_MEDIA_TYPES = (
    "application/octet-stream",
    "application/x-tar",
    "application/zip",
    "audio/basic",
    "audio/ogg",
    "audio/mp4",
    "audio/mpeg",
    "audio/wav",
    "audio/webm",
    "image/png",
    "image/jpg",
    "image/jpeg",
    "image/gif",
    "video/ogg",
    "video/mpeg",
    "video/webm",
)
# A media range as API Gateway takes one: type/subtype, either part may be "*".
_MEDIA_PART = r"(\*|[-!#$%&'+.^_`|~0-9A-Za-z]+)"
MEDIA_RANGE = re.compile(rf"^{_MEDIA_PART}/{_MEDIA_PART}$")


def _variable_name(name: str) -> str:
    if name in LAMBDA_RESERVED_VARIABLES:
        raise ValueError("Lambda reserves this name: the runtime sets it on every function")
    if name in TEAL_VARIABLES:
        raise ValueError("teal sets this variable on every function itself")
    if not VARIABLE_NAME.match(name):
        raise ValueError(
            "Lambda accepts variable names of a letter followed by letters, digits and '_' "
            "(at least two characters)"
        )
    return name


VariableName = Annotated[str, AfterValidator(_variable_name)]
# a value, or a reference to Parameter Store or Secrets Manager (project/secret_refs.py)
Variables = dict[VariableName, VariableValue]


def _media_types(values: list[str]) -> list[str]:
    for value in values:
        if not MEDIA_RANGE.match(value):
            raise ValueError(
                f"{value!r} is not a media type; write 'type/subtype' such as 'image/png', "
                "'image/*' or '*/*'"
            )
    if len({v.lower() for v in values}) != len(values):
        raise ValueError("API Gateway refuses a media type listed twice")
    return values


MediaTypes = Annotated[list[str], AfterValidator(_media_types)]

# IAM's shapes (the IAM User Guide's policy element reference): an action is
# ``service:Action`` (or ``*``), where the action part may hold the wildcards
# ``*`` and ``?``; a resource is ``*`` or an ARN, ``arn:partition:service:region:
# account:resource``, whose region and account may be empty (S3) or wildcards.
# teal adds one form: ``${Name.Attribute}`` (or ``${Name}``) at the start of a
# resource names a resource of the [resources] template, as Fn::Sub would.
IAM_ACTION = re.compile(r"^(\*|[a-z0-9-]+:[A-Za-z0-9*?]+)$")
IAM_ARN = re.compile(r"^arn:(\*|aws[a-z-]*):[a-z0-9*?-]+:[a-z0-9*?-]*:[0-9*?]*:.+$")
STACK_REFERENCE = re.compile(r"^\$\{(?P<name>[A-Za-z0-9]+)(\.[A-Za-z0-9.]+)?\}")
MANAGED_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy/[\w+=,.@/-]{1,512}$")
LAYER_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]{1,140}:[0-9]+$"
)
LAYERS_LIMIT = 5  # Lambda: at most five layers per function
TAG_LIMIT = 50  # tags per resource, teal's own included
QUEUE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def _iam_action(value: str) -> str:
    if not IAM_ACTION.match(value):
        raise ValueError(
            "not an IAM action; write 'service:Action' such as "
            "'dynamodb:GetItem' (wildcards * and ? allowed in the action part), or '*'"
        )
    return value


def _iam_resource(value: str) -> str:
    if value != "*" and not IAM_ARN.match(value) and not STACK_REFERENCE.match(value):
        raise ValueError(
            "not an IAM resource; write an ARN such as "
            "'arn:aws:dynamodb:*:*:table/posts', '*' for every resource, or "
            "'${Table.Arn}' for a resource of your [resources] template"
        )
    return value


def _managed_policy(value: str) -> str:
    if not MANAGED_POLICY_ARN.match(value):
        raise ValueError(
            "not a managed policy ARN; write one such as "
            "'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess', or give a statement as a table: "
            '{ effect = "Allow", actions = [...], resources = [...] }'
        )
    return value


def _non_empty(values: list[str]) -> list[str]:
    if not values:
        raise ValueError("must list at least one")
    return values


IamAction = Annotated[str, AfterValidator(_iam_action)]
IamResource = Annotated[str, AfterValidator(_iam_resource)]


class _Strict(BaseModel):
    # strict: "512" is not 512 and 256.0 is not 256; TOML already gives each
    # value its type, so a quoted number is a mistake worth reporting.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PolicyStatement(_Strict):
    """An IAM statement, as ``policies`` lists it: added to a function's own role."""

    effect: Literal["Allow", "Deny"]
    actions: Annotated[list[IamAction], AfterValidator(_non_empty)]
    resources: Annotated[list[IamResource], AfterValidator(_non_empty)]
    # IAM's Condition block: operator -> condition key -> value(s)
    conditions: dict[str, dict[str, str | bool | int | list[str]]] | None = None


def _policy_kind(value: Any) -> str:
    return "managed" if isinstance(value, str) else "statement"


# An item of ``policies``: a statement (a table) or a managed policy's ARN (a string).
# The discriminator picks the form by the value's type, so a mistake is reported
# against that form alone.
Policy = Annotated[
    Annotated[PolicyStatement, Tag("statement")]
    | Annotated[Annotated[str, AfterValidator(_managed_policy)], Tag("managed")],
    Discriminator(_policy_kind),
]
POLICY_FORMS = ("statement", "managed")  # tags pydantic puts in an error's location


class VpcSettings(_Strict):
    """``vpc = {subnets = [...], security_groups = [...]}``: Lambda's VpcConfig."""

    subnets: Annotated[list[str], AfterValidator(_non_empty)]
    security_groups: Annotated[list[str], AfterValidator(_non_empty)]

    @field_validator("subnets")
    @classmethod
    def _subnets(cls, values: list[str]) -> list[str]:
        return _ids(values, "subnet-", "a subnet id such as 'subnet-0abc1234'")

    @field_validator("security_groups")
    @classmethod
    def _groups(cls, values: list[str]) -> list[str]:
        return _ids(values, "sg-", "a security group id such as 'sg-0abc1234'")


def _ids(values: list[str], prefix: str, shape: str) -> list[str]:
    for value in values:
        if not re.match(rf"^{prefix}[0-9a-f]{{8,17}}$", value):
            raise ValueError(f"{value!r} is not {shape}")
    return values


def _layers(values: list[str]) -> list[str]:
    if len(values) > LAYERS_LIMIT:
        raise ValueError(f"Lambda allows {LAYERS_LIMIT} layers per function")
    for value in values:
        if not LAYER_ARN.match(value):
            raise ValueError(
                f"{value!r} is not a layer version ARN; write "
                "'arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION'"
            )
    return values


# The most execution environments a switch warms per function (``warm``, or the live
# environment's peak): each warm-up counts against the account's concurrency, which all
# functions of a region share (1000 by default, far less on a new account), and runs the
# app's startup, which may open connections to its database; past 50 the first burst's
# own scaling does the rest. Locally the pool's cap (10 workers at once) bounds it too.
MAX_WARM = 50


class FunctionSettings(_Strict):
    """``[functions.<name>]``: settings of one Lambda function."""

    memory: int | None = Field(default=None, ge=128, le=10240)
    timeout: int | None = Field(default=None, ge=1, le=900)
    variables: Variables = Field(default_factory=dict, alias="environment")
    policies: list[Policy] = Field(default_factory=list)  # added to [app] policies
    layers: Annotated[list[str], AfterValidator(_layers)] = Field(default_factory=list)
    reserved_concurrency: int | None = Field(default=None, ge=0)
    vpc: VpcSettings | None = None
    # execution environments to warm before a switch (0: none); default: the live peak
    warm: int | None = Field(default=None, ge=0, le=MAX_WARM)
    architecture: Architecture | None = None  # over [app] architecture
    # Lambda SnapStart on the published versions (python3.12 and later)
    snap_start: bool = False
    # execution environments kept initialized for the function's alias
    provisioned_concurrency: int | None = Field(default=None, ge=1)


def _tags(tags: dict[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise ValueError(f"tag {key!r}: keys take 1-128 characters, values at most 256")
        if key.lower().startswith(RESERVED_TAG_PREFIXES):
            raise ValueError(f"tag {key!r}: the prefixes 'aws:' and 'teal:' are reserved")
    if len(tags) > TAG_LIMIT - 4:
        raise ValueError(f"at most {TAG_LIMIT - 4} tags (AWS allows {TAG_LIMIT}; teal sets 4)")
    return tags


Tags = Annotated[dict[str, str], AfterValidator(_tags)]


class QueueSettings(_Strict):
    """``[queues.<name>]``: the queue teal defines for ``@app.on_sqs_message(queue=name)``."""

    # seconds a received message stays hidden; Lambda wants at least the function's
    # timeout, and advises six times it (the default)
    visibility_timeout: int | None = Field(default=None, ge=0, le=43200)
    # deliveries before a message goes to the queue's dead-letter queue (teal makes one)
    max_receive_count: int | None = Field(default=None, ge=1, le=1000)
    message_retention: int = Field(default=345600, ge=60, le=1209600)  # SQS: 4 days


class ResourcesSection(_Strict):
    """``[resources]``: extra CloudFormation merged into the environment's stack."""

    template: str


class AppSection(_Strict):
    name: str
    entry: str = "app:app"
    runtime: Runtime = "python3.12"
    memory: int = Field(default=256, ge=128, le=10240)
    timeout: int = Field(default=10, ge=1, le=900)
    cloud: CloudName = "local"
    variables: Variables = Field(default_factory=dict, alias="environment")
    exclude: list[str] = Field(default_factory=list)  # gitignore lines, after .tealignore
    # the RestApi's BinaryMediaTypes: bodies of these types travel base64-encoded
    binary_media_types: MediaTypes = Field(default_factory=lambda: [*DEFAULT_BINARY_MEDIA_TYPES])
    api: ApiMode = "routes"
    policies: list[Policy] = Field(default_factory=list)  # every function's role
    tags: Tags = Field(default_factory=dict)  # the stack's: CloudFormation tags its resources
    # where the dependencies come from when the project has several sources
    dependencies: DependencySource | None = None
    optional_dependencies: list[str] = Field(default_factory=list)  # pyproject.toml's groups
    architecture: Architecture = "x86_64"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value) or len(value) > 40:
            raise ValueError(
                "must be lowercase letters, digits and '-', start with a letter, "
                "and be at most 40 characters"
            )
        return value

    @field_validator("entry")
    @classmethod
    def _entry(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", value):
            raise ValueError("must be 'module:attribute', for example 'app:app'")
        return value


class AwsSection(_Strict):
    region: str | None = None
    profile: str | None = None


class LocalSection(_Strict):
    """``[local]``: how the local cloud runs this app on this machine."""

    python: str | None = None  # the interpreter for [app] runtime; default: found by version


class _Refused(ValueError):
    """A value a validator refuses, with what to write instead (the error's hint)."""

    def __init__(self, what: str, hint: str) -> None:
        super().__init__(what)
        self.hint = hint


class DomainSection(_Strict):
    name: str
    base_path: str = ""
    certificate_arn: str | None = None
    hosted_zone: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(
            r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", value
        ):
            raise ValueError("must be a lowercase DNS name such as 'api.example.com'")
        return value

    @field_validator("base_path")
    @classmethod
    def _base_path(cls, value: str) -> str:
        path = value.strip("/")
        hint = "write '' (the root) or a path such as 'v1' or 'shop/v2'"
        if not base_path_accepted(path):
            raise _Refused(
                f"API Gateway takes levels of {BASE_PATH_CHARACTERS}, joined by '/', "
                f"{BASE_PATH_LIMIT} characters at most",
                hint,
            )
        if any(level in DOT_SEGMENTS for level in path.split("/")):
            raise _Refused(
                "a '.' or '..' level can never be reached: clients resolve them away before "
                "they send a request",
                hint,
            )
        return path


class CorsSection(_Strict):
    """``[cors]``: CORS for every route that does not say otherwise (``cors=``)."""

    allow_origins: list[str] = Field(default_factory=lambda: ["*"])
    allow_headers: list[str] | None = None  # None: teal.runtime.access.DEFAULT_ALLOW_HEADERS
    expose_headers: list[str] = Field(default_factory=list)
    allow_credentials: bool = False
    max_age: int | None = None

    def config(self) -> CORSConfig:
        return CORSConfig(
            self.allow_origins,
            self.allow_headers,
            self.expose_headers,
            self.allow_credentials,
            self.max_age,
        )

    @model_validator(mode="after")
    def _accepted(self) -> CorsSection:
        problems = cors_problems(self.config())
        if problems:
            raise ValueError("; ".join(problems))
        return self


_DURATION = re.compile(r"^(?P<number>[0-9]+)(?P<unit>[smh])$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}
MAX_WATCH_S = 3600  # a watch holds the domain's lock: an hour at most
DEFAULT_MAX_ERROR_RATE = 1.0  # percent of the requests a watch sees


def parse_duration(text: str) -> int:
    """``90s``, ``2m`` or ``1h`` in seconds; ValueError (saying what is accepted) if not."""
    found = _DURATION.match(text.strip())
    if found is None:
        raise ValueError("must be a duration such as 90s, 2m or 1h")
    seconds = int(found.group("number")) * _DURATION_UNITS[found.group("unit")]
    if not 1 <= seconds <= MAX_WATCH_S:
        raise ValueError(f"must be between 1s and {MAX_WATCH_S // 60}m")
    return seconds


def _duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(_duration)]


def parse_percent(text: str) -> float:
    """``10%`` (or ``10``) as 10.0; ValueError (saying what is accepted) if not a share
    Lambda's alias weights can give the new version: more than 0 and less than 100."""
    found = re.match(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*$", text)
    if found is None:
        raise ValueError("must be a percentage such as 10%")
    value = float(found.group(1))
    if not 0 < value < 100:
        raise ValueError("must be more than 0% and less than 100%")
    return value


def _percent(value: str) -> str:
    parse_percent(value)
    return value


Percent = Annotated[str, AfterValidator(_percent)]


class DeploySection(_Strict):
    auto_replace: AutoReplace = "auto"
    # after a switch (and the re-point of a replacement), watch the live traffic this
    # long and switch back on a breach of the limits below (teal.ops.watch)
    watch: Duration | None = None
    max_error_rate: float | None = Field(default=None, ge=0, le=100)  # percent of requests
    max_p99_ms: float | None = Field(default=None, gt=0)
    # an in-place update sends this share of invocations to the new versions first
    canary: Percent | None = None


class CheckSection(_Strict):
    path: str
    method: str = "GET"
    status: int = Field(default=200, ge=100, le=599)
    contains: str | None = None
    header: str | None = None  # "Name: value" the response must carry

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
            raise ValueError("must be an HTTP method such as GET")
        return value.upper()

    @field_validator("header")
    @classmethod
    def _header(cls, value: str | None) -> str | None:
        if value is not None and ":" not in value:
            raise ValueError("must be 'Name: value'")
        return value


class EnvOverrides(_Strict):
    """``[env.<name>]``: any ``[app]`` setting but the name, plus domain/deploy/aws tables."""

    entry: str | None = None
    runtime: Runtime | None = None
    memory: int | None = Field(default=None, ge=128, le=10240)
    timeout: int | None = Field(default=None, ge=1, le=900)
    cloud: CloudName | None = None
    variables: Variables | None = Field(default=None, alias="environment")
    binary_media_types: MediaTypes | None = None
    policies: list[Policy] | None = None
    tags: Tags | None = None  # merged over [app] tags
    domain: DomainSection | None = None
    deploy: DeploySection | None = None
    aws: AwsSection | None = None
    functions: dict[str, FunctionSettings] | None = None


class ConfigFile(_Strict):
    app: AppSection
    aws: AwsSection = AwsSection()
    local: LocalSection = LocalSection()
    domain: DomainSection | None = None
    deploy: DeploySection = DeploySection()
    cors: CorsSection | None = None
    checks: list[CheckSection] = Field(default_factory=list)
    functions: dict[str, FunctionSettings] = Field(default_factory=dict)
    queues: dict[str, QueueSettings] = Field(default_factory=dict)
    resources: ResourcesSection | None = None
    env: dict[str, EnvOverrides] = Field(default_factory=dict)

    @field_validator("queues")
    @classmethod
    def _queue_names(cls, value: dict[str, QueueSettings]) -> dict[str, QueueSettings]:
        for name in value:
            if not QUEUE_NAME.match(name):
                raise ValueError(
                    f"queue name {name!r}: a letter, then letters, digits, '-' or '_' (at most 64)"
                )
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, EnvOverrides]) -> dict[str, EnvOverrides]:
        for name in value:
            if not NAME_PATTERN.match(name):
                raise ValueError(f"env name {name!r} must be lowercase letters, digits and '-'")
        return value


@dataclass(frozen=True)
class DomainSpec:
    """A custom domain as configured in ``[domain]``."""

    name: str
    base_path: str = ""
    certificate_arn: str | None = None
    hosted_zone: str | None = None


@dataclass(frozen=True)
class Check:
    path: str
    method: str = "GET"
    status: int = 200
    contains: str | None = None
    header: str | None = None


@dataclass(frozen=True)
class WatchSettings:
    """``[deploy] watch`` and its limits: how a switch is watched by default.

    ``seconds`` None: no watch unless ``teal switch --watch`` asks for one.
    ``where`` is the line of teal.toml that set the watch, for errors about it.
    """

    seconds: int | None = None
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    max_p99_ms: float | None = None
    where: str = CONFIG_FILE


@dataclass(frozen=True)
class Project:
    """A loaded, validated teal.toml and the folder it lives in."""

    root: Path
    config: ConfigFile
    source: str = ""  # the file's text, to name the line of a key in errors

    @property
    def path(self) -> Path:
        return self.root / CONFIG_FILE

    def location(self, *candidates: Sequence[str | int]) -> str:
        """``teal.toml:LINE`` of the first candidate key the file holds, else the file."""
        lines = key_lines(self.source)
        for loc in candidates:
            if tuple(loc) in lines:
                return f"{self.path}:{lines[tuple(loc)]}"
        return str(self.path)


@dataclass(frozen=True)
class Target:
    """One environment to plan, deploy or operate on, with its effective settings."""

    project_dir: Path
    app: str
    env: str
    extra: str | None
    cloud: CloudName
    entry: str
    runtime: str
    memory: int
    timeout: int
    # [app.environment], env's merged: values, and references (fetched at cold start)
    variables: Mapping[str, str | ReferenceTable] = field(default_factory=dict)
    functions: Mapping[str, FunctionSettings] = field(default_factory=dict)
    domain: DomainSpec | None = None
    auto_replace: AutoReplace = "auto"
    checks: tuple[Check, ...] = ()
    aws_region: str | None = None
    aws_profile: str | None = None
    exclude: tuple[str, ...] = ()  # [app] exclude: files never packaged
    local_python: str | None = None  # [local] python
    binary_media_types: tuple[str, ...] = DEFAULT_BINARY_MEDIA_TYPES
    cors: CORSConfig | None = None  # [cors]: the app-wide CORS
    policies: tuple[PolicyStatement | str, ...] = ()  # [app] policies (or the env's)
    user_tags: Mapping[str, str] = field(default_factory=dict)  # [app] tags, env's merged
    queues: Mapping[str, QueueSettings] = field(default_factory=dict)  # [queues.NAME]
    extra_resources: ExtraResources | None = None  # [resources] template, read
    watch: WatchSettings = WatchSettings()  # [deploy] watch, max_error_rate, max_p99_ms
    dependencies: DependencySource | None = None  # [app] dependencies
    optional_dependencies: tuple[str, ...] = ()  # [app] optional_dependencies
    architecture: Architecture = "x86_64"  # [app] architecture
    # the dependency layer of each architecture, (architecture, artifact key): set once
    # the project is packaged (ops.decision.package_for)
    dependency_layers: tuple[tuple[str, str], ...] = ()

    def architecture_of(self, function: str) -> Architecture:
        """The function's own architecture, else the app's."""
        own = self.functions.get(function, FunctionSettings()).architecture
        return own or self.architecture

    # [deploy] canary: the share (percent) of invocations an in-place update sends to the
    # new versions while they are watched; None: no canary unless --canary asks
    canary_percent: float | None = None
    canary_where: str = CONFIG_FILE  # what asked for the canary, for errors about it

    @property
    def environment(self) -> str:
        """``<app>-<env>`` or ``<app>-<env>-<extra>``: the environment's name."""
        return "-".join(p for p in (self.app, self.env, self.extra) if p)

    @property
    def flags(self) -> str:
        """The flags that name this environment to a teal command (`` --env prod --extra 2``;
        empty for the default env), for hints that must reach this environment."""
        return self.env_flag + (f" --extra {self.extra}" if self.extra else "")

    @property
    def env_flag(self) -> str:
        """`` --env NAME`` unless the env is the default: what names the env (and so its
        domain) to ``switch``, ``rollback`` and ``preview``."""
        return f" --env {self.env}" if self.env != DEFAULT_ENV else ""

    @property
    def stage(self) -> str:
        """The API Gateway stage: the env name, in the characters stages allow."""
        return self.env.replace("-", "_")

    def function_settings(self, function: str) -> tuple[int, int, dict[str, str]]:
        """(memory MB, timeout s, environment variables) for one function.

        Raises :class:`ConfigError` when Lambda would refuse the variables as too
        large, so that synthesis (and so plan and deploy) stops before any change.
        """
        own = self.functions.get(function, FunctionSettings())
        merged = {**self.variables, **own.variables}
        variables = {name: value for name, value in merged.items() if isinstance(value, str)}
        self._check_variables_size(function, variables)
        return own.memory or self.memory, own.timeout or self.timeout, variables

    def function_references(self, function: str) -> dict[str, Reference]:
        """The function's variables whose values teal's runtime fetches at cold start."""
        own = self.functions.get(function, FunctionSettings())
        merged = {**self.variables, **own.variables}
        return {
            name: value.reference()
            for name, value in merged.items()
            if isinstance(value, ReferenceTable)
        }

    def function_policies(self, function: str) -> tuple[PolicyStatement | str, ...]:
        """What a function's role gets beyond its own logs: [app] policies, then its own."""
        own = self.functions.get(function, FunctionSettings())
        return (*self.policies, *own.policies)

    def teal_variables(self, function: str) -> dict[str, str]:
        """The variables teal sets on a function besides the user's (see template/functions.py)."""
        variables = {
            ENTRY_VARIABLE: self.entry,
            FUNCTION_VARIABLE: function,
            ENVIRONMENT_VARIABLE: self.environment,
        }
        if self.cors is not None:  # the runtime adds [cors]'s headers to the answers
            variables[CORS_VARIABLE] = json.dumps(self.cors.to_json(), separators=(",", ":"))
        references = self.function_references(function)
        if references:  # names only: the runtime fetches the values (runtime/secrets.py)
            variables[REFERENCES_VARIABLE] = encode_references(references)
        return variables

    def _check_variables_size(self, function: str, variables: Mapping[str, str]) -> None:
        size = variables_size({**variables, **self.teal_variables(function)})
        if size <= VARIABLES_SIZE_LIMIT:
            return
        project = load_project(self.project_dir)
        where = project.location(
            ("env", self.env, "functions", function, "environment"),
            ("functions", function, "environment"),
            ("env", self.env, "environment"),
            ("app", "environment"),
        )
        raise ConfigError(
            f"the environment variables of function {function!r} take {size} bytes; Lambda "
            f"allows {VARIABLES_SIZE_LIMIT} bytes (4 KB) per function, counting names and "
            "values as JSON, teal's own TEAL_* variables included",
            where=where,
            hint="keep large values out of variables: put them in a file of the project, or in "
            "SSM Parameter Store or Secrets Manager, and pass their names",
        )

    def tags(self) -> dict[str, str]:
        """The stack's tags: the user's [app] tags, and teal's, which mark a stack as this
        environment's for ownership checks (CloudFormation puts them on every resource)."""
        tags = {APP_TAG: self.app, ENV_TAG: self.env, ENVIRONMENT_TAG: self.environment}
        if self.extra:
            tags[EXTRA_TAG] = self.extra
        return {**self.user_tags, **tags}


def load_project(project_dir: Path | str = ".") -> Project:
    """Read and validate ``teal.toml``; raise :class:`ConfigError` naming the key."""
    root = Path(project_dir).resolve()
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {CONFIG_FILE} in {root}",
            where=str(root),
            hint="run teal from your project folder, pass --project DIR, or create one with "
            "`teal init`",
        )
    text = _config_text(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+)", str(exc))
        raise ConfigError(
            f"not valid TOML: {exc}",
            where=f"{path}:{found.group(1)}" if found else str(path),
            hint="fix the syntax there (TOML's rules: https://toml.io); quote strings, and "
            "write tables as [name] headers",
        ) from exc
    except RecursionError as exc:  # tomllib reads nested arrays and tables recursively
        raise _too_deep(path, text) from exc
    try:
        config = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise _invalid_config(exc, path, text) from exc
    except RecursionError as exc:
        raise _too_deep(path, text) from exc
    return Project(root, config, text)


def _config_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}",
            where=f"{path}:{line}",
            hint="save teal.toml as UTF-8 (your editor's encoding setting): TOML files are "
            "UTF-8 by definition",
        ) from exc


NESTING_NOTICED = 32  # opening brackets in a row that mark where a too-deep value starts


def _too_deep(path: Path, text: str) -> ConfigError:
    """A value nested deeper than Python's stack lets a reader follow, at its line and key
    when a run of opening brackets shows where it starts."""
    found = re.search(rf"[\[{{](?:\s*[\[{{]){{{NESTING_NOTICED - 1}}}", text)
    where, key = str(path), ""
    if found:
        line = text.count("\n", 0, found.start()) + 1
        where = f"{path}:{line}"
        lines = key_lines(text)
        above = [k for k, at in lines.items() if at <= line]
        if above:
            nearest = max(above, key=lambda k: (lines[k], len(k)))
            while nearest and isinstance(nearest[-1], int):  # the key, not its array's item
                nearest = nearest[:-1]
            key = f" (key '{'.'.join(str(part) for part in nearest)}')"
    return ConfigError(
        f"a value nests arrays or tables too deeply for teal to read{key}",
        where=where,
        hint="no setting of teal.toml nests more than a few levels: look for a run of "
        "'[' or '{' on that line, and remove the extra ones",
    )


def variables_size(variables: Mapping[str, str]) -> int:
    """Bytes of a function's variables as Lambda measures them: compact JSON, UTF-8."""
    text = json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8"))


def _invalid_config(exc: ValidationError, path: Path, text: str) -> ConfigError:
    """Every problem on a line of its own, each with the line of teal.toml it is on."""
    lines = key_lines(text)
    problems = [(line_of(lines, e["loc"]), _describe_error(e)) for e in exc.errors()]
    problems.sort(key=lambda p: (p[0] is None, p[0] or 0))  # in file order, unplaced last
    first = problems[0][0]
    listed = "\n".join(
        f"  - line {number}: {problem}" if number else f"  - {problem}"
        for number, problem in problems
    )
    where = f"{path}:{first}" if first else str(path)
    hints = dict.fromkeys(_hint_of(e) for e in exc.errors())  # once each, in order
    hint = "; ".join(h for h in hints if h) or "fix the keys at the lines listed"
    return ConfigError(f"invalid configuration:\n{listed}", where=where, hint=hint)


def _hint_of(error: ErrorDetails) -> str | None:
    refused = (error.get("ctx") or {}).get("error")
    return refused.hint if isinstance(refused, _Refused) else None


def _describe_error(error: ErrorDetails) -> str:
    loc = _readable_loc(error["loc"])
    key = ".".join(str(p) for p in loc) or "(file)"
    match error["type"]:
        case "extra_forbidden":
            return f"unknown key '{key}'{_did_you_mean(loc)}"
        case "missing":
            return f"missing key '{key}'"
        case kind if kind in _TYPE_WORDS:
            got = error.get("input")
            return f"'{key}': must be {_TYPE_WORDS[kind]} (got {got!r}, {_kind_of(got)})"
        case _:
            message = str(error["msg"]).removeprefix("Value error, ")
            if "[key]" in error["loc"]:  # the key is the input, and already named
                return f"'{key}': {message}"
            return f"'{key}': {message} (got {error.get('input')!r})"


def _readable_loc(loc: Sequence[str | int]) -> list[str | int]:
    """The key's path as the user wrote it: without pydantic's marks for a dict key or
    for the form of a ``policies`` item."""
    kept: list[str | int] = []
    for index, part in enumerate(loc):
        if part == "[key]":
            continue
        if part in POLICY_FORMS and index and isinstance(loc[index - 1], int):
            continue
        if part in REFERENCE_FORMS and index > 1 and loc[index - 2] == "environment":
            continue
        kept.append(part)
    return kept


_TYPE_WORDS = {
    "int_type": "a whole number, written without quotes",
    "float_type": "a number, written without quotes",
    "string_type": "a string, in quotes",
    "bool_type": "true or false, without quotes",
    "dict_type": "a table",
    "model_type": "a table",
    "list_type": "an array",
}


def _kind_of(value: object) -> str:
    kinds = {bool: "a boolean", int: "a whole number", float: "a decimal number", str: "a string"}
    kinds |= {dict: "a table", list: "an array"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _did_you_mean(loc: Sequence[str | int]) -> str:
    """`` (did you mean 'runtime'?)`` when a valid key of the same table is close."""
    known = _keys_of_table(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _keys_of_table(loc: Sequence[str | int]) -> list[str]:
    """The keys the schema allows in the table at ``loc`` (none when it is not a table)."""
    annotation: Any = ConfigFile
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field_info = _toml_keys(annotation).get(str(part))
            if field_info is None:
                return []
            annotation = field_info.annotation
        elif get_origin(annotation) in (dict, list):
            annotation = get_args(annotation)[-1]  # a dict's values, a list's items
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(_toml_keys(annotation))
    return []


def _toml_keys(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """A table's fields by their key in teal.toml (``environment`` is ``variables`` here)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _unwrap(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` to ``X``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            # a value that may be a table (a variable's reference) has that table's keys
            annotation = next((a for a in members if _is_table(_unwrap(a))), members[0])
        else:
            return annotation


def _is_table(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def check_function_tables(project: Project, functions: Collection[str]) -> None:
    """Every ``[functions.NAME]`` table (``[env.X.functions.NAME]`` too) names a function.

    The function names come from the app's route table, which is known only
    after the app is imported; so the loader calls this, once both are known.
    """
    config = project.config
    tables: list[tuple[tuple[str, ...], str]] = [
        (("functions", name), name) for name in config.functions
    ]
    for env_name, overrides in config.env.items():
        tables += [
            (("env", env_name, "functions", name), name) for name in overrides.functions or {}
        ]
    for loc, name in tables:
        if name not in functions:
            raise _unknown_function(project, loc, name, functions)


def check_queue_tables(project: Project, queues: Collection[str]) -> None:
    """Every ``[queues.NAME]`` table names a queue the app consumes by name."""
    for name in project.config.queues:
        if name not in queues:
            loc = ("queues", name)
            named = sorted(q for q in queues if not q.startswith("arn:"))
            raise ConfigError(
                f"[queues.{name}] names no queue of the app",
                where=project.location(loc),
                hint="the app's queues are: "
                + (", ".join(named) or "none")
                + " (@app.on_sqs_message(queue=...))",
            )


def _unknown_function(
    project: Project, loc: tuple[str, ...], name: str, functions: Collection[str]
) -> ConfigError:
    close = difflib.get_close_matches(name, list(functions), n=1, cutoff=0.6)
    suggestion = f"did you mean [{'.'.join(loc[:-1])}.{close[0]}]? " if close else ""
    return ConfigError(
        f"[{'.'.join(loc)}] names no function of the app",
        where=project.location(loc),
        hint=f"{suggestion}the app's functions are: {', '.join(sorted(functions))} "
        "(see `teal routes`)",
    )


def resolve_target(
    project: Project,
    *,
    env: str | None = None,
    extra: str | None = None,
    cloud: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """The environment named by flags, then TEAL_* variables, then defaults."""
    environ = os.environ if environ is None else environ
    env_name = env or environ.get("TEAL_ENV") or DEFAULT_ENV
    extra_name = extra if extra is not None else environ.get("TEAL_EXTRA")
    extra_name = extra_name or None
    _check_name("env", env_name, NAME_PATTERN, "--env" if env else "TEAL_ENV")
    if extra_name is not None:
        _check_name("extra", extra_name, EXTRA_PATTERN, "--extra" if extra else "TEAL_EXTRA")
    config = project.config
    overrides = config.env.get(env_name, EnvOverrides())
    chosen_cloud = cloud or environ.get("TEAL_CLOUD") or overrides.cloud or config.app.cloud
    if chosen_cloud not in ("local", "aws"):
        where = (
            "--cloud"
            if cloud
            else "TEAL_CLOUD"
            if environ.get("TEAL_CLOUD")
            else project.location(("env", env_name, "cloud"), ("app", "cloud"))
        )
        raise ConfigError(
            f"unknown cloud {chosen_cloud!r}", where=where, hint="use 'local' or 'aws'"
        )
    domain = overrides.domain or config.domain
    aws = overrides.aws or config.aws
    target = Target(
        project_dir=project.root,
        app=config.app.name,
        env=env_name,
        extra=extra_name,
        cloud=chosen_cloud,  # type: ignore[arg-type]
        entry=overrides.entry or config.app.entry,
        runtime=overrides.runtime or config.app.runtime,
        memory=overrides.memory or config.app.memory,
        timeout=overrides.timeout or config.app.timeout,
        variables={**config.app.variables, **(overrides.variables or {})},
        functions={**config.functions, **(overrides.functions or {})},
        domain=_domain_spec(domain),
        auto_replace=(overrides.deploy or config.deploy).auto_replace,
        checks=tuple(Check(**c.model_dump()) for c in config.checks),
        aws_region=aws.region,
        aws_profile=aws.profile,
        exclude=tuple(config.app.exclude),
        local_python=config.local.python,
        binary_media_types=tuple(
            config.app.binary_media_types
            if overrides.binary_media_types is None
            else overrides.binary_media_types
        ),
        cors=config.cors.config() if config.cors is not None else None,
        policies=tuple(config.app.policies if overrides.policies is None else overrides.policies),
        user_tags={**config.app.tags, **(overrides.tags or {})},
        queues=dict(config.queues),
        extra_resources=_extra_resources(project),
        watch=_watch_settings(project, env_name, overrides.deploy or config.deploy),
        dependencies=config.app.dependencies,
        optional_dependencies=tuple(config.app.optional_dependencies),
        architecture=config.app.architecture,
        canary_percent=_canary_percent(overrides.deploy or config.deploy),
    )
    check_function_options(project, target)
    if len(target.environment) > STACK_NAME_LIMIT:
        raise ConfigError(
            f"environment name {target.environment!r} is longer than CloudFormation's "
            f"{STACK_NAME_LIMIT}-character stack name limit",
            where=project.location(("app", "name")),
            hint="use a shorter app name, env or extra",
        )
    return target


def _extra_resources(project: Project) -> ExtraResources | None:
    """The [resources] template, read and checked (a ConfigError naming its line if not)."""
    section = project.config.resources
    if section is None:
        return None
    return read_resources_file(project.root, section.template, project.location(("resources",)))


def _watch_settings(project: Project, env_name: str, section: DeploySection) -> WatchSettings:
    """The [deploy] table in force (the env's own, or the file's) as watch settings."""
    where = project.location(("env", env_name, "deploy", "watch"), ("deploy", "watch"))
    return WatchSettings(
        seconds=parse_duration(section.watch) if section.watch is not None else None,
        max_error_rate=(
            DEFAULT_MAX_ERROR_RATE if section.max_error_rate is None else section.max_error_rate
        ),
        max_p99_ms=section.max_p99_ms,
        where=where,
    )


def _canary_percent(section: DeploySection) -> float | None:
    return parse_percent(section.canary) if section.canary is not None else None


# SnapStart's Python runtimes: python3.12 and later (Lambda's SnapStart documentation)
SNAP_START_PYTHON = (3, 12)


def check_function_options(project: Project, target: Target) -> None:
    """``snap_start`` and ``provisioned_concurrency`` where Lambda accepts them, else a
    ConfigError naming the key (exit 2 before anything changes)."""
    for name, settings in target.functions.items():

        def where(key: str, name: str = name) -> str:
            return project.location(
                ("env", target.env, "functions", name, key), ("functions", name, key)
            )

        if settings.snap_start and not _snap_start_runtime(target.runtime):
            raise ConfigError(
                f"[functions.{name}] snap_start needs Python 3.12 or later; the function "
                f"runs on {target.runtime}",
                where=where("snap_start"),
                hint="set [app] runtime to python3.12 or later, or remove snap_start",
            )
        if settings.snap_start and settings.provisioned_concurrency:
            raise ConfigError(
                f"[functions.{name}] sets both snap_start and provisioned_concurrency; Lambda "
                "does not support SnapStart with provisioned concurrency",
                where=where("provisioned_concurrency"),
                hint="keep one of the two",
            )
        reserved, provisioned = settings.reserved_concurrency, settings.provisioned_concurrency
        if provisioned and reserved is not None and provisioned > reserved:
            raise ConfigError(
                f"[functions.{name}] provisioned_concurrency {provisioned} is more than its "
                f"reserved_concurrency {reserved}; Lambda refuses provisioned concurrency "
                "greater than the function's reserved concurrency",
                where=where("provisioned_concurrency"),
                hint=f"set provisioned_concurrency to at most {reserved}, or raise "
                "reserved_concurrency",
            )


def _snap_start_runtime(runtime: str) -> bool:
    found = re.match(r"^python(\d+)\.(\d+)$", runtime)
    return found is not None and (int(found[1]), int(found[2])) >= SNAP_START_PYTHON


def _check_name(what: str, value: str, pattern: re.Pattern[str], source: str) -> None:
    if not pattern.match(value) or len(value) > 32:
        raise ConfigError(
            f"invalid {what} {value!r} (from {source})",
            where=source,
            hint=f"an {what} is at most 32 lowercase letters, digits and '-'",
        )


def _domain_spec(section: DomainSection | None) -> DomainSpec | None:
    if section is None:
        return None
    return DomainSpec(
        name=section.name,
        base_path=section.base_path,
        certificate_arn=section.certificate_arn,
        hosted_zone=section.hosted_zone,
    )
