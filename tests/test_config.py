"""teal.toml validation and target resolution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from teal.project.config import (
    DEFAULT_BINARY_MEDIA_TYPES,
    Project,
    check_function_tables,
    load_project,
    resolve_target,
)
from teal.runtime.errors import ConfigError


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
    assert (target.environment, target.stage) == ("blog-dev", "dev")
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
    assert target.variables == {"GREETING": "hello"}
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


@pytest.mark.parametrize(
    ("base_path", "words"),
    [
        ("../x", "a '.' or '..' level can never be reached"),
        ("v1/./x", "a '.' or '..' level can never be reached"),
        ("..", "a '.' or '..' level can never be reached"),
        ("v1//x", "levels of letters, digits and $-_.+!*'(), joined by '/'"),
        ("caf\u00e9", "levels of letters, digits"),
        ("a~b", "levels of letters, digits"),  # AWS's list has no '~'
        ("a" * 301, "300 characters at most"),
    ],
)
def test_a_base_path_api_gateway_refuses_or_no_request_reaches_is_refused(
    tmp_path: Path, base_path: str, words: str
) -> None:
    text = f'[app]\nname = "blog"\n\n[domain]\nname = "a.example.com"\nbase_path = "{base_path}"\n'
    with pytest.raises(ConfigError) as info:
        load_project(write(tmp_path, text))
    assert words in info.value.what and "'domain.base_path'" in info.value.what
    assert info.value.where == f"{tmp_path / 'teal.toml'}:6"
    assert info.value.hint is not None and "a path such as 'v1'" in info.value.hint
    per_env = '[app]\nname = "blog"\n[env.prod.domain]\nname = "a.example.com"\n'
    per_env += f'base_path = "{base_path}"\n'
    with pytest.raises(ConfigError, match=r"'env\.prod\.domain\.base_path'"):
        load_project(write(tmp_path, per_env))


@pytest.mark.parametrize("base_path", ["", "v1", "/v1/", "shop/v2", "v1.2", "$a-_.+!*'()"])
def test_base_paths_api_gateway_takes_are_kept(tmp_path: Path, base_path: str) -> None:
    text = f'[app]\nname = "blog"\n[domain]\nname = "a.example.com"\nbase_path = "{base_path}"\n'
    target = resolve_target(load_project(write(tmp_path, text)), environ={})
    assert target.domain is not None and target.domain.base_path == base_path.strip("/")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no teal\.toml"):
        load_project(tmp_path)


@pytest.mark.parametrize(("env", "extra"), [("Prod", None), ("dev", "two words"), ("-x", None)])
def test_bad_env_or_extra(tmp_path: Path, env: str, extra: str | None) -> None:
    project = load_project(write(tmp_path, '[app]\nname = "blog"\n'))
    with pytest.raises(ConfigError, match=r"invalid"):
        resolve_target(project, env=env, extra=extra, environ={})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('memory = "512"', "'app.memory': must be a whole number, written without quotes"),
        ("memory = 256.0", "(got 256.0, a decimal number)"),
        ('timeout = "10"', "'app.timeout': must be a whole number"),
        ("memory = true", "(got True, a boolean)"),
        ("name = 3", "'app.name': must be a string, in quotes"),
    ],
)
def test_values_are_strictly_typed(tmp_path: Path, line: str, message: str) -> None:
    text = f"[app]\n{line}\n" if line.startswith("name") else f'[app]\nname = "blog"\n{line}\n'
    with pytest.raises(ConfigError) as info:
        load_project(write(tmp_path, text))
    assert message in info.value.render()


def test_toml_integers_stay_integers(tmp_path: Path) -> None:
    config = load_project(write(tmp_path, '[app]\nname = "blog"\nmemory = 512\n')).config
    assert config.app.memory == 512 and type(config.app.memory) is int


def test_errors_name_the_line_of_the_key(tmp_path: Path) -> None:
    text = (
        '# blog\n[app]\nname = "blog"\n\n[functions.posts]\nmemory = 1024\n\n'
        '[env.prod]\ntimeout = "30"\n\n[[checks]]\npath = "/a"\n\n[[checks]]\npath = "b"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_project(write(tmp_path, text))
    error = info.value
    assert error.where == f"{tmp_path / 'teal.toml'}:9"
    assert "line 9: 'env.prod.timeout'" in error.what
    assert "line 15: 'checks.1.path'" in error.what


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ('[app]\nname = "blog"\nruntim = "python3.12"\n', "(did you mean 'runtime'?)"),
        ('[app]\nname = "blog"\n[domian]\nname = "a.example.com"\n', "(did you mean 'domain'?)"),
        ('[app]\nname = "blog"\n[env.prod]\nmemroy = 512\n', "(did you mean 'memory'?)"),
        ('[app]\nname = "blog"\n[[checks]]\npath = "/"\nstatuss = 200\n', "'status'?"),
    ],
)
def test_unknown_keys_suggest_the_closest_one(tmp_path: Path, text: str, suggestion: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_project(write(tmp_path, text))
    assert suggestion in info.value.what


@pytest.mark.parametrize(
    ("table", "name", "message"),
    [
        ("[app.environment]", "1ST", "Lambda accepts variable names of a letter"),
        ("[app.environment]", "X", "(at least two characters)"),
        ("[app.environment]", '"MY-VAR"', "Lambda accepts variable names"),
        ("[functions.posts.environment]", "AWS_REGION", "Lambda reserves this name"),
        ("[env.prod.environment]", "_HANDLER", "Lambda reserves this name"),
        ("[env.prod.functions.posts.environment]", "AWS_LAMBDA_RUNTIME_API", "Lambda reserves"),
        ("[app.environment]", "TEAL_ENVIRONMENT", "teal sets this variable on every function"),
        ("[app.environment]", "TEAL_FUNCTION", "teal sets this variable on every function"),
    ],
)
def test_environment_variable_names_lambda_or_teal_refuse(
    tmp_path: Path, table: str, name: str, message: str
) -> None:
    text = f'[app]\nname = "blog"\n\n{table}\nOK_NAME = "1"\n{name} = "x"\n'
    with pytest.raises(ConfigError) as info:
        load_project(write(tmp_path, text))
    assert message in info.value.what
    assert info.value.where == f"{tmp_path / 'teal.toml'}:6"


def test_time_zone_is_a_variable_functions_may_set(tmp_path: Path) -> None:
    text = '[app]\nname = "blog"\n[app.environment]\nTZ = "Europe/Paris"\n'
    assert load_project(write(tmp_path, text)).config.app.variables == {"TZ": "Europe/Paris"}


def test_variables_over_4_kb_are_refused_with_the_table_line(tmp_path: Path) -> None:
    big = "x" * 2100
    text = (
        f'[app]\nname = "blog"\n[app.environment]\nA1 = "{big}"\n\n'
        f'[functions.posts.environment]\nB1 = "{big}"\n'
    )
    target = resolve_target(load_project(write(tmp_path, text)), environ={})
    assert target.function_settings("other")[2] == {"A1": big}  # 2 KB and teal's: fits
    with pytest.raises(ConfigError) as info:
        target.function_settings("posts")
    assert "take 4" in info.value.what and "allows 4096 bytes (4 KB)" in info.value.what
    assert info.value.where == f"{tmp_path / 'teal.toml'}:6"


def test_the_size_counts_the_variables_teal_sets(tmp_path: Path) -> None:
    from teal.project.config import VARIABLES_SIZE_LIMIT, variables_size

    project = load_project(write(tmp_path, '[app]\nname = "blog"\n'))
    target = resolve_target(project, environ={})
    own = variables_size(target.teal_variables("posts"))
    room = VARIABLES_SIZE_LIMIT - own - len(',"AB":""')
    fits = resolve_target(_with_variable(tmp_path, "x" * room), environ={})
    assert fits.function_settings("posts")[2] == {"AB": "x" * room}
    too_big = resolve_target(_with_variable(tmp_path, "x" * (room + 1)), environ={})
    with pytest.raises(ConfigError, match="take 4097 bytes"):
        too_big.function_settings("posts")


def _with_variable(tmp_path: Path, value: str) -> Project:
    text = f'[app]\nname = "blog"\n[app.environment]\nAB = "{value}"\n'
    return load_project(write(tmp_path, text))


def test_function_tables_must_name_functions_of_the_app(tmp_path: Path) -> None:
    text = (
        '[app]\nname = "blog"\n\n[functions.posts]\nmemory = 512\n\n'
        "[env.prod.functions.slwo]\ntimeout = 30\n"
    )
    project = load_project(write(tmp_path, text))
    check_function_tables(project, {"posts", "slwo"})
    with pytest.raises(ConfigError) as info:
        check_function_tables(project, {"posts", "slow", "health"})
    error = info.value
    assert error.what == "[env.prod.functions.slwo] names no function of the app"
    assert error.where == f"{tmp_path / 'teal.toml'}:7"
    assert error.hint is not None and "did you mean [env.prod.functions.slow]?" in error.hint
    assert "health, posts, slow" in error.hint


def test_teal_knows_every_variable_it_sets_on_a_function(tmp_path: Path) -> None:
    """The reserved TEAL_* names and the measured size follow what synthesis writes."""
    from teal.cloud.local.functions.secrets_store import ValuesPipe
    from teal.cloud.local.functions.workers import LogStream, worker_environment
    from teal.cloud.local.model import FunctionSpec
    from teal.project.config import TEAL_VARIABLES, variables_size
    from teal.template import synthesize
    from test_template_support import CODE_KEY, table_of

    toml = '[app]\nname = "blog"\n[cors]\nallow_origins = ["https://app.example.com"]\n'
    toml += '[app.environment]\nDB_URL = { ssm = "/blog/db-url" }\n'
    target = resolve_target(load_project(write(tmp_path, toml)), environ={})
    (function,) = [
        r
        for r in synthesize(table_of(["GET /posts -> posts"]), target, CODE_KEY)
        .template["Resources"]
        .values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables == target.teal_variables("posts")
    assert variables_size(variables) == len(json.dumps(variables, separators=(",", ":")))
    spec = FunctionSpec(
        "blog-dev-posts", "arn:fn", "0" * 64, "code/x.zip", "h.h", "python3.12", 128, 3
    )
    log = LogStream("/aws/lambda/x", "stream", tmp_path / "log")
    local = worker_environment(spec, tmp_path, log)
    local.update(ValuesPipe({}).variables)  # how a worker learns where its values come from
    assert {n for n in [*variables, *local] if n.startswith("TEAL_")} == TEAL_VARIABLES


def test_binary_media_types_default_to_a_documented_list_and_env_overrides_win(
    tmp_path: Path,
) -> None:
    text = '[app]\nname = "blog"\n\n[env.prod]\nbinary_media_types = ["*/*"]\n'
    project = load_project(write(tmp_path, text))
    assert resolve_target(project, environ={}).binary_media_types == DEFAULT_BINARY_MEDIA_TYPES
    assert "image/png" in DEFAULT_BINARY_MEDIA_TYPES
    assert resolve_target(project, env="prod", environ={}).binary_media_types == ("*/*",)
    none = load_project(write(tmp_path, '[app]\nname = "blog"\nbinary_media_types = []\n'))
    assert resolve_target(none, environ={}).binary_media_types == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["image"]', "'image' is not a media type"),
        ('["image/png; q=1"]', "is not a media type"),
        ('["image/png", "IMAGE/png"]', "listed twice"),
    ],
)
def test_binary_media_types_must_be_media_ranges(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project(write(tmp_path, f'[app]\nname = "blog"\nbinary_media_types = {value}\n'))
    assert message in caught.value.what
    assert caught.value.where.endswith("teal.toml:3")
