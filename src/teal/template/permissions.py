"""What a function's role may do beyond writing its own logs.

Least privilege stays the default: a role holds its log policy and nothing
else, unless teal.toml grants more (``[app] policies`` for every function,
``[functions.NAME] policies`` for one) or the function needs it to run:

- a queue consumer's role may receive, delete and read the attributes of the
  messages of its queues (Lambda polls with the function's role, and refuses
  to create the event source mapping without these);
- a function in a VPC gets AWS's managed policy for the network interfaces
  Lambda creates (``AWSLambdaVPCAccessExecutionRole``).

Statements keep IAM's shape; a resource written ``${Table.Arn}`` names a
resource of the [resources] template and becomes an ``Fn::Sub``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from teal.project.config import STACK_REFERENCE, PolicyStatement, Target
from teal.runtime.errors import ConfigError
from teal.template.secrets import function_kms_keys, secrets_policy

USER_POLICY = "teal-policies"  # the inline policy holding teal.toml's statements
QUEUE_POLICY = "queue-consumer"
CONSUMER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
VPC_ACCESS = "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"

Resource = dict[str, Any]


def grant(
    role: Resource,
    function: str,
    target: Target,
    queue_arns: Sequence[Any] = (),
    stack_resources: Collection[str] = (),
) -> None:
    """Add to ``role`` what ``function`` is granted (teal.toml) and needs (queues, VPC)."""
    policies = target.function_policies(function)
    statements = [
        _statement(p, function, target, stack_resources)
        for p in policies
        if isinstance(p, PolicyStatement)
    ]
    properties: dict[str, Any] = role["Properties"]
    inline: list[Any] = properties["Policies"]
    if statements:
        inline.append(_document(USER_POLICY, statements))
    secrets = secrets_policy(
        target.function_references(function), function_kms_keys(target, function)
    )
    if secrets is not None:  # what teal's runtime fetches at cold start, and only that
        inline.append(secrets)
    if queue_arns:
        consumer = {
            "Effect": "Allow",
            "Action": list(CONSUMER_ACTIONS),
            "Resource": list(queue_arns),
        }
        inline.append(_document(QUEUE_POLICY, [consumer]))
    managed: list[Any] = [p for p in policies if isinstance(p, str)]
    settings = target.functions.get(function)
    if settings is not None and settings.vpc is not None:
        managed.append({"Fn::Sub": VPC_ACCESS})
    if managed:
        properties["ManagedPolicyArns"] = managed


def _document(name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "PolicyName": name,
        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
    }


def _statement(
    policy: PolicyStatement, function: str, target: Target, stack_resources: Collection[str]
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": policy.effect,
        "Action": list(policy.actions),
        "Resource": [_resource(r, function, target, stack_resources) for r in policy.resources],
    }
    if policy.conditions:
        statement["Condition"] = policy.conditions
    return statement


def _resource(
    resource: str, function: str, target: Target, stack_resources: Collection[str]
) -> Any:
    found = STACK_REFERENCE.match(resource)
    if found is None:
        return resource
    if found.group("name") not in stack_resources:
        raise ConfigError(
            f"the policy resource {resource!r} names {found.group('name')}, which is no "
            "resource of the [resources] template",
            where=_policies_location(target, function),
            hint="name a logical id of that template, or write the ARN",
        )
    return {"Fn::Sub": resource}


def _policies_location(target: Target, function: str) -> str:
    from teal.project.config import load_project

    project = load_project(target.project_dir)
    return project.location(
        ("env", target.env, "functions", function, "policies"),
        ("functions", function, "policies"),
        ("env", target.env, "policies"),
        ("app", "policies"),
    )
