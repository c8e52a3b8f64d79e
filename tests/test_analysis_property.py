"""Property test: the verdict agrees with an independent oracle on random route changes.

The oracle knows nothing of templates or CloudFormation: during an update the
old resources all still exist, so the update fails exactly when a path that is
new gets a variable part under a parent that survives and already has a
(different) variable child.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teal.plan.analysis import analyze, build_plan
from teal.runtime.errors import RouteError
from test_template_support import CODE_KEY, deployed, make_target, synth, table_of

STATIC = ["a", "B", "b"]
MAX_DEPTH = 3


def parts_at(depth: int) -> list[str]:
    """Path parts for one level; variable names carry the level, so no path repeats one."""
    return [*STATIC, f"{{x{depth}}}", f"{{y{depth}}}", f"{{p{depth}+}}"]


@st.composite
def paths(draw: st.DrawFn) -> str:
    depth = draw(st.integers(1, MAX_DEPTH))
    parts = [draw(st.sampled_from(parts_at(d)[:-1])) for d in range(depth - 1)]
    parts.append(draw(st.sampled_from(parts_at(depth - 1))))
    return "/" + "/".join(parts)


route_sets = st.lists(paths(), min_size=1, max_size=6, unique=True)


def one_variable_per_parent(route_paths: list[str]) -> list[str]:
    """Rewrite sibling variables to the first one seen, so most drawn sets are valid apps."""
    variable_of: dict[str, str] = {}
    out: set[str] = set()
    for path in route_paths:
        parts = path.split("/")[1:]
        for index, part in enumerate(parts):
            if part.startswith("{"):
                head = "/".join(parts[:index])
                parts[index] = variable_of.setdefault(head, part)
        if not any(p.endswith("+}") for p in parts[:-1]):
            out.add("/" + "/".join(parts))
    return sorted(out)


@st.composite
def changes(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """An old route set and a new one made from it: a subtree renamed, routes dropped, added."""
    old = one_variable_per_parent(draw(route_sets)) or ["/a"]
    new = [p for p in old if draw(st.integers(0, 4))]  # drops about one route in five
    if draw(st.integers(0, 3)):  # three times in four, rename a subtree
        prefix = draw(st.sampled_from(sorted(nodes(old))))
        depth = prefix.count("/") - 1
        renamed = "/".join([*prefix.split("/")[:-1], draw(st.sampled_from(parts_at(depth)))])
        new = [renamed + p[len(prefix) :] if (p + "/").startswith(prefix + "/") else p for p in new]
    new.extend(draw(st.lists(paths(), max_size=2)))
    return old, sorted(set(new)) or old


def is_valid(route_paths: list[str]) -> bool:
    try:
        table_of([f"GET {p}" for p in route_paths])
    except RouteError:
        return False
    return True


def nodes(route_paths: list[str]) -> set[str]:
    out = set()
    for path in route_paths:
        parts = path.strip("/").split("/")
        out.update("/" + "/".join(parts[: i + 1]) for i in range(len(parts)))
    return out


def parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def is_variable(path: str) -> bool:
    return path.rsplit("/", 1)[1].startswith("{")


def oracle(old: list[str], new: list[str]) -> set[str]:
    """Paths whose creation API Gateway refuses while the old resources exist."""
    before, after = nodes(old), nodes(new)
    old_root = before | {"/"}
    return {
        p
        for p in after - before
        if parent(p) in old_root
        and is_variable(p)
        and any(parent(c) == parent(p) and is_variable(c) for c in before)
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(change=changes())
def test_verdict_matches_the_oracle(change: tuple[list[str], list[str]]) -> None:
    old, new = change
    if not (is_valid(old) and is_valid(new)):
        return
    before = synth([f"GET {p}" for p in old])
    after = synth([f"GET {p}" for p in new], previous=deployed(before))
    verdict = analyze(before.template, {}, after.template, {})
    expected = oracle(old, new)
    assert verdict.replace is bool(expected)
    assert {r.path for r in verdict.reasons} == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(change=changes())
def test_the_plan_never_keeps_a_failing_update(change: tuple[list[str], list[str]]) -> None:
    old, new = change
    if not (is_valid(old) and is_valid(new)):
        return
    before = synth([f"GET {p}" for p in old])
    plan = build_plan(
        table_of([f"GET {p}" for p in new]), make_target(), CODE_KEY, deployed(before)
    )
    chosen = plan.chosen
    again = analyze(before.template, {}, chosen.template, chosen.nested_by_logical_id)
    assert not again.replace
    assert plan.replace is bool(oracle(old, new))
    if set(old) == set(new):
        assert plan.action == "noop"
