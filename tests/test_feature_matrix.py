"""Every feature with every other: each keeps, in a project with any other, exactly
what it adds to the template alone.

The catalogue (:mod:`feature_matrix`) lists every feature a project can
declare. For each feature alone, its fingerprint is what it adds to the base
project's facts (:mod:`template_facts`: resources by what they are, their
properties, outputs, permissions, the stack's tags and parameters, the
package, the domain's stack) and what it takes away. For every pair one
project can declare, the project with both must hold both fingerprints and
lack what either takes away, except where one feature's value of a property
wins over the other's by a rule of :data:`feature_matrix.PRECEDENCE`; behind
a custom domain, the next API's generation (a replacement) must hold the
same facts as the current one, a preview's rule included (it sends to the
next API's stage). cfn-lint: ``test_feature_matrix_lint.py``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from feature_matrix import (
    BY_NAME,
    FEATURES,
    LAYER,
    LOCK_EXCLUDES,
    PRECEDENCE,
    WHEEL_NAME,
    Feature,
    Matrix,
    Synthesis,
    combinable,
    matrix_in,
    pairs,
    replacement_gaps,
)
from teal.project.resources_file import ExtraResources
from teal.rules.labels import TEAL_LOGICAL_ID
from teal.runtime.errors import ConfigError
from teal.template import synthesize
from template_facts import Fact

BASE_ROUTE = re.compile(r"/base\b")  # the base project's route, in a subject or a value
PAIRS = list(pairs())


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    with matrix_in(tmp_path_factory.mktemp("matrix")) as found:
        yield found


def removed_by(matrix: Matrix, name: str) -> frozenset[Fact]:
    """What the feature takes away from the base project's facts, alone."""
    return matrix.base_facts() - matrix.facts(frozenset({name}))


def named(facts: frozenset[Fact], subject: str) -> set[Fact]:
    return {fact for fact in facts if fact[0].startswith(subject)}


# ---------------------------------------------------------------- the catalogue


def test_the_catalogue_pairs_every_feature_with_every_other_it_can_meet() -> None:
    assert len(FEATURES) == len(BY_NAME) == 39
    frameworks = [f for f in FEATURES if f.app is not None]
    with_code = [f for f in FEATURES if f.code]
    unpaired = len(frameworks) * len(with_code) + len(frameworks) * (len(frameworks) - 1) // 2
    unpaired += LOCK_EXCLUDES
    assert len(PAIRS) == len(FEATURES) * (len(FEATURES) - 1) // 2 - unpaired
    assert all(combinable(first, second) for first, second in PAIRS)


def test_every_feature_leaves_a_fingerprint_of_its_own(matrix: Matrix) -> None:
    prints = {feature.name: matrix.fingerprint(feature.name) for feature in FEATURES}
    assert [name for name, found in prints.items() if not found] == []
    same = [(first, second) for first, second in PAIRS if prints[first.name] == prints[second.name]]
    assert same == []


