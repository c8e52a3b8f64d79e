"""Bad input, as a new user would type it: exit 2, a clear message on stderr, the
`--json` error object on stdout, no traceback, and nothing changed in the cloud."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conftest import run_teal_subprocess
from e2e import LocalCloudEnv
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.paths import LocalPaths


def refused(cloud: LocalCloudEnv, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command that must be refused as bad input; its JSON error object."""
    argv = [*args, "--json", "--project", str(cloud.project)]
    result = run_teal_subprocess(*argv, env={**cloud.env, **(env or {})})
    assert result.code == 2, result.err + result.out
    assert "Traceback" not in result.err
    assert result.err.startswith("error:") or result.err.startswith("Usage:"), result.err
    error: dict[str, Any] = result.json()["error"]
    assert error["kind"] == "bad-input"
    assert no_environment_deployed(cloud)
    return error


def no_environment_deployed(cloud: LocalCloudEnv) -> bool:
    """Read the local cloud's own state (the project's config may be the bad input)."""
    local = LocalCloud(LocalPaths(cloud.home))
    try:
        return local.list_stacks({}) == []
    finally:
        local.close()


def edit_toml(cloud: LocalCloudEnv, old: str, new: str) -> None:
    toml = cloud.project / "teal.toml"
    text = toml.read_text()
    assert old in text, old
    toml.write_text(text.replace(old, new, 1))


def line_in_toml(cloud: LocalCloudEnv, text: str) -> str:
    lines = (cloud.project / "teal.toml").read_text().splitlines()
    return f"{cloud.project / 'teal.toml'}:{lines.index(text) + 1}"


@pytest.mark.parametrize(
    ("value", "words"),
    [('"512"', "must be a whole number"), ("256.0", "a decimal number")],
)
def test_a_quoted_or_decimal_memory_is_refused(
    local_cloud: LocalCloudEnv, value: str, words: str
) -> None:
    edit_toml(local_cloud, "memory = 256", f"memory = {value}")
    error = refused(local_cloud, "deploy")
    assert words in error["what"] and "'app.memory'" in error["what"]
    assert error["where"] == line_in_toml(local_cloud, f"memory = {value}")


def test_a_quoted_timeout_is_refused(local_cloud: LocalCloudEnv) -> None:
    edit_toml(local_cloud, "timeout = 10", 'timeout = "10"')
    assert "'app.timeout': must be a whole number" in refused(local_cloud, "deploy")["what"]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("AWS_REGION", "Lambda reserves this name"),
        ("1ST_TRY", "Lambda accepts variable names"),
        ("TEAL_ENVIRONMENT", "teal sets this variable"),
    ],
)
def test_environment_variables_lambda_would_refuse(
    local_cloud: LocalCloudEnv, name: str, words: str
) -> None:
    edit_toml(local_cloud, 'BLOG_TITLE = "The teal blog"', f'{name} = "x"')
    error = refused(local_cloud, "deploy")
    assert words in error["what"]
    assert error["where"] == line_in_toml(local_cloud, f'{name} = "x"')


def test_environment_variables_over_4_kb(local_cloud: LocalCloudEnv) -> None:
    big = f'[env.prod.environment]\nBIG = "{"x" * 4100}"\n'
    edit_toml(local_cloud, "[env.prod]\nmemory = 512\n", f"[env.prod]\nmemory = 512\n\n{big}")
    dev = run_teal_subprocess("plan", "--project", str(local_cloud.project), env=local_cloud.env)
    assert dev.code == 0, dev.err  # only prod's functions carry the big variable
    error = refused(local_cloud, "deploy", "--env", "prod")
    assert "allows 4096 bytes (4 KB) per function" in error["what"]
    assert error["where"] == line_in_toml(local_cloud, "[env.prod.environment]")


def test_a_function_table_naming_no_function(local_cloud: LocalCloudEnv) -> None:
    edit_toml(local_cloud, "[env.prod]\n", "[functions.pots]\nmemory = 512\n\n[env.prod]\n")
    for command in ("routes", "deploy"):
        error = refused(local_cloud, command)
        assert error["what"] == "[functions.pots] names no function of the app"
        assert error["where"] == line_in_toml(local_cloud, "[functions.pots]")
        assert "did you mean [functions.posts]?" in error["hint"]


@pytest.mark.parametrize("port", ["abc", "99999", "80", "-1"])
def test_a_bad_local_port_names_the_variable_and_the_range(
    local_cloud: LocalCloudEnv, port: str
) -> None:
    for command in (["deploy"], ["local", "start"]):
        error = refused(local_cloud, *command, env={"TEAL_LOCAL_PORT": port})
        assert error["where"] == "TEAL_LOCAL_PORT"
        assert f"{port!r} is not a port number" in error["what"]
        assert "from 1024 to 65535" in error["hint"]


