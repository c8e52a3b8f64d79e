"""API Gateway resources and methods for a set of paths of the route tree.

The same code writes them into the main template (small apps) and into the
nested page templates (large apps); only the way a template reaches the
RestApi, a parent resource or a function's ARN differs, so those come in as
an :class:`ApiRefs`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from teal.runtime.routes import Node, Route
from teal.template.cors import preflight_cors, preflight_method, preflight_verbs
from teal.template.names import function_id, generation, method_id, resource_id

INVOKE_URI = (
    "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
    "${FunctionArn}/invocations"
)

Json = Any
OPEN: dict[str, Json] = {"AuthorizationType": "NONE"}  # a method anyone may call


@dataclass(frozen=True)
class ApiRefs:
    """How one template refers to things that may live elsewhere."""

    rest_api: Json
    gen: str  # the generation suffix of every id (see names.generation)
    parent: Callable[[str], Json]  # parent path -> its resource id value
    function_arn: Callable[[str], Json]  # app function name -> its ARN value
    # a route -> its methods' access properties (AuthorizationType... see template.auth)
    access: Callable[[Route], dict[str, Json]] = field(default=lambda route: OPEN)


def main_refs(
    rest_api_id: str, access: Callable[[Route], dict[str, Json]] | None = None
) -> ApiRefs:
    """References inside the main template, where everything is local."""
    gen = generation(rest_api_id)
    root = {"Fn::GetAtt": [rest_api_id, "RootResourceId"]}
    refs = ApiRefs(
        rest_api={"Ref": rest_api_id},
        gen=gen,
        parent=lambda path: local_parent(path, root, gen),
        function_arn=lambda fn: {"Fn::GetAtt": [function_id(fn, gen), "Arn"]},
    )
    return refs if access is None else replace(refs, access=access)


def local_parent(path: str, root: Json, gen: str) -> Json:
    return root if path == "/" else {"Ref": resource_id(path, gen)}


def parent_path(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


def node_resources(node: Node[Route], refs: ApiRefs) -> dict[str, dict[str, Any]]:
    """The ``Resource`` of a path (none for the root), a ``Method`` per verb, and the
    preflight's ``OPTIONS`` method where its routes have CORS."""
    out: dict[str, dict[str, Any]] = {}
    if node.part is not None:
        out[resource_id(node.path, refs.gen)] = {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": refs.rest_api,
                "ParentId": refs.parent(parent_path(node.path)),
                "PathPart": node.part.text,
            },
        }
    for verb in sorted(node.methods):
        out[method_id(node.path, verb, refs.gen)] = _method(node, verb, refs)
    cors = preflight_cors(node)
    if cors is not None:
        out[method_id(node.path, "OPTIONS", refs.gen)] = preflight_method(
            cors, preflight_verbs(node), refs.rest_api, refs.parent(node.path)
        )
    return out


def _method(node: Node[Route], verb: str, refs: ApiRefs) -> dict[str, Any]:
    route = node.methods[verb]
    return {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": refs.rest_api,
            "ResourceId": refs.parent(node.path),
            "HttpMethod": verb,
            **refs.access(route),
            "Integration": {
                "Type": "AWS_PROXY",
                "IntegrationHttpMethod": "POST",
                "Uri": {
                    "Fn::Sub": [INVOKE_URI, {"FunctionArn": refs.function_arn(route.function)}]
                },
            },
        },
    }


def resource_count(node: Node[Route]) -> int:
    return (0 if node.part is None else 1) + len(_verbs(node))


def _verbs(node: Node[Route]) -> list[str]:
    """The verbs of the node's methods: its routes', and OPTIONS for a preflight."""
    verbs = sorted(node.methods)
    return verbs if preflight_cors(node) is None else sorted([*verbs, "OPTIONS"])


def method_ids(nodes: Iterable[Node[Route]], gen: str) -> list[str]:
    return [method_id(n.path, verb, gen) for n in nodes for verb in _verbs(n)]