def test_the_fingerprints_hold_what_each_feature_means(matrix: Matrix) -> None:
    """Facts named by hand for a few features: the derivation is not empty talk."""
    schedule = matrix.fingerprint("schedule")
    assert ("Function {environment}-tick", "Type", "AWS::Lambda::Function") in schedule
    rules = named(schedule, "Rule rate(5 minutes)")
    assert any(fact[1:] == ("Type", "AWS::Events::Rule") for fact in rules)
    assert any("events.amazonaws.com" in fact[0] for fact in named(schedule, "Permission"))

    authorizer = matrix.fingerprint("lambda-authorizer")
    assert ("Method /private GET", "AuthorizationType", "CUSTOM") in authorizer
    assert ("Authorizer token", "Type", "AWS::ApiGateway::Authorizer") in authorizer
    assert ("Method /admin GET", "AuthorizationType", "AWS_IAM") in matrix.fingerprint(
        "iam-authorizer"
    )
    api_key = matrix.fingerprint("api-key")
    assert ("Method /metered GET", "ApiKeyRequired", "True") in api_key
    assert {("ApiKey", "Type", "AWS::ApiGateway::ApiKey")} <= api_key
    assert {("UsagePlan", "Type", "AWS::ApiGateway::UsagePlan")} <= api_key

    assert ("Function {environment}-app", "MemorySize", "1024") in matrix.fingerprint(
        "function-memory-timeout"
    )
    assert ("stack tag", "team", "blue") in matrix.fingerprint("tags")
    assert ("metadata", "warm", "app", "3") in matrix.fingerprint("function-warm")
    requirements = matrix.fingerprint("requirements")
    assert ("dependency layer", "holds", WHEEL_NAME) in requirements
    assert ("dependency layer", "architecture", "x86_64") in requirements
    assert ("package", "holds", WHEEL_NAME) not in requirements  # the code zip: code only
    assert ("Function {environment}-app", "Layers", "[]", "<LayerVersion>") in requirements
    locked = matrix.fingerprint("uv-lock")
    assert ("dependency layer", "holds", WHEEL_NAME) in locked
    assert {("package", "holds", "uv.lock"), ("package", "holds", "pyproject.toml")} <= locked
    assert ("Function {environment}-app", "Architectures", "[]", "arm64") in matrix.fingerprint(
        "arm64"
    )
    both = matrix.facts(frozenset({"arm64", "uv-lock"}))
    assert ("dependency layer", "architecture", "arm64") in both
    assert ("LayerVersion", "CompatibleArchitectures", "[]", "arm64") in both
    layered = matrix.facts(frozenset({"function-layers", "requirements"}))
    assert {
        ("Function {environment}-app", "Layers", "[]", "<LayerVersion>"),
        ("Function {environment}-app", "Layers", "[]", LAYER),
    } <= layered
    assert ("template", "API methods in nested stacks", "yes") in matrix.fingerprint("page-split")
    assert any(
        fact[:2] == ("Method /catalog/g0/item0 GET", "Type")
        for fact in matrix.fingerprint("page-split")
    )
    assert ("Method /private GET", "AuthorizationType", "CUSTOM") not in matrix.base_facts()

    preview = matrix.fingerprint("preview")
    assert ("preview rule", "sends to", "the stage of {rest api}") in preview
    assert ("preview rule", "base paths", "v1") in preview
    assert ("preview rule", "header", "teal-preview", "--to names", "{environment}") in preview
    assert ("deploy policy", "preview", "apigatewayv2 CreateRoutingRule", "covered") in preview
    assert not named(matrix.base_facts(), "preview rule")


# ---------------------------------------------------------------- every pair


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_each_of_two_features_keeps_its_fingerprint(
    matrix: Matrix, first: Feature, second: Feature
) -> None:
    both = matrix.facts(frozenset({first.name, second.name}))
    for feature, other in ((first, second), (second, first)):
        lost = expected(matrix, feature, other) - both
        lost = {fact for fact in lost if not yields(fact, feature, other, both)}
        assert not lost, f"{feature} ({feature.what}) lost beside the other:\n" + _listed(lost)
        back = removed_by(matrix, feature.name) & both
        assert not back, f"what {feature} takes away came back:\n" + _listed(back)


@pytest.mark.parametrize(
    "feature", [f for f in FEATURES if combinable(f, BY_NAME["custom-domain"])], ids=str
)
def test_a_replacement_behind_the_domain_keeps_every_feature(
    matrix: Matrix, feature: Feature
) -> None:
    features = (
        (feature,) if feature.name == "custom-domain" else (feature, BY_NAME["custom-domain"])
    )
    result = matrix.synthesis(*features)
    assert replacement_gaps(result) == set()


def test_the_deploy_policy_covers_what_every_pair_deploys(matrix: Matrix) -> None:
    """`teal aws policy` of a project grants what CloudFormation needs for every resource
    its stacks hold, and the layers its functions use, whatever features meet."""
    combinations = [frozenset({f.name}) for f in FEATURES]
    combinations += [frozenset({first.name, second.name}) for first, second in PAIRS]
    lacking = {
        (" + ".join(sorted(names)), *fact[1:])
        for names in combinations
        for fact in matrix.facts(names)
        if fact[0] == "deploy policy" and fact[-1] != "covered"
    }
    assert not lacking, _listed(lacking)
    covered = {fact[1] for fact in matrix.facts(frozenset()) if fact[0] == "deploy policy"}
    assert "AWS::Lambda::Function" in covered  # the facts are there to be judged


