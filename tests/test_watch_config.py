"""[deploy] watch, max_error_rate and max_p99_ms: validated as strictly as the rest of
teal.toml, and refused (exit 2, the line named, nothing changed) when they cannot be
used; teal switch's and teal preview's flags likewise."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_teal_subprocess
from e2e import LocalCloudEnv, rename_id_to_post_id
from teal.project.config import WatchSettings, load_project, parse_duration, resolve_target
from teal.runtime.errors import ConfigError
from test_bad_input_cli import edit_toml, line_in_toml, refused

TOML = """\
[app]
name = "blog"

[deploy]
watch = "2m"
max_error_rate = 0.5
max_p99_ms = 800

[env.prod.deploy]
watch = "10m"
"""


def test_deploy_watch_and_its_limits_reach_the_target(tmp_path: Path) -> None:
    (tmp_path / "teal.toml").write_text(TOML)
    project = load_project(tmp_path)
    dev = resolve_target(project, env="dev", environ={})
    assert dev.watch == WatchSettings(120, 0.5, 800.0, f"{tmp_path / 'teal.toml'}:5")
    prod = resolve_target(project, env="prod", environ={})  # the env's table, whole
    assert prod.watch == WatchSettings(600, 1.0, None, f"{tmp_path / 'teal.toml'}:10")
    (tmp_path / "teal.toml").write_text('[app]\nname = "blog"\n')
    assert resolve_target(load_project(tmp_path), environ={}).watch.seconds is None


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('watch = "2 min"', "'deploy.watch': must be a duration such as 90s, 2m or 1h"),
        ("watch = 120", "'deploy.watch': must be a string"),
        ('watch = "2h"', "'deploy.watch': must be between 1s and 60m"),
        ('max_error_rate = "1"', "'deploy.max_error_rate': must be a number, written without"),
        ("max_error_rate = 150", "'deploy.max_error_rate': Input should be less than or equal"),
        ("max_p99_ms = 0", "'deploy.max_p99_ms': Input should be greater than 0"),
        ("max_p99 = 800", "unknown key 'deploy.max_p99' (did you mean 'max_p99_ms'?)"),
    ],
)
def test_a_bad_watch_setting_names_its_line(tmp_path: Path, line: str, words: str) -> None:
    (tmp_path / "teal.toml").write_text(f'[app]\nname = "blog"\n\n[deploy]\n{line}\n')
    with pytest.raises(ConfigError) as error:
        load_project(tmp_path)
    assert words in error.value.what
    assert error.value.where == f"{tmp_path / 'teal.toml'}:5"


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90s", "2m", "1h", " 5m ")] == [90, 120, 3600, 300]
    for bad in ("", "5", "2 m", "1.5m", "0s", "61m", "2d"):
        with pytest.raises(ValueError, match="must be"):
            parse_duration(bad)


def test_a_watch_too_short_for_the_cloud_is_refused_before_anything_starts(
    local_cloud: LocalCloudEnv,
) -> None:
    edit_toml(local_cloud, "[deploy]\n", '[deploy]\nwatch = "2s"\n')
    error = refused(local_cloud, "switch", "--to", "2")
    assert "a watch of 2s is too short to judge on the local cloud" in error["what"]
    assert error["where"] == line_in_toml(local_cloud, 'watch = "2s"')
    assert error["hint"] == "watch at least 3s"
    flagged = refused(local_cloud, "switch", "--to", "2", "--watch", "1s")
    assert flagged["where"] == "--watch"
    assert not (local_cloud.home / "gateway.json").exists()  # no gateway was started


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("switch", "--to", "2", "--watch", "5 minutes"), "must be a duration"),
        (("switch", "--to", "2", "--watch", "1m", "--no-watch"), "exclude each other"),
        (("switch", "--to", "2", "--max-error-rate", "120"), "--max-error-rate"),
        (("preview",), "give either --to TARGET or --off"),
        (("preview", "--to", "2", "--off"), "give either --to TARGET or --off"),
        (("preview", "--off", "--domain", "other.example.com"), "no env of blog has the domain"),
    ],
)
def test_bad_flags_of_switch_and_preview(
    local_cloud: LocalCloudEnv, args: tuple[str, ...], words: str
) -> None:
    result = run_teal_subprocess(*args, "--project", str(local_cloud.project), env=local_cloud.env)
    assert result.code == 2, result.err
    assert words in result.err and "Traceback" not in result.err


def test_a_replacements_watch_too_short_is_refused_before_the_deploy_begins(
    local_cloud: LocalCloudEnv,
) -> None:
    first = local_cloud.teal_ok("deploy", "--json").json()
    edit_toml(local_cloud, "[deploy]\n", '[deploy]\nwatch = "2s"\n')
    local_cloud.teal_ok("deploy")  # an update in place: no re-point to watch
    rename_id_to_post_id(local_cloud)  # a replacement behind the live domain: watched
    refused = local_cloud.teal("deploy", "--json")
    assert refused.code == 2, refused.err
    error = refused.json()["error"]
    assert error["where"] == line_in_toml(local_cloud, 'watch = "2s"')
    assert "too short to judge on the local cloud" in error["what"]
    status = local_cloud.teal_ok("status", "--json").json()
    assert [h["state"] for h in status["history"]] == ["done", "done"]  # nothing recorded
    assert status["environments"][0]["endpoint"] == first["endpoint"]
