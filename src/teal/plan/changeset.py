"""CloudFormation's own change set beside teal's verdict, for ``teal plan`` on a cloud
that has change sets (AWS; the local cloud applies templates directly).

teal predicts from API Gateway's rules what an update would do; CloudFormation
computes, from its resource schemas, which resources it would replace (its
``Replacement`` column). ``teal plan`` shows both, row by row. The change set
is created and deleted again: no stack changes. CloudFormation reads nested
templates from the bucket while it computes a change set, so the ones the
bucket lacks are uploaded first (content-addressed, exactly what deploy would
upload); the code package is not needed for a change set and is not uploaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from teal.cloud.base import ChangeSet, ChangeSetRow, Cloud, StackRequest
from teal.plan.analysis import ResourceChanges
from teal.project.config import Target
from teal.runtime.errors import OperationError
from teal.template import Synthesized
from teal.template.combine import template_bytes

# teal's word for each kind of change its analysis found, by logical id.
TEAL_WORDS = {"added": "add", "modified": "modify", "replaced": "replace", "removed": "remove"}


@dataclass(frozen=True)
class ComparedRow:
    """One change set row: CloudFormation's action and Replacement, and teal's verdict."""

    action: str
    logical_id: str
    resource_type: str
    replacement: str | None
    teal: str | None  # add | modify | replace | remove, or None when teal sees no change

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "logical_id": self.logical_id,
            "type": self.resource_type,
            "replacement": self.replacement,
            "teal": self.teal,
        }


@dataclass(frozen=True)
class ChangeSetReport:
    """The change set's rows, or why there are none (``note``)."""

    rows: tuple[ComparedRow, ...] | None
    note: str | None = None
    uploaded: int = 0  # nested templates put in the bucket for CloudFormation to read

    def to_json(self) -> list[dict[str, Any]] | None:
        return None if self.rows is None else [row.to_json() for row in self.rows]


def compare_change_set(
    cloud: Cloud,
    target: Target,
    synthesized: Synthesized,
    changes: ResourceChanges,
    *,
    stack_exists: bool,
) -> ChangeSetReport | None:
    """CloudFormation's change set for the templates deploy would apply (None: the cloud
    has no change sets)."""
    if not cloud.has_change_sets:
        return None
    if not stack_exists:
        return ChangeSetReport(
            None, "no change set: the stack will be created, so every resource is added"
        )
    try:
        uploaded = _upload_nested(cloud, synthesized)
        change_set = cloud.change_set(
            StackRequest.of_environment(target, synthesized.template, cloud.artifact_bucket)
        )
    except OperationError as error:
        return ChangeSetReport(None, f"CloudFormation could not preview the change: {error}")
    if change_set.action == "noop":
        return ChangeSetReport((), "CloudFormation finds nothing to change")
    return ChangeSetReport(rows(change_set, changes), None, uploaded)


def rows(change_set: ChangeSet, changes: ResourceChanges) -> tuple[ComparedRow, ...]:
    verdicts = teal_verdicts(changes)
    return tuple(_row(change, verdicts) for change in change_set.changes)


def teal_verdicts(changes: ResourceChanges) -> dict[str, str]:
    """teal's verdict by main-stack logical id (a nested page's resources count for the page)."""
    verdicts: dict[str, str] = {}
    groups: Mapping[str, tuple[Any, ...]] = {
        "added": changes.added,
        "modified": changes.modified,
        "replaced": changes.replaced,
        "removed": changes.removed,
    }
    for kind, items in groups.items():
        for item in items:
            page, _, inner = str(item.logical_id).partition("/")
            if inner:
                verdicts.setdefault(page, "modify")  # something inside the page changes
            else:
                verdicts[page] = TEAL_WORDS[kind]
    return verdicts


def _row(change: ChangeSetRow, verdicts: Mapping[str, str]) -> ComparedRow:
    return ComparedRow(
        action=change.action,
        logical_id=change.logical_id,
        resource_type=change.resource_type,
        replacement=change.replacement,
        teal=verdicts.get(change.logical_id),
    )


def _upload_nested(cloud: Cloud, synthesized: Synthesized) -> int:
    missing = [key for key in synthesized.nested if not cloud.has_artifact(key)]
    for key in missing:
        cloud.put_artifact(key, template_bytes(synthesized.nested[key]))
    return len(missing)
