"""The dependency layer in the template: an ``AWS::Lambda::LayerVersion`` per
architecture the functions use, and each function's place in it.

The layer's content is ``layers/<sha256>.zip`` in the artifact bucket, a key
made of the dependency pins, the runtime and the architecture
(:mod:`teal.project.layers`): a deploy that changes only code leaves the
resource as it is, so Lambda keeps the published version. Its layer is named
after the environment, so the deploy policy can name the app's layers. Each API generation
has its own (``DependencyLayer``, ``DependencyLayerG1``): during a
replacement's side-by-side step the functions of the retiring API keep the
layer they were deployed with. The function lists it first, before the layers
of ``[functions.NAME] layers`` (later layers win a file both hold).
"""

from __future__ import annotations

from typing import Any

from teal.project.config import Target
from teal.project.layers import layer_logical_id

Resource = dict[str, Any]


def layer_resources(target: Target, gen: str) -> dict[str, Resource]:
    """The dependency layer of each architecture, by logical id."""
    return {
        layer_logical_id(architecture, gen): {
            "Type": "AWS::Lambda::LayerVersion",
            "Properties": {
                "LayerName": layer_name(target.environment),
                "Description": f"dependencies of {target.environment}",
                "Content": {"S3Bucket": {"Ref": "ArtifactBucket"}, "S3Key": key},
                "CompatibleRuntimes": [target.runtime],
                "CompatibleArchitectures": [architecture],
            },
        }
        for architecture, key in target.dependency_layers
    }


def layer_name(environment: str) -> str:
    """``<environment>-dependencies``: every generation's and architecture's version is a
    version of this one layer, and the deploy policy grants ``<app>-*`` layers only."""
    return f"{environment}-dependencies"


def function_properties(target: Target, function: str, gen: str) -> dict[str, Any]:
    """What a function gets of its architecture: ``Architectures`` (arm64 only:
    Lambda's default is x86_64) and its dependency layer."""
    architecture = target.architecture_of(function)
    properties: dict[str, Any] = {}
    if architecture != "x86_64":
        properties["Architectures"] = [architecture]
    if any(arch == architecture for arch, _ in target.dependency_layers):
        properties["Layers"] = [{"Ref": layer_logical_id(architecture, gen)}]
    return properties
