"""`teal template` and `teal plan` through the CLI, on the example app and a large one."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import EXAMPLE_BLOG, Run
from test_template_support import lint_errors

Cli = Callable[..., Run]

LARGE_APP = """\
from teal import App

app = App()

def make(i):
    def handler(request):
        return {"i": i}
    return handler

for i in range(500):
    app.route(f"/g{i % 7}/items{i}/{{id}}", methods=["GET"], function=f"f{i % 20}")(make(i))
"""


@pytest.fixture(autouse=True)
def own_teal_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`plan` without --against reads the local cloud: give it an empty one."""
    monkeypatch.setenv("TEAL_HOME", str(tmp_path / "teal-home"))


@pytest.fixture
def blog(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE_BLOG, tmp_path / "blog"))


def test_template_out_writes_a_template_cfn_lint_accepts(
    teal_cli: Cli, blog: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = teal_cli("template", "--project", str(blog), "--out", str(out))
    assert result.code == 0, result.err
    main = out / "blog-dev.template.json"
    assert main.is_file() and str(main) in result.out
    template = json.loads(main.read_text())
    assert template["Parameters"] == {
        "ArtifactBucket": {"Type": "String", "Description": "Bucket of teal's artifacts"}
    }
    assert lint_errors(template) == []


def test_template_json_is_one_object(teal_cli: Cli, blog: Path) -> None:
    result = teal_cli("template", "--project", str(blog), "--json", "--env", "prod", "--extra", "2")
    assert result.code == 0, result.err
    body = result.json()
    assert body["stack"] == "blog-prod-2"
    assert body["code_key"].startswith("code/") and body["code_key"].endswith(".zip")
    assert body["rest_api_logical_id"] == "RestApi"
    assert body["nested"] == {}
    assert "RestApi" in body["template"]["Resources"]


def test_plan_without_a_deployed_template_is_a_create(teal_cli: Cli, blog: Path) -> None:
    result = teal_cli("plan", "--project", str(blog), "--json")
    assert result.code == 0, result.err
    body = result.json()
    assert (body["stack"], body["action"]) == ("blog-dev", "create")
    assert body["api"] == {
        "logical_id": "RestApi",
        "current_logical_id": None,
        "replace": False,
        "reasons": [],
    }
    assert body["changes"]["added"]


def test_plan_against_its_own_template_is_a_noop(teal_cli: Cli, blog: Path, tmp_path: Path) -> None:
    assert teal_cli("template", "--project", str(blog), "--out", str(tmp_path / "old")).code == 0
    old = tmp_path / "old" / "blog-dev.template.json"
    body = teal_cli("plan", "--project", str(blog), "--json", "--against", str(old)).json()
    assert body["action"] == "noop" and body["api"]["replace"] is False
    text = teal_cli("plan", "--project", str(blog), "--against", str(old))
    assert "no changes" in text.out


def test_plan_against_json_output_of_template(teal_cli: Cli, blog: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(teal_cli("template", "--project", str(blog), "--json").out)
    body = teal_cli("plan", "--project", str(blog), "--json", "--against", str(old)).json()
    assert body["action"] == "noop"


def test_plan_explains_a_variable_rename(teal_cli: Cli, blog: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(teal_cli("template", "--project", str(blog), "--json").out)
    app = blog / "app.py"
    app.write_text(
        app.read_text().replace("/posts/{id}", "/posts/{post_id}").replace('["id"]', '["post_id"]')
    )
    body = teal_cli("plan", "--project", str(blog), "--json", "--against", str(old)).json()
    assert body["action"] == "update"
    api = body["api"]
    assert (api["replace"], api["logical_id"], api["current_logical_id"]) == (
        True,
        "RestApi1",
        "RestApi",
    )
    (reason,) = api["reasons"]
    assert reason["rule"] == "sibling-variable" and reason["path"] == "/posts/{post_id}"
    assert reason["message"].startswith("A sibling ({id}) of this resource already has a variable")
    text = teal_cli("plan", "--project", str(blog), "--against", str(old)).out
    assert "renaming {id} to {post_id} under /posts needs a new API" in text
    assert "RestApi -> RestApi1" in text


def test_plan_against_a_large_app_reads_nested_templates_beside_it(
    teal_cli: Cli, make_project: Callable[..., Path], tmp_path: Path
) -> None:
    project = make_project(LARGE_APP)
    out = tmp_path / "out"
    assert teal_cli("template", "--project", str(project), "--out", str(out)).code == 0
    nested = sorted((out / "templates").glob("*.json"))
    assert len(nested) >= 2
    main = out / "demo-dev.template.json"
    assert (
        teal_cli("plan", "--project", str(project), "--json", "--against", str(main)).json()[
            "action"
        ]
        == "noop"
    )
    nested[0].unlink()
    result = teal_cli("plan", "--project", str(project), "--json", "--against", str(main))
    assert result.code == 2 and "nested template" in result.err


def test_plan_refuses_a_file_that_is_not_a_template(
    teal_cli: Cli, blog: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    result = teal_cli("plan", "--project", str(blog), "--against", str(bad))
    assert result.code == 2 and "not a CloudFormation template" in result.err
    bad.write_text("{not json")
    assert teal_cli("plan", "--project", str(blog), "--against", str(bad)).code == 2


def test_template_without_out_prints_the_main_template(teal_cli: Cli, blog: Path) -> None:
    result = teal_cli("template", "--project", str(blog))
    assert result.code == 0, result.err
    assert "RestApi" in json.loads(result.out)["Resources"]
