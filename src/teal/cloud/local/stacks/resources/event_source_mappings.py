"""AWS::Lambda::EventSourceMapping: a function polling an SQS queue, through the gateway.

Created as Lambda creates one, with its refusals: the function must exist,
the queue's visibility timeout must be at least the function's timeout, a
batch over ten messages needs a batching window. The gateway's poller
(:mod:`teal.cloud.local.triggers.pollers`) then delivers the queue's messages in
batches.

A queue referenced by ARN that the local cloud does not hold (a queue of a
real account) gets a stand-in in the store, under that ARN: ``teal send``
fills it, and every local consumer of the ARN polls it, as every deployed
environment would poll the real one. A stack that defines a queue of that
ARN later takes the stand-in over. Other event sources (Kinesis, DynamoDB
streams, Kafka) are kept and never polled: the local cloud emulates SQS.
"""

from __future__ import annotations

import uuid

from teal.cloud.local.functions import catalog
from teal.cloud.local.stacks.resources import (
    Properties,
    Provisioned,
    ResourceContext,
    ResourceFailed,
)
from teal.cloud.local.stacks.resources.lambda_ import function_arn, function_name_of
from teal.cloud.local.triggers import queues, source_mappings
from teal.cloud.local.triggers.source_mappings import MappingSettings

DEFAULT_BATCH_SIZE = 10
MAX_BATCH_SIZE = 10_000
UNWINDOWED_BATCH_SIZE = 10


class EventSourceMapping:
    type_name = "AWS::Lambda::EventSourceMapping"
    properties = frozenset(
        {
            "FunctionName",
            "EventSourceArn",
            "BatchSize",
            "Enabled",
            "MaximumBatchingWindowInSeconds",
            "FunctionResponseTypes",
            "ScalingConfig",
            "FilterCriteria",
            "Tags",
        }
    )
    required = frozenset({"FunctionName"})
    attributes = frozenset({"Id", "EventSourceMappingArn"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        mapping_id = str(uuid.uuid4())
        source_mappings.create_mapping(ctx.conn, mapping_id, self._checked(ctx, props))
        return self._provisioned(ctx, mapping_id)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        source_mappings.update_mapping(ctx.conn, current.physical_id, self._checked(ctx, new))
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        source_mappings.delete_mapping(ctx.conn, current.physical_id)

    def _provisioned(self, ctx: ResourceContext, mapping_id: str) -> Provisioned:
        arn = f"arn:aws:lambda:{ctx.region}:{ctx.account_id}:event-source-mapping:{mapping_id}"
        return Provisioned(mapping_id, {"Id": mapping_id, "EventSourceMappingArn": arn})

    def _checked(self, ctx: ResourceContext, props: Properties) -> MappingSettings:
        named = str(props.get("FunctionName"))
        function = function_name_of(named)
        spec = catalog.function_by_name(ctx.conn, function)
        if spec is None:
            raise ResourceFailed(
                f"Function not found: {function_arn(ctx, function)} "
                "(Service: Lambda, Status Code: 404, Error Code: ResourceNotFoundException)"
            )
        source = props.get("EventSourceArn")
        if not isinstance(source, str):
            raise ResourceFailed("Property EventSourceArn must be a string")
        size = props.get("BatchSize", DEFAULT_BATCH_SIZE)
        window = props.get("MaximumBatchingWindowInSeconds", 0)
        if not isinstance(size, int) or not 1 <= size <= MAX_BATCH_SIZE:
            raise ResourceFailed(
                f"1 validation error detected: Value '{size}' at 'batchSize' failed to satisfy "
                f"constraint: Member must have value between 1 and {MAX_BATCH_SIZE}"
            )
        if size > UNWINDOWED_BATCH_SIZE and not (isinstance(window, int) and window >= 1):
            raise ResourceFailed(
                "Invalid request provided: Maximum batch window in seconds must be greater "
                "than 0 if maximum batch size is greater than 10"
            )
        if ":sqs:" in source:
            queue = queues.find_queue(ctx.conn, source) or _stand_in(ctx, source)
            timeout = spec.timeout_s
            if queue.visibility_s < timeout:
                raise ResourceFailed(
                    f"Invalid request provided: Queue visibility timeout: {queue.visibility_s} "
                    f"seconds is less than Function timeout: {timeout} seconds"
                )
        enabled = props.get("Enabled", True)
        return MappingSettings(
            function_name=function,
            # an alias's or a version's ARN stays qualified: the poller invokes what it names
            function_arn=named if named.startswith("arn:") else function_arn(ctx, function),
            source_arn=source,
            batch_size=size,
            window_s=int(window or 0),
            enabled=int(enabled in (True, "true", "True")),
        )


def _stand_in(ctx: ResourceContext, arn: str) -> queues.QueueRecord:
    """A queue of another account, held locally under its ARN (see the module's text)."""
    parts = arn.split(":")
    if len(parts) != 6:
        raise ResourceFailed(f"Invalid request provided: {arn} is not an SQS queue ARN")
    region, account, name = parts[3], parts[4], parts[5]
    record = queues.QueueRecord(arn, queues.queue_url(region, account, name), name, {})
    queues.create_queue(ctx.conn, record, stand_in=True)
    return record
