"""CloudFormation intrinsic functions, as far as teal's templates use them.

Two jobs: :func:`dependencies` finds which resources a value refers to (for
ordering), and :func:`resolve` evaluates a value once those resources exist.
Anything else that looks like an intrinsic is a :class:`TemplateError`, never
passed through as if it were data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from teal.runtime.errors import UserError

PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::Region",
        "AWS::AccountId",
        "AWS::StackName",
        "AWS::StackId",
        "AWS::Partition",
        "AWS::URLSuffix",
        "AWS::NoValue",
    }
)
SUPPORTED = ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split")
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(UserError):
    """The template uses something the local cloud does not support, or is malformed."""

    def __init__(self, what: str, *, where: str) -> None:
        super().__init__(
            f"Template format error: {what}",
            where=where,
            hint="teal's local cloud supports the resource types and intrinsic functions "
            "that teal's own templates use",
        )


class _NoValue:
    """``Ref: AWS::NoValue``: the property is removed."""


NO_VALUE = _NoValue()


def intrinsic_name(value: Any) -> str | None:
    """The function name if ``value`` is an intrinsic call (a one-key ``Ref``/``Fn::`` dict)."""
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key == "Ref" or key.startswith("Fn::") or key == "Condition":
            return str(key)
    return None


def _sub_parts(args: Any, where: str) -> tuple[str, Mapping[str, Any]]:
    if isinstance(args, str):
        return args, {}
    if (
        isinstance(args, list)
        and len(args) == 2
        and isinstance(args[0], str)
        and isinstance(args[1], dict)
    ):
        return args[0], args[1]
    raise TemplateError("Fn::Sub takes a string or [string, {variables}]", where=where)


def _sub_names(text: str) -> list[str]:
    """Variable names in a Fn::Sub string, skipping ``${!Literal}`` escapes."""
    return [name for name in _SUB_VARIABLE.findall(text) if not name.startswith("!")]


def _get_att_target(args: Any, where: str) -> tuple[str, str]:
    if isinstance(args, str) and "." in args:
        logical_id, _, attribute = args.partition(".")
        return logical_id, attribute
    if isinstance(args, list) and len(args) == 2 and all(isinstance(a, str) for a in args):
        return args[0], args[1]
    raise TemplateError(
        "Fn::GetAtt takes [LogicalId, Attribute] or 'LogicalId.Attribute'", where=where
    )


@dataclass(frozen=True)
class Reference:
    """A reference found in a value: Ref (attribute None) or Fn::GetAtt."""

    target: str
    attribute: str | None


def references(value: Any, where: str) -> list[Reference]:
    """Every Ref/GetAtt in ``value``, rejecting unsupported intrinsics on the way."""
    found: list[Reference] = []
    _collect(value, where, found)
    return found


def _collect(value: Any, where: str, found: list[Reference]) -> None:
    name = intrinsic_name(value)
    if name is not None:
        _collect_call(name, value[name], where, found)
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect(item, f"{where}.{key}", found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _collect(item, f"{where}[{index}]", found)


def _collect_call(name: str, args: Any, where: str, found: list[Reference]) -> None:
    match name:
        case "Ref":
            if not isinstance(args, str):
                raise TemplateError("Ref takes a name", where=where)
            found.append(Reference(args, None))
        case "Fn::GetAtt":
            found.append(Reference(*_get_att_target(args, where)))
        case "Fn::Sub":
            text, variables = _sub_parts(args, where)
            for variable in variables.values():
                _collect(variable, where, found)
            for var_name in _sub_names(text):
                if var_name not in variables:
                    target, dot, attribute = var_name.partition(".")
                    found.append(Reference(target, attribute if dot else None))
        case "Fn::Join" | "Fn::Select" | "Fn::Split":
            _collect(args, where, found)
        case _:
            raise TemplateError(
                f"unsupported intrinsic function {name} (supported: {', '.join(SUPPORTED)})",
                where=where,
            )


class ResolveError(Exception):
    """A value could not be evaluated (bad index, unknown attribute...): fails the resource."""


@dataclass(frozen=True)
class Scope:
    """What names resolve to while a stack is applied."""

    ref: Callable[[str], Any]  # parameters, pseudo parameters and resources
    get_att: Callable[[str, str], Any]


def resolve(value: Any, scope: Scope) -> Any:
    """Evaluate every intrinsic in ``value``; ``AWS::NoValue`` removes the key or item."""
    name = intrinsic_name(value)
    if name is not None:
        return _call(name, value[name], scope)
    if isinstance(value, dict):
        resolved = {key: resolve(item, scope) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}
    if isinstance(value, list):
        items = [resolve(item, scope) for item in value]
        return [item for item in items if item is not NO_VALUE]
    return value


def _call(name: str, args: Any, scope: Scope) -> Any:
    match name:
        case "Ref":
            return scope.ref(args)
        case "Fn::GetAtt":
            return scope.get_att(*_get_att_target(args, name))
        case "Fn::Sub":
            return _sub(args, scope)
        case "Fn::Join":
            return _join(resolve(args, scope))
        case "Fn::Select":
            return _select(resolve(args, scope))
        case "Fn::Split":
            return _split(resolve(args, scope))
    raise TemplateError(f"unsupported intrinsic function {name}", where=name)


def _sub(args: Any, scope: Scope) -> str:
    text, variables = _sub_parts(args, "Fn::Sub")
    values = {key: resolve(item, scope) for key, item in variables.items()}

    def replace(match: re.Match[str]) -> str:
        var_name = match.group(1)
        if var_name.startswith("!"):
            return "${" + var_name[1:] + "}"
        if var_name in values:
            return _text(values[var_name])
        target, dot, attribute = var_name.partition(".")
        return _text(scope.get_att(target, attribute) if dot else scope.ref(target))

    return _SUB_VARIABLE.sub(replace, text)


def _text(value: Any) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise ResolveError(f"Fn::Sub can only insert strings, got {value!r}")


def _join(args: Any) -> str:
    if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], str)):
        raise ResolveError("Fn::Join takes [delimiter, [values]]")
    if not isinstance(args[1], list):
        raise ResolveError("Fn::Join's second argument must be a list")
    return args[0].join(_text(item) for item in args[1])


def _select(args: Any) -> Any:
    if not (isinstance(args, list) and len(args) == 2 and isinstance(args[1], list)):
        raise ResolveError("Fn::Select takes [index, [values]]")
    try:
        index = int(args[0])
        if index < 0:
            raise IndexError(index)
        return args[1][index]
    except (ValueError, IndexError) as exc:
        raise ResolveError(f"Fn::Select index {args[0]!r} is out of range") from exc


def _split(args: Any) -> list[str]:
    if not (isinstance(args, list) and len(args) == 2 and all(isinstance(a, str) for a in args)):
        raise ResolveError("Fn::Split takes [delimiter, string]")
    return str(args[1]).split(args[0])
