"""``[resources] template``: extra CloudFormation, read from a YAML or JSON file.

The file is a CloudFormation template of its own: ``Resources`` (and
``Outputs``), in JSON or in YAML with CloudFormation's short tags (``!Ref``,
``!GetAtt``, ``!Sub``...), read by cfn-lint's own YAML loader, which knows
them. What teal cannot merge into an environment's stack is refused here,
with the line of the file it is on: a section other than ``Resources``,
``Outputs``, ``Description`` and ``Metadata``, a resource type AWS does not
have, a logical id CloudFormation would refuse, and a name teal gives its own
resources or outputs in any generation of the API (``RestApi1``, ``StageG1``...),
which would otherwise surface only when an API is replaced.

It is read with teal.toml (so every problem is known before any work), and
synthesis (:mod:`teal.template.resources`) merges it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teal.rules.labels import TEAL_LOGICAL_ID, TEAL_OUTPUTS
from teal.rules.schemas import is_known_type
from teal.runtime.errors import ConfigError

SECTIONS = frozenset(
    {"AWSTemplateFormatVersion", "Description", "Metadata", "Resources", "Outputs"}
)
LOGICAL_ID = re.compile(r"^[A-Za-z0-9]{1,255}$")


@dataclass(frozen=True)
class ExtraResources:
    """The file's resources and outputs, as plain JSON values, and where each one is."""

    path: Path
    resources: Mapping[str, Any]
    outputs: Mapping[str, Any] = field(default_factory=dict)
    lines: Mapping[str, int] = field(default_factory=dict)  # logical id or output -> line

    def where(self, name: str) -> str:
        """``file:LINE`` of a resource or output (the file when its line is unknown)."""
        line = self.lines.get(name)
        return f"{self.path}:{line}" if line else str(self.path)

    def types(self) -> dict[str, str]:
        """Each resource's type, by logical id."""
        return {name: str(body.get("Type")) for name, body in self.resources.items()}


_YAML_HINT = "fix the template at the line named (YAML's indentation, or a tag's spelling)"
_SHAPE_HINT = (
    "write Resources (and Outputs) as mappings of logical id to body, as CloudFormation does"
)


def read_resources_file(root: Path, name: str, configured_at: str) -> ExtraResources:
    """Read and check the template ``name`` (relative to the project); ConfigError if bad."""
    path = (root / name).resolve()
    if not path.is_file():
        raise ConfigError(
            f"the [resources] template {name!r} does not exist",
            where=configured_at,
            hint=f"create {path}, or fix [resources] template",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read it: {exc}",
            where=str(path),
            hint="make it a readable UTF-8 file (YAML or JSON), or fix [resources] template",
        ) from exc
    loaded, lines = _parse(text, path)
    return _checked(loaded, lines, path)


def _parse(text: str, path: Path) -> tuple[Any, dict[str, int]]:
    """The template as plain values, and the line of each resource and output."""
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            return json.loads(text), {}
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"not valid JSON: {exc}",
                where=f"{path}:{exc.lineno}",
                hint="fix the JSON at that line (a missing comma or quote, say)",
            ) from exc
    # cfn-lint's loader knows CloudFormation's short tags; imported only for a YAML file
    from cfnlint.decode.cfn_yaml import CfnParseError, loads

    try:
        nodes = loads(text, str(path))
    except CfnParseError as exc:
        raise ConfigError(
            f"not valid CloudFormation YAML: {exc}", where=str(path), hint=_YAML_HINT
        ) from exc
    except Exception as exc:  # the YAML library's own errors carry their position
        raise ConfigError(f"not valid YAML: {exc}", where=str(path), hint=_YAML_HINT) from exc
    return json.loads(json.dumps(nodes)), _node_lines(nodes)


