"""What a plan changes, in the words of the app rather than of CloudFormation.

The analysis lists resources by logical id; for the parts of a stack a user
thinks of by name (a function's schedule, the queue a function consumes, a
queue, what a function may do, a resource of the [resources] template, the
stack's tags) this says what the change means: which schedule, which batch
size, and above all what is lost, since a replaced queue or table starts
empty and a removed one takes its data with it.

Pure: it reads the deployed and the new main templates (teal puts these
resources in the main template, never in a page).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from teal.rules.schemas import create_only_properties
from teal.template.synth import METADATA_KEY
from teal.template.types import Template

RULE = "AWS::Events::Rule"
MAPPING = "AWS::Lambda::EventSourceMapping"
QUEUE = "AWS::SQS::Queue"
ROLE = "AWS::IAM::Role"
FUNCTION = "AWS::Lambda::Function"
PASSED_THROUGH = {
    "Layers": "layers",
    "ReservedConcurrentExecutions": "reserved concurrency",
    "VpcConfig": "VPC",
}


class ResourceChange(Protocol):
    """A changed resource as the analysis lists it."""

    @property
    def logical_id(self) -> str: ...
    @property
    def type(self) -> str: ...


class Changes(Protocol):
    """The analysis's changes (:class:`teal.plan.analysis.ResourceChanges`)."""

    @property
    def added(self) -> Sequence[ResourceChange]: ...
    @property
    def modified(self) -> Sequence[ResourceChange]: ...
    @property
    def replaced(self) -> Sequence[ResourceChange]: ...
    @property
    def removed(self) -> Sequence[ResourceChange]: ...


def explain(changes: Changes, before: Template | None, after: Template) -> list[str]:
    """A sentence per change a user would want named, in the order of the plan."""
    old, new = _Side(before or {}), _Side(after)
    notes = [_tags_note(old, new)]
    for kind, items in (
        ("added", changes.added),
        ("modified", changes.modified),
        ("replaced", changes.replaced),
        ("removed", changes.removed),
    ):
        notes += [_note(kind, change, old, new) for change in items]
    return [note for note in notes if note]


class _Side:
    """One template's resources and teal's metadata about them."""

    def __init__(self, template: Template) -> None:
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        meta = template.get("Metadata", {}).get(METADATA_KEY, {})
        self.meta: Mapping[str, Any] = meta if isinstance(meta, dict) else {}

    def props(self, logical_id: str) -> Mapping[str, Any]:
        body = self.resources.get(logical_id, {})
        found = body.get("Properties", {}) if isinstance(body, dict) else {}
        return found if isinstance(found, dict) else {}

    def function_of(self, value: Any) -> str:
        """The app function a reference (Ref or GetAtt ... Arn) points at."""
        target = value.get("Ref") if isinstance(value, dict) else None
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"][0]
        body = self.resources.get(str(target), {})
        if isinstance(body, dict) and body.get("Type") == "AWS::Lambda::Alias":
            # invokers call the function's alias: the function is the alias's
            return self.function_of(self.props(str(target)).get("FunctionName"))
        variables = self.props(str(target)).get("Environment", {}).get("Variables", {})
        return str(variables.get("TEAL_FUNCTION") or target)

    def queue_of(self, value: Any) -> str:
        """A queue's name as the app knows it: teal's name, a logical id, or the ARN."""
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id = str(value["Fn::GetAtt"][0])
            return str(self.meta.get("queues", {}).get(logical_id, logical_id))
        return str(value)

    def is_extra(self, logical_id: str) -> bool:
        return logical_id in self.meta.get("extra_resources", [])


def _note(kind: str, change: ResourceChange, old: _Side, new: _Side) -> str | None:
    side = old if kind == "removed" else new
    logical_id = change.logical_id
    match change.type:
        case _ if side.is_extra(logical_id):
            return _extra_note(kind, change, old, new)
        case "AWS::Events::Rule":
            return _rule_note(kind, logical_id, old, new)
        case "AWS::Lambda::EventSourceMapping":
            return _mapping_note(kind, logical_id, old, new)
        case "AWS::SQS::Queue":
            return _queue_note(kind, logical_id, old, new)
        case "AWS::IAM::Role" if kind == "modified":
            return _role_note(logical_id, old, new)
        case "AWS::Lambda::Function" if kind == "modified":
            return _function_note(logical_id, old, new)
    return None


