"""Stable assignment of API paths to nested stacks ("pages") for large apps.

A path keeps its page from deploy to deploy: moving a resource to another
nested stack makes CloudFormation create it in the new stack before deleting
it from the old one, which fails on API Gateway exactly as a rename does. New
paths go to their parent's page when it has room, otherwise to a later page.

Pages are numbered, and a path's page is never lower than its parent's page,
so pages only ever take parent ids from lower pages: the stacks' references
(``Fn::GetAtt ApiPageN.Outputs.X``) cannot form a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from teal.runtime.errors import UserError
from teal.runtime.routes import Node, Route
from teal.template.api import parent_path, resource_count

TEMPLATE_RESOURCE_LIMIT = 500
TEMPLATE_PARAMETER_LIMIT = 200
TEMPLATE_OUTPUT_LIMIT = 200
# A fresh layout leaves room in every page for routes added later under the
# same parents; a later deploy may fill a page up to the growth limit.
FRESH_FILL = 300
GROWTH_FILL = 450
PARAMETER_FILL = 190


class TemplateLimitError(UserError):
    """The app does not fit CloudFormation's template limits even with nested stacks."""


@dataclass
class PageLoad:
    """What one page holds, to keep it under CloudFormation's limits."""

    resources: int = 0
    functions: set[str] = field(default_factory=set)
    foreign_parents: set[str] = field(default_factory=set)
    needs_root: bool = False

    @property
    def parameters(self) -> int:
        return 1 + int(self.needs_root) + len(self.foreign_parents) + len(self.functions)

    def add(self, node: Node[Route], foreign_parent: str | None, needs_root: bool) -> None:
        self.resources += resource_count(node)
        self.functions.update(_inputs(node))
        if foreign_parent is not None:
            self.foreign_parents.add(foreign_parent)
        self.needs_root = self.needs_root or needs_root

    def fits(self, node: Node[Route], foreign_parent: str | None, limit: int) -> bool:
        if self.resources + resource_count(node) > limit:
            return False
        new_functions = _inputs(node) - self.functions
        new_parents = {foreign_parent} - self.foreign_parents - {None}
        return self.parameters + 1 + len(new_functions) + len(new_parents) <= PARAMETER_FILL


def _inputs(node: Node[Route]) -> set[str]:
    """What a node's methods take as page parameters: functions' ARNs, authorizers' ids."""
    found = {r.function for r in node.methods.values()}
    found.update(f"authorizer {r.authorizer}" for r in node.methods.values() if r.authorizer)
    return found


def assign_pages(nodes: Iterable[Node[Route]], previous: Mapping[str, int]) -> dict[str, int]:
    """Page number (from 1) of every path with a resource or a method."""
    ordered = [n for n in nodes if resource_count(n) > 0]
    assignment: dict[str, int] = {}
    loads: dict[int, PageLoad] = {}
    for node in ordered:  # parents come before children
        if node.path in previous:
            _place(node, previous[node.path], assignment, loads)
    limit = GROWTH_FILL if previous else FRESH_FILL
    for node in ordered:
        if node.path not in assignment:
            _place(node, _choose_page(node, assignment, loads, limit), assignment, loads)
    return assignment


def _place(
    node: Node[Route], page: int, assignment: dict[str, int], loads: dict[int, PageLoad]
) -> None:
    parent = parent_path(node.path)
    foreign = parent if parent != "/" and assignment.get(parent) != page else None
    needs_root = node.path == "/" or parent == "/"
    loads.setdefault(page, PageLoad()).add(node, foreign, needs_root)
    assignment[node.path] = page


def _choose_page(
    node: Node[Route], assignment: Mapping[str, int], loads: Mapping[int, PageLoad], limit: int
) -> int:
    parent = parent_path(node.path)
    parent_page = assignment.get(parent, 0) if node.path != "/" else 0
    for page in sorted(p for p in loads if p >= parent_page):
        foreign = parent if parent != "/" and page != parent_page else None
        if loads[page].fits(node, foreign, limit):
            return page
    return max(loads, default=0) + 1


def check_page_limits(
    page: int, resources: int, parameters: int, outputs: int, *, where: str
) -> None:
    """``where``: the page, named by the first route path it holds."""
    for what, count, limit in (
        ("resources", resources, TEMPLATE_RESOURCE_LIMIT),
        ("parameters", parameters, TEMPLATE_PARAMETER_LIMIT),
        ("outputs", outputs, TEMPLATE_OUTPUT_LIMIT),
    ):
        if count > limit:
            raise TemplateLimitError(
                f"nested stack page {page} would hold {count} {what}; CloudFormation allows "
                f"{limit}",
                where=where,
                hint="group routes into fewer functions with @app.route(..., function=...)",
            )
