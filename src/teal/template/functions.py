"""The Lambda side of the template: per function a role, the function itself
and the permission that lets this API invoke it; per environment one log group.

Every function of the environment, of every API generation, writes to the
environment's one log group (Lambda's ``LoggingConfig``: a log stream per
execution environment, named after its function), so its logs read as one
stream across replacements, with one call per page whatever the number of
functions. The log group is not bound to an API generation (no suffix): a
replacement keeps it and the logs written before it. It lives as long as the
environment's stack (``teal delete`` deletes it), with no retention of its own
beyond that: a group retained past its stack would keep its fixed name taken,
and a later deploy of the same environment could not create it again. Its
events never expire, as in Lambda's own log groups.

Least privilege, as teal means it:

- each function has its own role, allowed to write to its environment's log
  group only;
- each function has one ``AWS::Lambda::Permission`` for API Gateway, scoped to
  this RestApi and, when the function serves a single route and verb, to that
  verb and path (``${RestApi}/*/GET/posts/*``); a function serving several
  routes gets the API-wide scope ``${RestApi}/*/*``, because one statement per
  route would outgrow Lambda's 20 KB resource policy on large apps. The stage
  part stays ``*`` so that the console's test invocations work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from teal.project.config import Target
from teal.runtime.routes import Route
from teal.template import dependency_layer
from teal.template.names import function_id, function_physical_name, generation

RUNTIME_HANDLER = "teal.runtime.entry.handler"
LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
APIGW_PRINCIPAL = "apigateway.amazonaws.com"
RESOURCES_PER_FUNCTION = 5  # role, function, permission, version, alias; and one log group
# The environment's log group: no generation suffix, so every API generation shares it.
ENVIRONMENT_LOGS = "EnvironmentLogs"

Resource = dict[str, Any]


def role_id(function: str, gen: str = "") -> str:
    return f"{function_id(function, gen)}Role"


def environment_log_group(environment: str) -> str:
    """The log group every function of the environment writes to.

    Lambda's own prefix, so it is where the console and other tools look first;
    teal's functions are named ``<environment>-<function>``, so no function's
    default group has this name.
    """
    return f"/aws/lambda/{environment}"


def environment_resources(target: Target) -> dict[str, Resource]:
    """What every function of the environment shares: its log group."""
    return {
        ENVIRONMENT_LOGS: {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": environment_log_group(target.environment)},
        }
    }


def permission_id(function: str, gen: str = "") -> str:
    return f"{function_id(function, gen)}Permission"


def function_resources(
    function: str, routes: Sequence[Route], target: Target, code_key: str, rest_api_id: str
) -> dict[str, Resource]:
    """The resources of one app function, by logical id: its role, the
    function, and (when routes call it) API Gateway's permission to invoke it."""
    gen = generation(rest_api_id)
    name = function_physical_name(target.environment, function, gen)
    fn_id = function_id(function, gen)
    resources = {
        role_id(function, gen): _role(environment_log_group(target.environment)),
        fn_id: _function(function, name, target, code_key, gen),
    }
    if routes:  # a function only schedules or queues run is no business of the API's
        resources[permission_id(function, gen)] = _permission(fn_id, routes, rest_api_id)
    return resources


def lambda_trust_policy() -> dict[str, Any]:
    """The trust policy of a role only Lambda may take on (a fresh copy each call)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": LAMBDA_PRINCIPAL},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def _role(log_group: str) -> Resource:
    log_arn = (
        f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{log_group}:*"
    )
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": lambda_trust_policy(),
            "Policies": [
                {
                    "PolicyName": "own-logs",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": {"Fn::Sub": log_arn},
                            }
                        ],
                    },
                }
            ],
        },
    }


def _function(function: str, name: str, target: Target, code_key: str, gen: str) -> Resource:
    memory, timeout, variables = target.function_settings(function)
    environment = {**variables, **target.teal_variables(function)}
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": name,
            "Handler": RUNTIME_HANDLER,
            "Runtime": target.runtime,
            "Role": {"Fn::GetAtt": [role_id(function, gen), "Arn"]},
            "Code": {"S3Bucket": {"Ref": "ArtifactBucket"}, "S3Key": code_key},
            "MemorySize": memory,
            "Timeout": timeout,
            "Environment": {"Variables": dict(sorted(environment.items()))},
            "LoggingConfig": {
                "LogGroup": {"Ref": ENVIRONMENT_LOGS},
                "LogFormat": "Text",
            },
            **dependency_layer.function_properties(target, function, gen),
        },
    }


def source_arn_scope(routes: Sequence[Route]) -> str:
    """``<VERB>/<path with variables as *>`` for one route and verb, else ``*``."""
    endpoints = {(r.path, m) for r in routes for m in r.methods}
    if len(endpoints) != 1:
        return "*"
    _, verb = next(iter(endpoints))
    parts = ["*" if p.is_variable else p.text for p in routes[0].parts]
    return f"{'*' if verb == 'ANY' else verb}/{'/'.join(parts)}"


def _permission(fn_id: str, routes: Sequence[Route], rest_api_id: str) -> Resource:
    return api_permission(fn_id, rest_api_id, f"*/{source_arn_scope(routes)}")


def api_permission(fn_id: str, rest_api_id: str, scope: str) -> Resource:
    """API Gateway's permission to invoke the function, for the API's ARNs under ``scope``
    (``*/GET/posts`` for routes, ``authorizers/*`` for an authorizer)."""
    arn = (
        "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
        f"${{{rest_api_id}}}/{scope}"
    )
    return {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [fn_id, "Arn"]},
            "Principal": APIGW_PRINCIPAL,
            "SourceArn": {"Fn::Sub": arn},
        },
    }
