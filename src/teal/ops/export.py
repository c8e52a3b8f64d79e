"""``teal package --out DIR``: what a pipeline deploys with CloudFormation, without teal.

The folder holds the environment's templates and code zips, laid out for
``aws cloudformation package``: the main template names its artifacts by
local paths relative to itself (a function's ``Code`` is ``code/<sha256>.zip``, the
dependency layer's ``Content`` ``layers/<sha256>.zip``,
a nested page's ``TemplateURL`` is ``templates/<sha256>.json``), which that
command uploads to a bucket and rewrites into S3 locations; ``aws
cloudformation deploy`` then applies the result. ``manifest.json`` lists
every file with its hash, which function uses which layer, and the two commands.

The package is what a first deploy of the environment would apply. teal's
blue-green analysis needs the deployed stack, so a pipeline that updates an
existing stack this way should run ``teal plan`` first.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from teal.ops.decision import package_for, with_layers
from teal.progress import Progress, quiet
from teal.project.config import Target
from teal.project.exclusions import Exclusion
from teal.project.loader import target_routes
from teal.runtime.errors import UserError
from teal.template import ARTIFACT_BUCKET, synthesize
from teal.template.names import canonical_json
from teal.template.types import Template

MAIN_TEMPLATE = "template.json"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Exported:
    out: Path
    stack: str
    templates: tuple[str, ...]  # paths relative to ``out``, the main template first
    artifacts: tuple[str, ...]
    manifest: dict[str, Any]
    excluded: tuple[Exclusion, ...] = ()  # what of the project the code zip left out

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "stack": self.stack,
            "templates": list(self.templates),
            "artifacts": list(self.artifacts),
            "manifest": MANIFEST,
            "excluded": [item.to_json() for item in self.excluded],
        }


def export(target: Target, out: Path, progress: Progress = quiet) -> Exported:
    """Write the environment's templates, code zip and manifest into ``out``."""
    out = out.resolve()
    table = target_routes(target, progress)
    package = package_for(replace(target, cloud="aws"), also_exclude=(out,))
    target = with_layers(target, package)
    synthesized = synthesize(table, target, package.key)
    _claim(out)  # once all is known: a refused package writes nothing
    main = local_artifact_paths(synthesized.template)
    files: dict[str, bytes] = {MAIN_TEMPLATE: _json_bytes(main), package.key: package.data}
    files.update({layer.key: layer.data for layer in package.layers if layer.data is not None})
    for key, nested in sorted(synthesized.nested.items()):
        files[key] = canonical_json(nested).encode("utf-8")
    for relative, data in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    templates = (MAIN_TEMPLATE, *sorted(synthesized.nested))
    manifest = _manifest(target, files, templates, package.key)
    manifest["layers"] = function_layers(synthesized.template)
    (out / MANIFEST).write_bytes(_json_bytes(manifest))
    artifacts = (package.key, *(layer.key for layer in package.layers))
    return Exported(out, target.environment, templates, artifacts, manifest, package.excluded)


def function_layers(template: Template) -> dict[str, list[str]]:
    """Each function's layers, by its name: the dependency layer by its zip's path, a
    layer of ``[functions.NAME] layers`` by its ARN."""
    resources: dict[str, Any] = template.get("Resources", {})
    found: dict[str, list[str]] = {}
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource.get("Type") != "AWS::Lambda::Function" or "Layers" not in properties:
            continue
        found[str(properties["FunctionName"])] = [
            _layer_named(layer, resources) for layer in properties["Layers"]
        ]
    return dict(sorted(found.items()))


def _layer_named(layer: Any, resources: dict[str, Any]) -> str:
    if isinstance(layer, dict) and "Ref" in layer:
        return str(resources[layer["Ref"]]["Properties"]["Content"]["S3Key"])
    return str(layer)


def local_artifact_paths(template: Template) -> Template:
    """The template with its artifacts named by paths relative to it, and no bucket
    parameter: the form ``aws cloudformation package`` takes."""
    resources: dict[str, Any] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        properties = dict(resource.get("Properties", {}))
        code = properties.get("Code")
        if resource.get("Type") == "AWS::Lambda::Function" and isinstance(code, dict):
            properties["Code"] = code["S3Key"]
        content = properties.get("Content")
        if resource.get("Type") == "AWS::Lambda::LayerVersion" and isinstance(content, dict):
            properties["Content"] = content["S3Key"]
        url = properties.get("TemplateURL")
        if resource.get("Type") == "AWS::CloudFormation::Stack" and url is not None:
            properties["TemplateURL"] = _artifact_key_of(url)
        resources[logical_id] = {**resource, "Properties": properties}
    local = {**template, "Resources": resources}
    parameters = {k: v for k, v in template.get("Parameters", {}).items() if k != ARTIFACT_BUCKET}
    if parameters:
        local["Parameters"] = parameters
    else:
        local.pop("Parameters", None)
    return local


def _artifact_key_of(url: Any) -> str:
    text = url.get("Fn::Sub") if isinstance(url, dict) else url
    return str(text).split(".amazonaws.com/", 1)[1]


def _claim(out: Path) -> None:
    """An empty folder, or one a previous ``teal package`` wrote (cleared); else refuse."""
    if out.exists() and not out.is_dir():
        raise UserError(
            f"{out} is a file, not a folder", where=str(out), hint="give --out a folder"
        )
    if out.is_dir() and any(out.iterdir()):
        if not (out / MANIFEST).is_file():
            raise UserError(
                f"{out} is not empty and was not written by teal package",
                where=str(out),
                hint="give --out an empty or new folder",
            )
        shutil.rmtree(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the folder: {exc.strerror}",
            where=str(out),
            hint="give --out a folder you can write",
        ) from exc


def _manifest(
    target: Target, files: dict[str, bytes], templates: tuple[str, ...], code_key: str
) -> dict[str, Any]:
    tags = " ".join(f"{k}={v}" for k, v in sorted(target.tags().items()))
    return {
        "version": MANIFEST_VERSION,
        "stack": target.environment,
        "app": target.app,
        "environment": target.environment,
        "runtime": target.runtime,
        "template": MAIN_TEMPLATE,
        "templates": list(templates),
        "code": code_key,
        "files": [
            {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for path, data in sorted(files.items())
        ],
        "deploy": [
            f"aws cloudformation package --template-file {MAIN_TEMPLATE} "
            "--s3-bucket YOUR_BUCKET --output-template-file packaged.json",
            f"aws cloudformation deploy --template-file packaged.json "
            f"--stack-name {target.environment} "
            f"--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --tags {tags}",
        ],
    }


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8")