def _rule_note(kind: str, logical_id: str, old: _Side, new: _Side) -> str | None:
    side = old if kind == "removed" else new
    props = side.props(logical_id)
    function = side.function_of((props.get("Targets") or [{}])[0].get("Arn"))
    expression = props.get("ScheduleExpression")
    match kind:
        case "added":
            return f"function {function} will run on the schedule {expression}"
        case "removed":
            return f"function {function} will no longer run on the schedule {expression}"
        case _:
            before = old.props(logical_id).get("ScheduleExpression")
            if before != expression:
                return f"the schedule of function {function} changes: {before} -> {expression}"
    return None


def _mapping_note(kind: str, logical_id: str, old: _Side, new: _Side) -> str | None:
    side = old if kind == "removed" else new
    props = side.props(logical_id)
    function = side.function_of(props.get("FunctionName"))
    queue = side.queue_of(props.get("EventSourceArn"))
    size = props.get("BatchSize")
    match kind:
        case "added":
            return f"function {function} will consume queue {queue} (batches of up to {size})"
        case "removed":
            return f"function {function} will no longer consume queue {queue}"
        case "replaced":
            return f"function {function} will consume queue {queue} through a new event source"
        case _:
            before = old.props(logical_id).get("BatchSize")
            if before != size:
                return (
                    f"function {function} takes batches of up to {size} from queue {queue} "
                    f"(was {before})"
                )
    return None


def _queue_note(kind: str, logical_id: str, old: _Side, new: _Side) -> str | None:
    side = old if kind == "removed" else new
    name = side.queue_of({"Fn::GetAtt": [logical_id, "Arn"]})
    match kind:
        case "added":
            return f"queue {name} will be created"
        case "removed":
            return f"queue {name} will be deleted, with the messages in it"
        case "replaced":
            changed = _create_only_changed(logical_id, QUEUE, old, new)
            return (
                f"queue {name} will be replaced ({changed} changed): the new queue starts "
                "empty, and the messages of the old one are lost"
            )
        case _:
            differ = _changed(old.props(logical_id), new.props(logical_id))
            return f"queue {name}: {', '.join(differ)} change" if differ else None


def _role_note(logical_id: str, old: _Side, new: _Side) -> str | None:
    function = new.function_of({"Ref": logical_id.removesuffix("Role")})
    before, after = old.props(logical_id), new.props(logical_id)
    parts = []
    if before.get("Policies") != after.get("Policies"):
        parts.append("its policy statements")
    if before.get("ManagedPolicyArns") != after.get("ManagedPolicyArns"):
        parts.append("its managed policies")
    if not parts:
        return None
    return f"what function {function} may do changes: {' and '.join(parts)}"


def _function_note(logical_id: str, old: _Side, new: _Side) -> str | None:
    function = new.function_of({"Ref": logical_id})
    before, after = old.props(logical_id), new.props(logical_id)
    changed = [words for key, words in PASSED_THROUGH.items() if before.get(key) != after.get(key)]
    return f"function {function}: its {', '.join(changed)} change" if changed else None


def _extra_note(kind: str, change: ResourceChange, old: _Side, new: _Side) -> str:
    what = f"{change.logical_id} ({change.type}, from the [resources] template)"
    match kind:
        case "added":
            return f"{what} will be created"
        case "removed":
            return f"{what} will be deleted, and what it holds with it"
        case "replaced":
            changed = _create_only_changed(change.logical_id, change.type, old, new)
            return (
                f"{what} will be replaced ({changed} changed): CloudFormation creates a new one "
                "and deletes the old one; a table, bucket or queue starts empty"
            )
        case _:
            differ = _changed(old.props(change.logical_id), new.props(change.logical_id))
            return f"{what} will be updated in place: {', '.join(differ) or 'its references'}"


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def _create_only_changed(logical_id: str, kind: str, old: _Side, new: _Side) -> str:
    changed = set(_changed(old.props(logical_id), new.props(logical_id)))
    names = sorted(changed & create_only_properties(kind))
    return ", ".join(names) or "a resource it depends on"


def _tags_note(old: _Side, new: _Side) -> str | None:
    before, after = old.meta.get("tags", {}), new.meta.get("tags", {})
    if not old.resources or before == after:
        return None
    shown = ", ".join(f"{k}={v}" for k, v in sorted(after.items())) or "none"
    return f"the stack's tags change (CloudFormation retags its resources): {shown}"
