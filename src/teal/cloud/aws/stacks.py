"""Stacks on CloudFormation: read deployed state, apply through change sets, delete.

apply: (delete a stack a failed create left behind) → create change set →
wait (empty → NoUpdates) → remember the newest event → execute → follow the
events live until the stack settles → outputs, or StackFailed with the
failing resources and their reasons (nested stacks' own failures included).

Reading a stack costs a fixed number of calls: describe_stacks, get_template
and one get_object of the bundle of its nested templates (see
:mod:`teal.cloud.aws.nested`), never one per route or per nested stack. Only a
stack deployed before bundles existed costs describe_stack_resource and
get_template per nested stack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from teal.cloud.aws.changesets import (
    ChangeSets,
    ChangeSetType,
    additions,
)
from teal.cloud.aws.nested import NestedBundles
from teal.cloud.aws.retry import Backoff, Retrier, error_code, error_message
from teal.cloud.aws.stack_events import STACK_TYPE, EventTail, failures_since
from teal.cloud.base import (
    CREATE_COMPLETE,
    DELETE_COMPLETE,
    ROLLBACK_COMPLETE,
    UPDATE_COMPLETE,
    ChangeSet,
    DeployedStack,
    EventSink,
    NoUpdates,
    StackEvent,
    StackFailed,
    StackRequest,
    StackResult,
)
from teal.runtime.errors import OperationError
from teal.template.types import Template

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

REVIEW_IN_PROGRESS = "REVIEW_IN_PROGRESS"
STATUS_CHECK_EVERY = 10


def is_settled(status: str) -> bool:
    return not status.endswith("_IN_PROGRESS")


class Stacks:
    def __init__(
        self,
        cfn: CloudFormationClient,
        change_sets: ChangeSets,
        retry: Retrier,
        poll: Backoff,
        bundles: NestedBundles | None = None,
    ) -> None:
        self._cfn = cfn
        self._change_sets = change_sets
        self._retry = retry
        self._poll = poll
        self._bundles = bundles

    # Reading.

    def describe(self, name: str) -> DeployedStack | None:
        raw = self._raw(name)
        if raw is None or raw["StackStatus"] in (REVIEW_IN_PROGRESS, DELETE_COMPLETE):
            return None
        return self._deployed(raw)

    def matching(
        self, tag_filter: Mapping[str, str], unless_tagged: str | None = None
    ) -> list[DeployedStack]:
        """Top-level stacks with all of ``tag_filter``'s tags and without ``unless_tagged``."""
        return [
            self._deployed(raw)
            for raw in self._all_raw()
            if _matches(raw, tag_filter)
            and (unless_tagged is None or unless_tagged not in _tags(raw))
            and "ParentId" not in raw
            and raw["StackStatus"] not in (REVIEW_IN_PROGRESS, DELETE_COMPLETE)
        ]

    def tags(self, name: str) -> dict[str, str] | None:
        """The stack's tags from one describe_stacks call, or None if it does not exist."""
        raw = self._raw(name)
        return None if raw is None else _tags(raw)

    def tags_and_outputs(self, name: str) -> tuple[dict[str, str], dict[str, str]] | None:
        """The stack's tags and outputs from one describe_stacks call (None: no stack)."""
        raw = self._raw(name)
        return None if raw is None else (_tags(raw), _outputs(raw))

    # Changing.

    def change_set_for(self, request: StackRequest) -> ChangeSet:
        """CloudFormation's change set for ``request``, created and then deleted again."""
        raw = self._raw(request.name)
        if raw is None or raw["StackStatus"] in (REVIEW_IN_PROGRESS, ROLLBACK_COMPLETE):
            return additions(request)
        change_set = self._change_sets.create(request, "UPDATE")
        try:
            self._change_sets.wait(change_set)
        except NoUpdates:
            return ChangeSet(request.name, "noop", ())
        changes = self._change_sets.changes(change_set)
        self._change_sets.delete(change_set)
        return ChangeSet(request.name, "update", changes)

    def apply(self, request: StackRequest, on_event: EventSink) -> StackResult:
        kind = self._prepare(request.name, on_event)
        if self._bundles is not None:
            # Before the change: a deploy interrupted later still leaves a readable stack.
            self._bundles.write(request.template)
        change_set = self._change_sets.create(request, kind)
        self._change_sets.wait(change_set)
        tail = EventTail(self._cfn, change_set.stack_id, self._retry)
        tail.mark()
        self._change_sets.execute(change_set)
        success = CREATE_COMPLETE if kind == "CREATE" else UPDATE_COMPLETE
        return self._follow(request.name, tail, on_event, success)

    def delete(self, name: str, on_event: EventSink) -> None:
        """Delete the stack and wait; nothing to do when it does not exist."""
        raw = self._raw(name)
        if raw is None or raw["StackStatus"] == DELETE_COMPLETE:
            return
        self._delete_existing(name, raw, on_event)

    def _delete_existing(self, name: str, raw: Any, on_event: EventSink) -> None:
        tail = EventTail(self._cfn, raw["StackId"], self._retry)
        tail.mark()
        self._retry(self._cfn.delete_stack, StackName=raw["StackId"])
        self._follow(name, tail, on_event, DELETE_COMPLETE)

    def _prepare(self, name: str, on_event: EventSink) -> ChangeSetType:
        """Decide CREATE or UPDATE, clearing a stack that a failed create left behind."""
        raw = self._raw(name)
        if raw is None or raw["StackStatus"] == REVIEW_IN_PROGRESS:
            return "CREATE"
        status = raw["StackStatus"]
        if status == ROLLBACK_COMPLETE:
            on_event(
                _notice(
                    name,
                    status,
                    "a failed create left this stack behind; "
                    "teal deletes it before creating it again",
                )
            )
            self._delete_existing(name, raw, on_event)
            return "CREATE"
        if not is_settled(status):
            raise OperationError(
                f"stack {name} is busy ({status})",
                where=name,
                hint="wait for the running operation to finish, then deploy again",
            )
        return "UPDATE"

    def _follow(self, name: str, tail: EventTail, on_event: EventSink, success: str) -> StackResult:
        seen: list[StackEvent] = []
        for polls, delay in enumerate(self._poll.delays(), start=1):
            self._retry.sleep(delay)
            for event in tail.poll():
                on_event(event)
                seen.append(event)
            # The stack's own event says when it settles; the status is asked now and
            # then as well, in case that event was missed.
            settled = any(is_settled(event.status) for event in tail.stack_level[-1:])
            if settled or polls % STATUS_CHECK_EVERY == 0:
                raw = self._raw(tail.stack_id)
                if raw is not None and is_settled(raw["StackStatus"]):
                    return self._result(name, raw, seen, success)
        raise AssertionError("unreachable: delays() never ends")

    def _result(self, name: str, raw: Any, seen: list[StackEvent], success: str) -> StackResult:
        status = str(raw["StackStatus"])
        if status != success:
            raise StackFailed(name, status, self._failures(seen, str(raw["StackId"])))
        return StackResult(name, status, _outputs(raw), tuple(seen))

    def _failures(self, seen: list[StackEvent], own_id: str) -> tuple[StackEvent, ...]:
        """Failed events, each nested stack's own failures before the parent's summary."""
        since = seen[0].timestamp if seen else datetime.min.replace(tzinfo=UTC)
        failures: list[StackEvent] = []
        for event in seen:
            if not event.failed:
                continue
            if event.resource_type == STACK_TYPE and event.physical_id not in (None, own_id):
                failures.extend(failures_since(self._cfn, event.physical_id, since, self._retry))
            failures.append(event)
        return tuple(failures)

    # Raw reads.

    def _raw(self, name: str) -> Any | None:
        try:
            response = self._retry(self._cfn.describe_stacks, StackName=name)
        except ClientError as error:
            if error_code(error) == "ValidationError" and "does not exist" in error_message(error):
                return None
            raise
        stacks = response.get("Stacks", [])
        return stacks[0] if stacks else None

    def _all_raw(self) -> list[Any]:
        stacks: list[Any] = []
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            page = self._retry(self._cfn.describe_stacks, **extra)
            stacks.extend(page.get("Stacks", []))
            token = page.get("NextToken")
            if not token:
                return stacks

    def _deployed(self, raw: Any) -> DeployedStack:
        stack_id = str(raw["StackId"])
        template = self._template(stack_id)
        return DeployedStack(
            name=str(raw["StackName"]),
            status=str(raw["StackStatus"]),
            template=template,
            outputs=_outputs(raw),
            tags=_tags(raw),
            updated_at=raw.get("LastUpdatedTime") or raw.get("CreationTime"),
            status_reason=raw.get("StackStatusReason"),
            nested_templates=self._nested(stack_id, template),
        )

    def _nested(self, stack_id: str, template: Template) -> dict[str, Template]:
        bundled = self._bundles.read(template) if self._bundles is not None else None
        if bundled is not None:
            return bundled
        return self._nested_templates(stack_id, template)

    def _template(self, stack: str) -> Template:
        response = self._retry(self._cfn.get_template, StackName=stack, TemplateStage="Original")
        body: Any = response["TemplateBody"]
        # botocore decodes a JSON body into OrderedDicts; a YAML one stays text.
        if isinstance(body, str):
            return _parse_template(body, stack)
        return _plain_dicts(body)  # type: ignore[no-any-return]

    def _nested_templates(self, stack_id: str, template: Template) -> dict[str, Template]:
        """Each nested stack's template from CloudFormation: two calls per nested stack."""
        nested: dict[str, Template] = {}
        for logical_id, resource in template.get("Resources", {}).items():
            if resource.get("Type") != STACK_TYPE:
                continue
            physical_id = self._physical_id(stack_id, logical_id)
            if physical_id:
                nested[logical_id] = self._template(physical_id)
        return nested

    def _physical_id(self, stack_id: str, logical_id: str) -> str | None:
        try:
            response = self._retry(
                self._cfn.describe_stack_resource,
                StackName=stack_id,
                LogicalResourceId=logical_id,
            )
        except ClientError as error:
            if error_code(error) == "ValidationError":
                return None
            raise
        return response["StackResourceDetail"].get("PhysicalResourceId")


