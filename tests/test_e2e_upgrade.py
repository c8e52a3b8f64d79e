"""An upgrade of teal itself: the full-feature app deployed by the last release, then
planned and deployed by this one.

The last release's template is frozen in ``fixtures/last_release_full_prod.json``
(``fixtures/last_release.py`` says which revision wrote it, and writes it again).
It is deployed to a private local cloud as that teal deployed it, through the
Cloud seam: the code package, the stack, the domain and its mapping. Then this
teal's ``teal plan`` on the same project must account for every difference
between the two templates, read from them rather than listed here (a resource
this release adds, of any type, is an explained addition), and ``teal deploy``
must leave every feature answering, the triggers the last release dropped
included. The tests run in order on one deployment.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e import LocalCloudEnv, free_port
from fixtures.last_release import CODE_KEY, FIXTURE
from teal.cli.common import load_target
from teal.cloud import open_cloud
from teal.cloud.base import BasePathMapping, StackRequest
from teal.ops.decision import package_for
from teal.ops.environments import read_domain
from teal.rules.labels import APP_TAG, REST_API_OUTPUT, STAGE_OUTPUT
from teal.template import nested_keys
from test_e2e_full_feature import (
    PROD,
    Deployed,
    check_every_feature,
    check_triggers,
    write_full_project,
)

LAST_RELEASE: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
KINDS = ("added", "modified", "replaced", "removed")


def flat_resources(template: dict[str, Any], nested: dict[str, Any]) -> dict[str, Any]:
    """Every resource by the identity a plan names it by (``Page/Id`` in a nested stack),
    ``nested`` by artifact key as ``teal template --json`` writes it."""
    found = dict(template["Resources"])
    for page, key in nested_keys(template).items():
        found |= {f"{page}/{i}": body for i, body in nested[key]["Resources"].items()}
    return found


def last_release_as_deployed(code_key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The frozen main template and nested ones (by key), for the package uploaded."""
    text = json.dumps({"template": LAST_RELEASE["template"], "nested": LAST_RELEASE["nested"]})
    found = json.loads(text.replace(CODE_KEY, code_key))
    return found["template"], found["nested"]


def deploy_as_the_last_release(project: Path) -> tuple[str, str]:
    """What the last release's deploy did, through the seam: the code package and the
    nested templates put, the stack applied, the domain made and mapped to its API.
    The endpoint and the domain's URL."""
    _, target = load_target(project, "prod", None, None)
    assert target.domain is not None
    cloud = open_cloud(target)
    package = package_for(target)
    template, nested = last_release_as_deployed(package.key)
    cloud.ensure_serving()
    cloud.put_artifact(package.key, package.data, None)
    for key, page in nested.items():
        cloud.put_artifact(key, json.dumps(page).encode(), None)
    request = StackRequest.of_environment(target, template, cloud.artifact_bucket)
    result = cloud.apply_stack(request, lambda _: None)
    api, stage = result.outputs[REST_API_OUTPUT], result.outputs[STAGE_OUTPUT]
    domain = cloud.ensure_domain(target.domain, {APP_TAG: target.app})
    cloud.create_mapping(BasePathMapping(domain.name, target.domain.base_path, api, stage))
    cloud.ensure_serving()
    return cloud.endpoint_url(api, stage), read_domain(cloud, target.app, target.domain).url


@pytest.fixture(scope="module")
def upgrade(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    root = tmp_path_factory.mktemp("upgrade")
    project = write_full_project(root, as_the_last_release=True)
    cloud = LocalCloudEnv(root / "teal-home", free_port(), project)
    try:
        with pytest.MonkeyPatch.context() as patch:
            # this process deploys as the last release did, to the cloud the CLI then uses
            for name, value in {**cloud.env, **PROD}.items():
                if name.startswith("TEAL_"):
                    patch.setenv(name, value)
            endpoint, domain = deploy_as_the_last_release(project)
        (status,) = cloud.teal("status", "--json", env=PROD).json()["environments"]
        yield Deployed(cloud, endpoint, domain, status["api_key"]["value"])
    finally:
        cloud.teal("local", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_the_last_releases_template_deploys_and_answers(upgrade: Deployed) -> None:
    """The fixture stands for a working deploy: every request feature answers."""
    check_every_feature(upgrade, upgrade.endpoint, "1", db_url=None)
    check_every_feature(upgrade, upgrade.domain, "1", db_url=None)


def test_teal_plan_explains_every_difference_from_the_last_release(upgrade: Deployed) -> None:
    done = upgrade.cloud.teal("plan", "--json", env=PROD)
    assert done.code == 0, done.err
    plan = done.json()
    written = upgrade.teal("template", "--json")
    now = flat_resources(written["template"], written["nested"])  # type: ignore[arg-type]
    before = flat_resources(*last_release_as_deployed(str(written["code_key"])))
    changes: dict[str, list[dict[str, str]]] = plan["changes"]
    ids = {kind: {c["logical_id"] for c in changes[kind]} for kind in KINDS}
    # the plan's account is the templates' own difference, whatever this release adds
    assert ids["added"] == set(now) - set(before)
    assert ids["removed"] == set(before) - set(now)
    differing = {i for i in set(now) & set(before) if now[i] != before[i]}
    assert ids["modified"] | ids["replaced"] == differing
    assert plan["action"] == "update" and plan["api"]["replace"] is False
    # each change says what it is in the app and what happens to it
    unexplained = [c for kind in KINDS for c in changes[kind] if not _explained(c, kind)]
    assert unexplained == []
    for change in changes["modified"]:
        for name in _variables_changed(before[change["logical_id"]], now[change["logical_id"]]):
            assert name in change["reason"], change
    # a type the last release never wrote is an addition like any other
    new_types = {now[i]["Type"] for i in ids["added"]} - {b["Type"] for b in before.values()}
    for change in changes["added"]:
        if change["type"] in new_types:
            assert _explained(change, "added")
    # the sentences are printed, not only given to scripts
    text = upgrade.cloud.teal("plan", env=PROD)
    assert text.code == 0, text.err
    printed = " ".join(text.out.split())
    assert all(c["reason"] in printed for kind in KINDS for c in changes[kind][:25])


def _explained(change: dict[str, str], kind: str) -> bool:
    """A sentence naming what the resource is (no unknown part) and what happens to it."""
    reason = change.get("reason", "")
    happens = {
        "added": "will be created",
        "removed": "will be deleted",
        "replaced": "will be replaced",
        "modified": "changes in place: ",
    }[kind]
    named = reason.split(happens)[0].strip()
    return happens in reason and bool(named) and "?" not in reason


def _variables_changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    def variables(body: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = body.get("Properties", {}).get("Environment", {})
        return dict(found.get("Variables", {}))

    old, new = variables(before), variables(after)
    return {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}


def test_this_teal_deploys_over_it_and_no_feature_is_lost(upgrade: Deployed) -> None:
    report = upgrade.teal("deploy", "--json")
    assert report["api_replaced"] is False and report["endpoint"] == upgrade.endpoint
    check_every_feature(upgrade, upgrade.endpoint, "1", db_url=None)
    check_every_feature(upgrade, upgrade.domain, "1", db_url=None)
    # what the last release dropped now runs: the schedule and both consumers
    check_triggers(upgrade, "upgraded")
    again = upgrade.teal("plan", "--json")
    assert again["action"] == "noop", again["changes"]