def test_every_precedence_decides_a_pair(matrix: Matrix) -> None:
    """A rule of PRECEDENCE that excuses no lost fact would excuse a bug one day."""
    idle = []
    for rule in PRECEDENCE:
        winner = BY_NAME[rule.winner]
        losers = FEATURES if rule.loser == "*" else (BY_NAME[rule.loser],)
        used = any(
            yields(fact, loser, winner, both)
            for loser in losers
            if loser != winner and combinable(loser, winner)
            for both in [matrix.facts(frozenset({loser.name, winner.name}))]
            for fact in expected(matrix, loser, winner) - both
        )
        if not used:
            idle.append(rule)
    assert idle == []


def expected(matrix: Matrix, feature: Feature, other: Feature) -> frozenset[Fact]:
    """The feature's fingerprint, less what it says of the base's route when the other
    feature's app takes the place of the base's."""
    found = matrix.fingerprint(feature.name)
    if other.replaces_app:
        found = frozenset(f for f in found if not any(BASE_ROUTE.search(part) for part in f))
    return found


def yields(fact: Fact, feature: Feature, other: Feature, both: frozenset[Fact]) -> bool:
    """Whether ``fact`` gave way to the other feature's value of its property, by a
    rule of :data:`PRECEDENCE`."""
    subject, *path, value = fact
    return any(
        rule.winner == other.name
        and rule.loser in (feature.name, "*")
        and tuple(path) == rule.property
        and any(f[:-1] == (subject, *path) and f[-1] != value for f in both)
        for rule in PRECEDENCE
    )


def test_no_resource_of_the_users_gives_way_to_one_of_teals(matrix: Matrix) -> None:
    """[resources] beside every feature: a user's resource named as any resource teal
    writes into the main template (the base project's, and those each feature
    brings, wherever synthesis adds them) is refused, never silently replaced."""
    base = matrix.synthesis()
    checked = {"base": (base, set(base.synthesized.template["Resources"]))}
    for feature in FEATURES:
        if feature.name != "resources" and combinable(feature, BY_NAME["resources"]):
            alone = matrix.synthesis(feature)
            brought = set(alone.synthesized.template["Resources"]) - checked["base"][1]
            if alone.target.extra_resources is not None:
                brought -= set(alone.target.extra_resources.resources)  # the user's own
            checked[feature.name] = (alone, brought)
    assert sum(len(ids) for _, ids in checked.values()) > 50
    taken = {
        (name, logical_id): answer
        for name, (alone, ids) in checked.items()
        for logical_id in sorted(ids)
        if f"resource {logical_id} has a logical id teal uses"
        not in (answer := _refusal(alone, logical_id) or "")
    }
    assert taken == {}, "teal's resources replaced the user's without a word"


def _refusal(alone: Synthesis, logical_id: str) -> str | None:
    """What synthesis says of the project with a user's resource named ``logical_id``."""
    theirs = alone.target.extra_resources
    extra = ExtraResources(
        Path("resources.yaml"),
        {**(theirs.resources if theirs else {}), logical_id: {"Type": "AWS::SNS::Topic"}},
    )
    target = dataclasses.replace(alone.target, extra_resources=extra)
    try:
        synthesize(alone.table, target, alone.package.key)
    except ConfigError as refused:
        return refused.what
    return None


def _listed(facts: frozenset[Fact] | set[Fact]) -> str:
    return "\n".join(f"  {fact}" for fact in sorted(facts)[:40])


def test_every_id_teal_writes_in_any_generation_is_refused_when_resources_are_read(
    matrix: Matrix,
) -> None:
    """Each logical id of the main template, for each feature, under the API's first three
    generations, falls in :data:`teal.rules.labels.TEAL_LOGICAL_ID`: a [resources] template
    naming one is refused as it is read, not when a replacement first writes it."""
    outside: set[tuple[str, str]] = set()
    for feature in FEATURES:
        alone = matrix.synthesis(feature)
        extra = alone.target.extra_resources
        theirs = set(extra.resources) if extra is not None else set()
        for rest_api in ("RestApi", "RestApi1", "RestApi2"):
            template = synthesize(alone.table, alone.target, alone.package.key, rest_api).template
            outside |= {
                (feature.name, logical_id)
                for logical_id in set(template["Resources"]) - theirs
                if not TEAL_LOGICAL_ID.fullmatch(logical_id)
            }
    assert outside == set()
