"""Hand-made templates in teal's template contract, for the local cloud's tests."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Sequence
from typing import Any

from runtime_here import RUNTIME
from teal.cloud.base import StackEvent, StackRequest
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.model import LOCAL_ARTIFACT_BUCKET

Routes = Sequence[tuple[str, Sequence[str]]]
BLOG_ROUTES: Routes = (("/posts", ("GET",)), ("/posts/{id}", ("GET", "DELETE")))
HANDLER_SOURCE = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'hi'}\n"


def code_zip(source: str = HANDLER_SOURCE) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("handler.py", date_time=(2020, 1, 1, 0, 0, 0))
        archive.writestr(info, source)
    return buffer.getvalue()


def put_code(cloud: LocalCloud, source: str = HANDLER_SOURCE) -> str:
    data = code_zip(source)
    key = f"code/{hashlib.sha256(data).hexdigest()}.zip"
    cloud.put_artifact(key, data)
    return key


def logical_name(path: str) -> str:
    """``/posts/{id}`` -> ``PostsId``: a path's resource logical id."""
    words = re.findall(r"[A-Za-z0-9]+", path)
    return "".join(word[:1].upper() + word[1:] for word in words) or "Root"


def _parent_path(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def api_resources(routes: Routes, api: str) -> dict[str, Any]:
    """Resource and Method resources of ``routes`` on the RestApi ``api``."""
    resources: dict[str, Any] = {}
    paths = sorted({p for path, _ in routes for p in _prefixes(path)})
    for path in paths:
        parent = _parent_path(path)
        parent_ref = (
            {"Fn::GetAtt": [api, "RootResourceId"]}
            if parent == "/"
            else {"Ref": f"Res{logical_name(parent)}"}
        )
        resources[f"Res{logical_name(path)}"] = {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": api},
                "ParentId": parent_ref,
                "PathPart": path.rsplit("/", 1)[1],
            },
        }
    for path, verbs in routes:
        for verb in verbs:
            resources[f"Method{logical_name(path)}{verb.title()}"] = {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": {"Ref": api},
                    "ResourceId": {"Ref": f"Res{logical_name(path)}"},
                    "HttpMethod": verb,
                    "AuthorizationType": "NONE",
                    "Integration": {
                        "Type": "AWS_PROXY",
                        "IntegrationHttpMethod": "POST",
                        "Uri": {
                            "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/"
                            "2015-03-31/functions/${Handler.Arn}/invocations"
                        },
                    },
                },
            }
    return resources


def _prefixes(path: str) -> list[str]:
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def blog_template(
    routes: Routes = BLOG_ROUTES,
    *,
    api: str = "RestApi",
    memory: int = 256,
    stage: str = "dev",
) -> dict[str, Any]:
    """A RestApi with ``routes``, one function, its permission, a deployment and a stage."""
    route_resources = api_resources(routes, api)
    methods = sorted(k for k, v in route_resources.items() if v["Type"].endswith("::Method"))
    digest = hashlib.sha256(json.dumps([api, list(routes)]).encode()).hexdigest()[:8]
    deployment = f"Deployment{digest}"
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "blog (test)",
        "Metadata": {"teal": {"version": "test"}},
        "Parameters": {
            "ArtifactBucket": {"Type": "String"},
            "CodeKey": {"Type": "String"},
        },
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
            },
            "Handler": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "handler.handler",
                    "Runtime": RUNTIME,
                    "Role": {"Fn::GetAtt": "Role.Arn"},
                    "MemorySize": memory,
                    "Timeout": 10,
                    "Code": {"S3Bucket": {"Ref": "ArtifactBucket"}, "S3Key": {"Ref": "CodeKey"}},
                    "Environment": {"Variables": {"STACK": {"Ref": "AWS::StackName"}}},
                },
            },
            "HandlerLogs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${Handler}"}},
            },
            api: {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "blog"}},
            "HandlerPermission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Ref": "Handler"},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": {
                        "Fn::Sub": "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:"
                        f"${{{api}}}/*"
                    },
                },
            },
            **route_resources,
            deployment: {
                "Type": "AWS::ApiGateway::Deployment",
                "DependsOn": methods,
                "Properties": {"RestApiId": {"Ref": api}},
            },
            "Stage": {
                "Type": "AWS::ApiGateway::Stage",
                "Properties": {
                    "RestApiId": {"Ref": api},
                    "StageName": stage,
                    "DeploymentId": {"Ref": deployment},
                },
            },
        },
        "Outputs": {
            "ApiId": {"Value": {"Ref": api}},
            "Stage": {"Value": {"Ref": "Stage"}},
            "FunctionArn": {"Value": {"Fn::GetAtt": ["Handler", "Arn"]}},
            "Endpoint": {
                "Value": {
                    "Fn::Join": [
                        "",
                        ["https://", {"Ref": api}, ".execute-api.", {"Ref": "AWS::Region"}, "/"],
                    ]
                }
            },
        },
    }


def blog_request(cloud: LocalCloud, name: str = "blog-dev", **options: Any) -> StackRequest:
    return StackRequest(
        name,
        blog_template(**options),
        {"ArtifactBucket": LOCAL_ARTIFACT_BUCKET, "CodeKey": put_code(cloud)},
        {"teal:app": "blog", "teal:env": "dev"},
    )


def nested_request(cloud: LocalCloud, **child_options: Any) -> StackRequest:
    child = blog_template(**child_options)
    data = json.dumps(child, sort_keys=True).encode()
    key = f"templates/{hashlib.sha256(data).hexdigest()}.json"
    cloud.put_artifact(key, data)
    url = f"https://{LOCAL_ARTIFACT_BUCKET}.s3.us-east-1.amazonaws.com/{key}"
    template = {
        "Parameters": {"ArtifactBucket": {"Type": "String"}, "CodeKey": {"Type": "String"}},
        "Resources": {
            "Api": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {
                    "TemplateURL": url,
                    "Parameters": {
                        "ArtifactBucket": {"Ref": "ArtifactBucket"},
                        "CodeKey": {"Ref": "CodeKey"},
                    },
                },
            }
        },
        "Outputs": {"ApiId": {"Value": {"Fn::GetAtt": ["Api", "Outputs.ApiId"]}}},
    }
    params = {"ArtifactBucket": LOCAL_ARTIFACT_BUCKET, "CodeKey": put_code(cloud)}
    return StackRequest("blog-dev", template, params, {"teal:app": "blog"})


class Events:
    """An on_event sink that keeps what it is given."""

    def __init__(self) -> None:
        self.seen: list[StackEvent] = []

    def __call__(self, event: StackEvent) -> None:
        self.seen.append(event)

    def statuses(self, logical_id: str) -> list[str]:
        return [e.status for e in self.seen if e.logical_id == logical_id]
