"""Schedules and queues: EventBridge's rules fired and SQS queues drained into functions.

Queues live in the store; the gateway process runs the scheduler and the
pollers beside its listeners.
"""
