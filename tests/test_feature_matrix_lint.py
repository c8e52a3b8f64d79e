"""cfn-lint over the feature matrix (:mod:`feature_matrix`).

cfn-lint reads some ten resources a second here, and a project with the page
split holds some seven hundred: linting every pair's templates takes
minutes. So the suite lints four projects that between them declare every
pair the catalogue has (every feature a teal App can have at once, with
requirements.txt, and again with a uv.lock; each framework's app with every
feature of teal.toml), each distinct template once,
and leaves the replacement's pages (the current pages with a generation
suffix) to the full run; ``TEAL_FULL_LINT=1`` lints every pair's own
templates, replacement pages included.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from feature_matrix import FEATURES, Feature, Matrix, matrix_in, pairs
from test_template_support import lint_all

FULL_LINT = os.environ.get("TEAL_FULL_LINT") == "1"
PAIRS = list(pairs())


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    with matrix_in(tmp_path_factory.mktemp("matrix-lint")) as found:
        yield found


def covering_projects() -> list[tuple[Feature, ...]]:
    """Four projects that between them declare every pair of the catalogue (a uv.lock
    project has a project of its own: one source of dependencies a project)."""
    teal = tuple(f for f in FEATURES if f.app is None and not f.locked)
    locked = tuple(f for f in FEATURES if f.app is None and not f.writes_requirements)
    frameworks = [f for f in FEATURES if f.app is not None]
    settings = tuple(f for f in FEATURES if f.app is None and not f.code and not f.locked)
    return [teal, locked, *((framework, *settings) for framework in frameworks)]


def project_id(project: tuple[Feature, ...]) -> str:
    if project[0].app:
        return project[0].name
    return "uv-lock-app" if any(f.locked for f in project) else "teal-app"


def test_the_covering_projects_declare_every_pair() -> None:
    covered = {
        frozenset({first.name, second.name})
        for project in covering_projects()
        for first in project
        for second in project
        if first != second
    }
    assert {frozenset({a.name, b.name}) for a, b in PAIRS} <= covered


class Linted:
    """Each distinct template linted once."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def findings(self, templates: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
        found = []
        for name, template in templates:
            text = json.dumps(template, sort_keys=True)
            digest = hashlib.sha256(text.encode()).hexdigest()
            if digest in self.seen:
                continue
            self.seen.add(digest)
            found += [f"{name}: {finding}" for finding in lint_all(template)]
        return found


@pytest.mark.parametrize("project", covering_projects(), ids=project_id)
def test_projects_declaring_every_pair_pass_cfn_lint(
    matrix: Matrix, project: tuple[Feature, ...]
) -> None:
    result = matrix.synthesis(*project)
    assert Linted().findings(result.templates(replacement_pages=False)) == []


LINTED = Linted()  # across the pairs: a template two pairs share is linted once


@pytest.mark.skipif(not FULL_LINT, reason="minutes of cfn-lint; set TEAL_FULL_LINT=1")
@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_every_pair_passes_cfn_lint(matrix: Matrix, first: Feature, second: Feature) -> None:
    assert LINTED.findings(matrix.synthesis(first, second).templates()) == []
