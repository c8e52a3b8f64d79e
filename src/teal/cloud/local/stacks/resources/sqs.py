"""AWS::SQS::Queue: a queue in the store, its messages kept until deleted or expired.

Its physical id (what ``Ref`` gives) is its URL, as on AWS; ``Fn::GetAtt``
gives ``Arn``, ``QueueName`` and ``QueueUrl``. The attributes SQS checks are
checked as it checks them, with its words; the others are kept, unused (the
local cloud has no encryption to apply, and treats a FIFO queue as a
standard one).
"""

from __future__ import annotations

from typing import Any

from teal.cloud.local.stacks.resources import (
    Properties,
    Provisioned,
    ResourceContext,
    ResourceFailed,
    given_or_generated_name,
)
from teal.cloud.local.triggers import queues
from teal.rules.schemas import resource_schema

TYPE = "AWS::SQS::Queue"
# SQS's ranges for the attributes the local queue honours, in seconds
RANGES = {
    "VisibilityTimeout": (0, 43200),
    "MessageRetentionPeriod": (60, 1209600),
    "DelaySeconds": (0, 900),
}


def _writable() -> frozenset[str]:
    schema = resource_schema(TYPE)
    read_only = {p.split("/")[2] for p in schema.get("readOnlyProperties", [])}
    return frozenset(set(schema["properties"]) - read_only)


class Queue:
    type_name = TYPE
    properties = _writable()
    required: frozenset[str] = frozenset()
    attributes = frozenset({"Arn", "QueueName", "QueueUrl"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        name = given_or_generated_name(ctx, props, "QueueName", 80)
        arn = queues.queue_arn(ctx.region, ctx.account_id, name)
        found = queues.find_queue(ctx.conn, arn)
        attributes = self._attributes(ctx, props)
        if found is not None and not queues.is_stand_in(ctx.conn, arn):
            raise ResourceFailed(
                f"Resource of type '{TYPE}' with identifier '{name}' already exists."
            )
        record = queues.QueueRecord(
            arn, queues.queue_url(ctx.region, ctx.account_id, name), name, attributes
        )
        if found is not None:  # a stand-in a consumer made for this ARN: now the stack's own
            queues.update_queue(ctx.conn, arn, attributes)
        else:
            queues.create_queue(ctx.conn, record)
        return _provisioned(record)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        arn = str(current.attributes["Arn"])
        queues.update_queue(ctx.conn, arn, self._attributes(ctx, new))
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        queues.delete_queue(ctx.conn, str(current.attributes["Arn"]))

    def _attributes(self, ctx: ResourceContext, props: Properties) -> dict[str, Any]:
        attributes = {k: v for k, v in props.items() if k != "QueueName"}
        for name, (low, high) in RANGES.items():
            value = attributes.get(name)
            if value is not None and not (isinstance(value, int) and low <= value <= high):
                raise ResourceFailed(
                    f"Invalid value for the parameter {name}. Reason: must be a whole "
                    f"number of seconds from {low} to {high} (got {value!r})."
                )
        policy = attributes.get("RedrivePolicy")
        if policy is not None:
            attributes["RedrivePolicy"] = _redrive_policy(ctx, policy)
        return attributes


def _redrive_policy(ctx: ResourceContext, policy: Any) -> dict[str, Any]:
    if not isinstance(policy, dict):
        raise ResourceFailed("Value for parameter RedrivePolicy is invalid: must be a map")
    target = policy.get("deadLetterTargetArn")
    count = policy.get("maxReceiveCount")
    if not isinstance(count, int) or not 1 <= count <= 1000:
        raise ResourceFailed(
            f"Value {policy} for parameter RedrivePolicy is invalid. Reason: Invalid value for "
            "maxReceiveCount: must be an integer from 1 to 1000."
        )
    if not isinstance(target, str) or queues.find_queue(ctx.conn, target) is None:
        raise ResourceFailed(
            f"Value {policy} for parameter RedrivePolicy is invalid. Reason: Dead-letter target "
            "does not exist."
        )
    return {"deadLetterTargetArn": target, "maxReceiveCount": count}


def _provisioned(record: queues.QueueRecord) -> Provisioned:
    return Provisioned(
        record.url, {"Arn": record.arn, "QueueName": record.name, "QueueUrl": record.url}
    )
