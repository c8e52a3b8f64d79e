"""teal.toml validation and target resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from teal.config import load_project, resolve_target
from teal.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "teal.toml").write_text(text)
    return tmp_path


FULL = """
[app]
name = "blog"
entry = "app:app"
memory = 256
timeout = 10

[app.environment]
GREETING = "hi"

[domain]
name = "api.example.com"
base_path = "/v1/"

[deploy]
auto_replace = "prompt"

[[checks]]
path = "/health"
contains = "ok"

[functions.posts]
memory = 1024

[env.prod]
memory = 512
cloud = "aws"

[env.prod.environment]
GREETING = "hello"

[env.prod.deploy]
auto_replace = "never"
"""


def test_defaults_and_names(tmp_path: Path) -> None:
    target = resolve_target(load_project(write(tmp_path, FULL)), environ={})
    assert (target.app, target.env, target.extra, target.cloud) == ("blog", "dev", None, "local")
    assert target.environment == target.stack_name == "blog-dev"
    assert target.domain is not None and target.domain.base_path == "v1"
    assert target.auto_replace == "prompt"
    assert target.function_settings("posts") == (1024, 10, {"GREETING": "hi"})
    assert target.function_settings("other") == (256, 10, {"GREETING": "hi"})
    assert target.checks[0].path == "/health" and target.checks[0].status == 200


def test_env_overrides_and_extra(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, FULL))
    target = resolve_target(project, env="prod", extra="2", environ={})
    assert target.environment == "blog-prod-2"
    assert (target.memory, target.cloud, target.auto_replace) == (512, "aws", "never")
    assert target.environment_variables == {"GREETING": "hello"}
    assert target.tags()["teal:extra"] == "2"


def test_environment_variables_and_flags_precedence(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, FULL))
    from_vars = resolve_target(project, environ={"TEAL_ENV": "prod", "TEAL_EXTRA": "green"})
    assert from_vars.environment == "blog-prod-green"
    flags = resolve_target(
        project,
        env="dev",
        extra="",
        cloud="local",
        environ={"TEAL_ENV": "prod", "TEAL_EXTRA": "green"},
    )
    assert flags.environment == "blog-dev" and flags.cloud == "local"


def test_stage_name_uses_allowed_characters(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, FULL))
    assert resolve_target(project, env="qa-eu", environ={}).stage == "qa_eu"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[app]\nname = "blog"\ncolour = "red"\n', "unknown key 'app.colour'"),
        ('[app]\nname = "Blog"\n', "'app.name': must be lowercase"),
        ('[app]\nname = "blog"\nmemory = 64\n', "'app.memory'"),
        ('[app]\nname = "blog"\nentry = "app"\n', "'app.entry': must be 'module:attribute'"),
        ('[app]\nname = "blog"\ncloud = "gcp"\n', "'app.cloud'"),
        ('[app]\nname = "blog"\n[deploy]\nauto_replace = "yes"\n', "'deploy.auto_replace'"),
        ('[app]\nname = "blog"\n[domain]\nname = "Not A Domain"\n', "'domain.name'"),
        ('[app]\nname = "blog"\n[[checks]]\npath = "health"\n', "'checks.0.path'"),
        ('[app]\nname = "blog"\n[env.prod]\nname = "x"\n', "unknown key 'env.prod.name'"),
        ("[app]\n", "missing key 'app.name'"),
        ("[app\nname=", "not valid TOML"),
        ('[ap]\nname = "x"\n', "unknown key 'ap'"),
    ],
)
def test_invalid_config_names_the_key_and_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_project(write(tmp_path, text))
    assert message in info.value.render()
    assert str(tmp_path / "teal.toml") in info.value.render()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no teal\.toml"):
        load_project(tmp_path)


@pytest.mark.parametrize(("env", "extra"), [("Prod", None), ("dev", "two words"), ("-x", None)])
def test_bad_env_or_extra(tmp_path: Path, env: str, extra: str | None) -> None:
    project = load_project(write(tmp_path, '[app]\nname = "blog"\n'))
    with pytest.raises(ConfigError, match=r"invalid"):
        resolve_target(project, env=env, extra=extra, environ={})
