"""The Lambda side of the template: per function a role, a log group, the
function itself and the permission that lets this API invoke it.

Least privilege, as teal means it:

- each function has its own role, allowed to write to its own log group only;
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

from teal.config import Target
from teal.routes import Route
from teal.template.names import function_id, function_physical_name, generation

RUNTIME_HANDLER = "teal.runtime.entry.handler"
LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
APIGW_PRINCIPAL = "apigateway.amazonaws.com"
RESOURCES_PER_FUNCTION = 4

Resource = dict[str, Any]


def role_id(function: str, gen: str = "") -> str:
    return f"{function_id(function, gen)}Role"


def log_group_id(function: str, gen: str = "") -> str:
    return f"{function_id(function, gen)}Logs"


def permission_id(function: str, gen: str = "") -> str:
    return f"{function_id(function, gen)}Permission"


def function_resources(
    function: str, routes: Sequence[Route], target: Target, code_key: str, rest_api_id: str
) -> dict[str, Resource]:
    """The resources of one app function, by logical id: its role, log group, the
    function, and (when routes call it) API Gateway's permission to invoke it."""
    gen = generation(rest_api_id)
    name = function_physical_name(target.environment, function, gen)
    fn_id = function_id(function, gen)
    resources = {
        role_id(function, gen): _role(name),
        log_group_id(function, gen): {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": f"/aws/lambda/{name}"},
        },
        fn_id: _function(function, name, target, code_key, gen),
    }
    if routes:  # a function only schedules or queues run is no business of the API's
        resources[permission_id(function, gen)] = _permission(fn_id, routes, rest_api_id)
    return resources


def _role(name: str) -> Resource:
    log_arn = (
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}"
        f":log-group:/aws/lambda/{name}:*"
    )
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": LAMBDA_PRINCIPAL},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
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
        "DependsOn": [log_group_id(function, gen)],
        "Properties": {
            "FunctionName": name,
            "Handler": RUNTIME_HANDLER,
            "Runtime": target.runtime,
            "Role": {"Fn::GetAtt": [role_id(function, gen), "Arn"]},
            "Code": {"S3Bucket": {"Ref": "ArtifactBucket"}, "S3Key": code_key},
            "MemorySize": memory,
            "Timeout": timeout,
            "Environment": {"Variables": dict(sorted(environment.items()))},
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
