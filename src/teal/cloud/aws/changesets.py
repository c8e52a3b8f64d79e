"""Change sets: create, wait until ready, read the changes, or refuse an empty one.

Parsing CloudFormation's words for "nothing to do" stays in this module;
callers catch :class:`teal.cloud.base.NoUpdates`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from teal.cloud.aws.artifacts import ArtifactBucket
from teal.cloud.aws.retry import Backoff, Retrier
from teal.cloud.base import ChangeSet, ChangeSetRow, NoUpdates, StackRequest
from teal.runtime.errors import OperationError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

ChangeSetType = Literal["CREATE", "UPDATE"]

# Templates larger than this must be read by CloudFormation from S3.
INLINE_TEMPLATE_LIMIT = 51_200
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
_EMPTY_REASONS = (
    "didn't contain changes",
    "No updates are to be performed",
)
_READY = "CREATE_COMPLETE"
_FAILED = "FAILED"


@dataclass(frozen=True)
class CreatedChangeSet:
    id: str
    stack_id: str
    stack_name: str


def is_empty_reason(reason: str | None) -> bool:
    return reason is not None and any(marker in reason for marker in _EMPTY_REASONS)


def additions(request: StackRequest) -> ChangeSet:
    """The change set of a stack that does not exist yet: every resource is added."""
    resources = request.template.get("Resources", {})
    changes = tuple(
        ChangeSetRow("Add", logical_id, str(body.get("Type", "")), None)
        for logical_id, body in resources.items()
    )
    return ChangeSet(request.name, "create", changes)


class ChangeSets:
    def __init__(
        self,
        cfn: CloudFormationClient,
        bucket: ArtifactBucket,
        retry: Retrier,
        poll: Backoff,
    ) -> None:
        self._cfn = cfn
        self._bucket = bucket
        self._retry = retry
        self._poll = poll

    def create(self, request: StackRequest, kind: ChangeSetType) -> CreatedChangeSet:
        response = self._retry(
            self._cfn.create_change_set,
            StackName=request.name,
            ChangeSetName=_change_set_name(),
            ChangeSetType=kind,
            Capabilities=CAPABILITIES,  # type: ignore[arg-type]
            Parameters=[
                {"ParameterKey": key, "ParameterValue": value}
                for key, value in request.parameters.items()
            ],
            Tags=[{"Key": key, "Value": value} for key, value in request.tags.items()],
            **self._template_argument(request),  # type: ignore[arg-type]
        )
        return CreatedChangeSet(response["Id"], response["StackId"], request.name)

    def wait(self, change_set: CreatedChangeSet) -> None:
        """Wait until the change set can run; :class:`NoUpdates` if it changes nothing."""
        for delay in self._poll.delays():
            response = self._retry(self._cfn.describe_change_set, ChangeSetName=change_set.id)
            status = response["Status"]
            if status == _READY:
                return
            if status == _FAILED:
                self._refuse(change_set, response.get("StatusReason"))
            self._retry.sleep(delay)

    def changes(self, change_set: CreatedChangeSet) -> tuple[ChangeSetRow, ...]:
        rows: list[ChangeSetRow] = []
        token: str | None = None
        while True:
            extra: dict[str, Any] = {"NextToken": token} if token else {}
            page = self._retry(self._cfn.describe_change_set, ChangeSetName=change_set.id, **extra)
            rows.extend(_row(change) for change in page.get("Changes", []))
            token = page.get("NextToken")
            if not token:
                return tuple(rows)

    def execute(self, change_set: CreatedChangeSet) -> None:
        self._retry(self._cfn.execute_change_set, ChangeSetName=change_set.id)

    def delete(self, change_set: CreatedChangeSet) -> None:
        self._retry(self._cfn.delete_change_set, ChangeSetName=change_set.id)

    def _refuse(self, change_set: CreatedChangeSet, reason: str | None) -> None:
        self.delete(change_set)
        if is_empty_reason(reason):
            raise NoUpdates(change_set.stack_name)
        raise OperationError(
            f"CloudFormation could not prepare the change set: {reason}",
            where=change_set.stack_name,
            hint="check the template with `teal template` and cfn-lint",
        )

    def _template_argument(self, request: StackRequest) -> dict[str, str]:
        # In teal's own key order: CloudFormation hands the original text back, and
        # the deployed template must read exactly like the one teal synthesizes.
        body = json.dumps(request.template, separators=(",", ":"))
        if len(body.encode()) <= INLINE_TEMPLATE_LIMIT:
            return {"TemplateBody": body}
        key = f"templates/{hashlib.sha256(body.encode()).hexdigest()}.json"
        if not self._bucket.has(key):
            self._bucket.put(key, body.encode())
        return {"TemplateURL": self._bucket.url(key)}


def _change_set_name() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return f"teal-{stamp}-{uuid.uuid4().hex[:8]}"


def _row(change: Any) -> ChangeSetRow:
    resource = change.get("ResourceChange", {})
    return ChangeSetRow(
        action=str(resource.get("Action", "")),
        logical_id=str(resource.get("LogicalResourceId", "")),
        resource_type=str(resource.get("ResourceType", "")),
        replacement=resource.get("Replacement"),
        physical_id=resource.get("PhysicalResourceId"),
        scope=tuple(resource.get("Scope", [])),
    )