def _notice(name: str, status: str, reason: str) -> StackEvent:
    return StackEvent(
        timestamp=datetime.now(UTC),
        stack_name=name,
        logical_id=name,
        resource_type=STACK_TYPE,
        status=status,
        reason=reason,
    )


def _plain_dicts(value: Any) -> Any:
    """OrderedDicts made plain dicts, all the way down.

    The analysis compares templates as plain dicts (it checks ``type(x) is
    dict`` for speed), so a template read from AWS must look exactly like one
    teal synthesized; otherwise an unchanged app would look changed.
    """
    if isinstance(value, dict):
        return {key: _plain_dicts(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_dicts(item) for item in value]
    return value


def _parse_template(body: str, where: str) -> Template:
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as error:
        raise OperationError(
            "the deployed template is not JSON (was the stack made by another tool?)",
            where=where,
            hint="teal manages stacks it created; pick another env or extra name",
        ) from error
    if not isinstance(parsed, dict):
        raise OperationError("the deployed template is not a JSON object", where=where)
    return parsed


def _outputs(raw: Any) -> dict[str, str]:
    return {o["OutputKey"]: str(o.get("OutputValue", "")) for o in raw.get("Outputs", [])}


def _tags(raw: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw.get("Tags", [])}


def _matches(raw: Any, tag_filter: Mapping[str, str]) -> bool:
    tags = _tags(raw)
    return all(tags.get(key) == value for key, value in tag_filter.items())