def _node_lines(nodes: Any) -> dict[str, int]:
    lines: dict[str, int] = {}
    if not isinstance(nodes, dict):
        return lines
    for section in ("Resources", "Outputs"):
        body = nodes.get(section)
        if not isinstance(body, dict):
            continue
        for name, value in body.items():
            mark = getattr(value, "start_mark", None) or getattr(name, "start_mark", None)
            if mark is not None:
                lines[str(name)] = int(mark.line) + 1
    return lines


def _checked(loaded: Any, lines: dict[str, int], path: Path) -> ExtraResources:
    if not isinstance(loaded, dict):
        raise ConfigError(
            "a CloudFormation template is a mapping of sections",
            where=str(path),
            hint=_SHAPE_HINT,
        )
    extra = sorted(set(loaded) - SECTIONS)
    if extra:
        raise ConfigError(
            f"teal merges Resources and Outputs into the environment's stack; this template "
            f"also has {', '.join(extra)}",
            where=str(path),
            hint="write the values in place (teal's stack takes no parameters, conditions or "
            "transforms from it)",
        )
    resources = loaded.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise ConfigError("the template has no Resources", where=str(path), hint=_SHAPE_HINT)
    outputs = loaded.get("Outputs") or {}
    if not isinstance(outputs, dict):
        raise ConfigError("Outputs must be a mapping", where=str(path), hint=_SHAPE_HINT)
    found = ExtraResources(path, resources, outputs, lines)
    for logical_id, body in resources.items():
        _check_resource(found, logical_id, body)
    for name, body in outputs.items():
        _check_output(found, name, body)
    return found


def _check_resource(found: ExtraResources, logical_id: str, body: Any) -> None:
    where = found.where(logical_id)
    if not LOGICAL_ID.match(logical_id):
        raise ConfigError(
            f"resource {logical_id!r}: CloudFormation takes logical ids of letters and digits",
            where=where,
            hint="rename it with letters and digits only, e.g. 'PostsTable'",
        )
    if TEAL_LOGICAL_ID.fullmatch(logical_id):
        raise ConfigError(
            f"resource {logical_id} is named as teal names its own resources (its API, "
            "stage, deployments, functions and their roles, routes, queues, in this or a "
            "later generation of the API): it would clash with one of them, at the latest "
            "when the API is replaced",
            where=where,
            hint="rename it in your template after what it holds, e.g. 'Posts' or 'UploadsBucket'",
        )
    kind = body.get("Type") if isinstance(body, dict) else None
    if not isinstance(kind, str):
        raise ConfigError(
            f"resource {logical_id} has no Type",
            where=where,
            hint="give it a Type such as AWS::DynamoDB::Table",
        )
    if not is_known_type(kind):
        raise ConfigError(
            f"resource {logical_id}: {kind} is not a resource type AWS CloudFormation has",
            where=where,
            hint="check the spelling against the AWS resource type reference",
        )


def _check_output(found: ExtraResources, name: str, body: Any) -> None:
    where = found.where(name)
    if not LOGICAL_ID.match(name):
        raise ConfigError(
            f"output {name!r}: CloudFormation takes output names of letters and digits",
            where=where,
            hint="rename it with letters and digits only, e.g. 'TableName'",
        )
    if name in TEAL_OUTPUTS or (name.startswith("Fn") and TEAL_LOGICAL_ID.fullmatch(name)):
        raise ConfigError(
            f"output {name} is named as one of the outputs teal gives the stack (now, or "
            "while the API is replaced)",
            where=where,
            hint="rename the output, e.g. after the resource it names",
        )
    if not isinstance(body, dict) or "Value" not in body:
        raise ConfigError(
            f"output {name} has no Value",
            where=where,
            hint="give it a Value, e.g. Value: !Ref PostsTable",
        )
    if "Export" in body:
        raise ConfigError(
            f"output {name} has an Export: an environment's outputs reach its functions as "
            "variables, and an export would tie its stack to the stacks importing it",
            where=where,
            hint="remove the Export",
        )