def test_template_out_where_nothing_can_be_written(local_cloud: LocalCloudEnv) -> None:
    error = refused(local_cloud, "template", "--out", "/proc/nope")
    assert error["where"] == "/proc/nope"
    assert re.match(r"cannot write the templates there: \w", error["what"])


@pytest.mark.parametrize("flag", ["--env", "--extra"])
def test_an_empty_env_or_extra_flag(local_cloud: LocalCloudEnv, flag: str) -> None:
    error = refused(local_cloud, "deploy", flag, "")
    assert f"Invalid value for '{flag}': must not be empty" in error["what"]


def test_an_empty_teal_extra_variable_means_no_extra(local_cloud: LocalCloudEnv) -> None:
    env = {**local_cloud.env, "TEAL_EXTRA": "", "TEAL_ENV": ""}
    result = run_teal_subprocess("plan", "--json", "--project", str(local_cloud.project), env=env)
    assert result.code == 0, result.err
    assert result.json()["stack"] == "blog-dev"


def test_a_base_path_no_request_could_reach(local_cloud: LocalCloudEnv) -> None:
    edit_toml(
        local_cloud, 'name = "blog.example.com"', 'name = "blog.example.com"\nbase_path = "../x"'
    )
    error = refused(local_cloud, "deploy")
    assert "'domain.base_path': a '.' or '..' level can never be reached" in error["what"]
    assert error["where"] == line_in_toml(local_cloud, 'base_path = "../x"')
    assert "a path such as 'v1'" in error["hint"]


def test_a_route_no_request_could_reach(local_cloud: LocalCloudEnv) -> None:
    app = local_cloud.project / "app.py"
    app.write_text(app.read_text().replace('@app.route("/health")', '@app.route("/../health")'))
    error = refused(local_cloud, "deploy")
    assert "route '/../health' (health): path part '..' can never be reached" in error["what"]
    assert error["hint"]


# Every command that reads the project (its app, its files, its teal.toml).
READING_COMMANDS = [["routes"], ["template"], ["package", "--out", "{out}"], ["deploy"]]


def each_reading_command(cloud: LocalCloudEnv, *, packaging_only: bool = False) -> list[list[str]]:
    out = str(cloud.project.parent / "package-out")
    commands = [[part.format(out=out) for part in command] for command in READING_COMMANDS]
    return [c for c in commands if not packaging_only or c[0] != "routes"]


def test_a_requirements_file_that_is_not_utf8(local_cloud: LocalCloudEnv) -> None:
    requirements = local_cloud.project / "requirements.txt"
    requirements.write_bytes(b"# deps\ncaf\xe9==1.0\n")
    for command in each_reading_command(local_cloud):
        error = refused(local_cloud, *command)
        assert error["what"] == (
            "requirements.txt is not UTF-8 text: byte 0xe9 at line 2, column 4"
        ), command
        assert error["where"] == f"{requirements}:2"
        assert "save it as UTF-8" in error["hint"]


@pytest.mark.parametrize("loop", [{"self": "self"}, {"a": "b", "b": "a"}])
def test_a_symlink_loop_in_the_project(local_cloud: LocalCloudEnv, loop: dict[str, str]) -> None:
    for name, target in loop.items():
        (local_cloud.project / name).symlink_to(target)
    for command in each_reading_command(local_cloud, packaging_only=True):
        error = refused(local_cloud, *command)
        assert error["what"].startswith("symlink loop"), command
        assert error["where"] == str(local_cloud.project / sorted(loop)[0])
        assert "remove the link" in error["hint"]


def test_an_ignore_file_that_is_not_utf8(local_cloud: LocalCloudEnv) -> None:
    ignore = local_cloud.project / ".tealignore"
    ignore.write_bytes(b"tests/\n\xff.db\n")
    error = refused(local_cloud, "package", "--out", str(local_cloud.project.parent / "out"))
    assert error["where"] == f"{ignore}:2"
    assert "UTF-8" in error["what"] and "UTF-8" in error["hint"]


def test_arrays_nested_100000_deep_in_teal_toml(local_cloud: LocalCloudEnv) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    edit_toml(local_cloud, 'BLOG_TITLE = "The teal blog"', f"DEEP = {deep}")
    for command in each_reading_command(local_cloud):
        error = refused(local_cloud, *command)
        assert error["what"] == (
            "a value nests arrays or tables too deeply for teal to read "
            "(key 'app.environment.DEEP')"
        ), command
        assert error["where"] == line_in_toml(local_cloud, f"DEEP = {deep}")
        assert error["hint"]
