"""Published versions and aliases in the template: every invoker goes through the
alias, a changed function publishes a new version and an unchanged one does not, the
canary's templates, and the options Lambda refuses."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from teal.project.config import FunctionSettings, load_project, resolve_target
from teal.runtime.errors import UserError
from teal.template import synthesize
from teal.template.versions import (
    ALIAS_NAME,
    changed_functions,
    function_versions,
    rolled_back,
    with_canary,
)
from test_template_real_apps import real_app
from test_template_support import CODE_KEY, lint_all, make_target, table_of

INVOKERS = {
    "AWS::Lambda::Permission": ("FunctionName",),
    "AWS::Lambda::EventSourceMapping": ("FunctionName",),
}


def _function_arns(value: Any, functions: set[str]) -> list[Any]:
    """Every ``Fn::GetAtt [<function>, Arn]`` inside ``value``."""
    found: list[Any] = []
    if isinstance(value, dict):
        got = value.get("Fn::GetAtt")
        if isinstance(got, list) and got and got[0] in functions and got[1] == "Arn":
            found.append(value)
        for item in value.values():
            found += _function_arns(item, functions)
    elif isinstance(value, list):
        for item in value:
            found += _function_arns(item, functions)
    return found


def test_every_function_has_a_version_and_an_alias_and_nothing_invokes_latest() -> None:
    template = synthesize(real_app(), make_target(), CODE_KEY).template
    resources = template["Resources"]
    functions = {k for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    versions = function_versions(template)
    assert set(versions) == functions and len(functions) >= 3
    aliases = {v.alias_id for v in versions.values()}
    for fn_id, found in versions.items():
        alias = resources[found.alias_id]["Properties"]
        assert alias["Name"] == ALIAS_NAME
        assert alias["FunctionVersion"] == {"Fn::GetAtt": [found.version_id, "Version"]}
        assert resources[found.version_id]["Properties"]["FunctionName"] == {"Ref": fn_id}
    invoking = 0
    for logical_id, body in resources.items():
        if body["Type"] in ("AWS::Lambda::Version", "AWS::Lambda::Alias"):
            continue
        # a function's ARN appears nowhere but through its alias
        assert _function_arns(body, functions) == [], logical_id
        refs = str(body)
        invoking += any(f"'Ref': '{alias}'" in refs for alias in aliases)
    # API methods, permissions, schedules and the queue consumer invoke through aliases
    assert invoking >= 6
    assert lint_all(template) == []


def test_only_a_changed_function_gets_a_new_version() -> None:
    table = table_of(["GET /posts/{id} -> posts", "GET /users -> users"])
    before = synthesize(table, make_target(), CODE_KEY).template
    same = synthesize(table, make_target(), CODE_KEY).template
    assert changed_functions(before, same) == {}
    target = make_target(functions={"posts": FunctionSettings(memory=512)})
    after = synthesize(table, target, CODE_KEY).template
    assert list(changed_functions(before, after)) == ["FnPostsa44f1b97"]


def test_a_canary_keeps_the_old_version_and_weights_the_new_then_rolls_back_to_it() -> None:
    table = table_of(["GET /posts/{id} -> posts", "GET /users -> users"])
    before = synthesize(table, make_target(), CODE_KEY).template
    after = synthesize(table, make_target(), "code/" + "1" * 64 + ".zip").template
    (old, new), (old2, new2) = changed_functions(before, after).values()
    canary = with_canary(before, after, 20)
    resources = canary["Resources"]
    assert {old, new, old2, new2} <= set(resources)
    alias = resources["FnPostsa44f1b97Alias"]["Properties"]
    assert alias["FunctionVersion"]["Fn::GetAtt"][0] in (old, old2)
    (weight,) = alias["RoutingConfig"]["AdditionalVersionWeights"]
    assert weight["FunctionWeight"] == 0.2
    assert weight["FunctionVersion"]["Fn::GetAtt"][0] in (new, new2)
    assert lint_all(canary) == []
    back = rolled_back(before, after)["Resources"]["FnPostsa44f1b97Alias"]["Properties"]
    assert "RoutingConfig" not in back
    assert back["FunctionVersion"] == alias["FunctionVersion"]


def test_snap_start_and_provisioned_concurrency_reach_the_function_and_its_alias() -> None:
    target = make_target(
        functions={
            "posts": FunctionSettings(snap_start=True),
            "users": FunctionSettings(provisioned_concurrency=3),
        }
    )
    table = table_of(["GET /posts/{id} -> posts", "GET /users -> users"])
    resources = synthesize(table, target, CODE_KEY).template["Resources"]
    posts = resources["FnPostsa44f1b97"]["Properties"]
    assert posts["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    users = [v for k, v in resources.items() if k.startswith("FnUsers") and k.endswith("Alias")]
    assert users[0]["Properties"]["ProvisionedConcurrencyConfig"] == {
        "ProvisionedConcurrentExecutions": 3
    }


APP = """\
from teal import App

app = App()


@app.route("/")
def home(request):
    return {}
"""


@pytest.mark.parametrize(
    ("runtime", "settings", "refused"),
    [
        ("python3.11", "snap_start = true", "snap_start needs Python 3.12"),
        (
            "python3.12",
            "snap_start = true\nprovisioned_concurrency = 2",
            "does not support SnapStart with provisioned concurrency",
        ),
        (
            "python3.12",
            "reserved_concurrency = 2\nprovisioned_concurrency = 3",
            "greater than the function's reserved concurrency",
        ),
        ("python3.12", "provisioned_concurrency = 0", "greater than or equal to 1"),
    ],
)
def test_options_lambda_refuses_are_bad_input_naming_the_key(
    tmp_path: Path, runtime: str, settings: str, refused: str
) -> None:
    (tmp_path / "app.py").write_text(APP)
    toml = f"""\
    [app]
    name = "demo"
    runtime = "{runtime}"

    [functions.home]
    {textwrap.indent(settings, "    ").strip()}
    """
    (tmp_path / "teal.toml").write_text(textwrap.dedent(toml))
    with pytest.raises(UserError, match=refused) as raised:
        resolve_target(load_project(tmp_path))
    assert "teal.toml:" in (raised.value.where or "")


def test_a_canary_share_must_be_a_percentage_between_0_and_100(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "teal.toml").write_text('[app]\nname = "demo"\n\n[deploy]\ncanary = "100%"\n')
    with pytest.raises(UserError, match="less than 100%"):
        load_project(tmp_path)
    (tmp_path / "teal.toml").write_text('[app]\nname = "demo"\n\n[deploy]\ncanary = "10%"\n')
    assert resolve_target(load_project(tmp_path)).canary_percent == 10.0
