"""teal.toml: schema, validation, and resolution to a deploy :class:`Target`.

Precedence, lowest first: ``[app]``/``[domain]``/``[deploy]``, then the
``[env.<name>]`` overrides of the chosen env, then environment variables
(``TEAL_ENV``, ``TEAL_EXTRA``, ``TEAL_CLOUD``), then command-line flags.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from teal.cloud.base import DomainSpec
from teal.errors import ConfigError

CONFIG_FILE = "teal.toml"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
EXTRA_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
Runtime = Literal["python3.11", "python3.12", "python3.13"]
Cloud = Literal["local", "aws"]
AutoReplace = Literal["auto", "prompt", "never"]
STACK_NAME_LIMIT = 128


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FunctionSettings(_Strict):
    """``[functions.<name>]``: settings of one Lambda function."""

    memory: int | None = Field(default=None, ge=128, le=10240)
    timeout: int | None = Field(default=None, ge=1, le=900)
    environment: dict[str, str] = Field(default_factory=dict)


class AppSection(_Strict):
    name: str
    entry: str = "app:app"
    runtime: Runtime = "python3.12"
    memory: int = Field(default=256, ge=128, le=10240)
    timeout: int = Field(default=10, ge=1, le=900)
    cloud: Cloud = "local"
    environment: dict[str, str] = Field(default_factory=dict)

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
        if not re.match(r"^[A-Za-z0-9._~-]*(/[A-Za-z0-9._~-]+)*$", value.strip("/")):
            raise ValueError("must be '' (the root) or a path such as 'v1'")
        return value.strip("/")


class DeploySection(_Strict):
    auto_replace: AutoReplace = "auto"


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
    cloud: Cloud | None = None
    environment: dict[str, str] | None = None
    domain: DomainSection | None = None
    deploy: DeploySection | None = None
    aws: AwsSection | None = None
    functions: dict[str, FunctionSettings] | None = None


class ConfigFile(_Strict):
    app: AppSection
    aws: AwsSection = AwsSection()
    domain: DomainSection | None = None
    deploy: DeploySection = DeploySection()
    checks: list[CheckSection] = Field(default_factory=list)
    functions: dict[str, FunctionSettings] = Field(default_factory=dict)
    env: dict[str, EnvOverrides] = Field(default_factory=dict)

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, EnvOverrides]) -> dict[str, EnvOverrides]:
        for name in value:
            if not NAME_PATTERN.match(name):
                raise ValueError(f"env name {name!r} must be lowercase letters, digits and '-'")
        return value


@dataclass(frozen=True)
class Check:
    path: str
    method: str = "GET"
    status: int = 200
    contains: str | None = None
    header: str | None = None


@dataclass(frozen=True)
class Project:
    """A loaded, validated teal.toml and the folder it lives in."""

    root: Path
    config: ConfigFile


@dataclass(frozen=True)
class Target:
    """One environment to plan, deploy or operate on, with its effective settings."""

    project_dir: Path
    app: str
    env: str
    extra: str | None
    cloud: Cloud
    entry: str
    runtime: str
    memory: int
    timeout: int
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    functions: Mapping[str, FunctionSettings] = field(default_factory=dict)
    domain: DomainSpec | None = None
    auto_replace: AutoReplace = "auto"
    checks: tuple[Check, ...] = ()
    aws_region: str | None = None
    aws_profile: str | None = None

    @property
    def environment(self) -> str:
        """``<app>-<env>`` or ``<app>-<env>-<extra>``: the environment's name."""
        return "-".join(p for p in (self.app, self.env, self.extra) if p)

    @property
    def stack_name(self) -> str:
        return self.environment

    @property
    def stage(self) -> str:
        """The API Gateway stage: the env name, in the characters stages allow."""
        return self.env.replace("-", "_")

    def function_settings(self, function: str) -> tuple[int, int, dict[str, str]]:
        """(memory MB, timeout s, environment variables) for one function."""
        own = self.functions.get(function, FunctionSettings())
        env = {**self.environment_variables, **own.environment}
        return own.memory or self.memory, own.timeout or self.timeout, env

    def tags(self) -> dict[str, str]:
        """Tags that mark a stack as this environment's, for ownership checks."""
        tags = {"teal:app": self.app, "teal:env": self.env, "teal:environment": self.environment}
        if self.extra:
            tags["teal:extra"] = self.extra
        return tags


def load_project(project_dir: Path | str = ".") -> Project:
    """Read and validate ``teal.toml``; raise :class:`ConfigError` naming the key."""
    root = Path(project_dir).resolve()
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {CONFIG_FILE} in {root}",
            hint="run teal from your project folder, pass --project DIR, or create one with "
            "`teal init`",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("not UTF-8 text", where=str(path)) from exc
    try:
        config = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe_validation(exc), where=str(path)) from exc
    return Project(root, config)


def _describe_validation(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "(file)"
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown key '{key}'")
        elif error["type"] == "missing":
            lines.append(f"missing key '{key}'")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"'{key}': {message} (got {error.get('input')!r})")
    return "invalid configuration:\n" + "\n".join(f"  - {line}" for line in lines)


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
    env_name = env or environ.get("TEAL_ENV") or "dev"
    extra_name = extra if extra is not None else environ.get("TEAL_EXTRA")
    extra_name = extra_name or None
    _check_name("env", env_name, NAME_PATTERN, "--env" if env else "TEAL_ENV")
    if extra_name is not None:
        _check_name("extra", extra_name, EXTRA_PATTERN, "--extra" if extra else "TEAL_EXTRA")
    config = project.config
    overrides = config.env.get(env_name, EnvOverrides())
    chosen_cloud = cloud or environ.get("TEAL_CLOUD") or overrides.cloud or config.app.cloud
    if chosen_cloud not in ("local", "aws"):
        raise ConfigError(f"unknown cloud {chosen_cloud!r}", hint="use 'local' or 'aws'")
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
        environment_variables={**config.app.environment, **(overrides.environment or {})},
        functions={**config.functions, **(overrides.functions or {})},
        domain=_domain_spec(domain),
        auto_replace=(overrides.deploy or config.deploy).auto_replace,
        checks=tuple(Check(**c.model_dump()) for c in config.checks),
        aws_region=aws.region,
        aws_profile=aws.profile,
    )
    if len(target.stack_name) > STACK_NAME_LIMIT:
        raise ConfigError(
            f"environment name {target.stack_name!r} is longer than CloudFormation's "
            f"{STACK_NAME_LIMIT}-character stack name limit",
            hint="use a shorter app name, env or extra",
        )
    return target


def _check_name(what: str, value: str, pattern: re.Pattern[str], source: str) -> None:
    if not pattern.match(value) or len(value) > 32:
        raise ConfigError(
            f"invalid {what} {value!r} (from {source})",
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
