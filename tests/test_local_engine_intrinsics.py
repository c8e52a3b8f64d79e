"""Intrinsic functions: what they resolve to, what they depend on, what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from teal.cloud.local.stacks.intrinsics import (
    NO_VALUE,
    Reference,
    ResolveError,
    Scope,
    TemplateError,
    references,
    resolve,
)

NAMES: dict[str, Any] = {
    "Api": "abc123defg",
    "AWS::Region": "us-east-1",
    "AWS::NoValue": NO_VALUE,
    "Stage": "dev",
}
ATTRIBUTES = {("Fn", "Arn"): "arn:aws:lambda:us-east-1:000000000000:function:f"}


def scope() -> Scope:
    def ref(name: str) -> Any:
        if name not in NAMES:
            raise ResolveError(f"unknown {name}")
        return NAMES[name]

    def get_att(logical_id: str, attribute: str) -> Any:
        return ATTRIBUTES[(logical_id, attribute)]

    return Scope(ref=ref, get_att=get_att)


CASES: list[tuple[Any, Any]] = [
    ({"Ref": "Api"}, "abc123defg"),
    ({"Fn::GetAtt": ["Fn", "Arn"]}, "arn:aws:lambda:us-east-1:000000000000:function:f"),
    ({"Fn::GetAtt": "Fn.Arn"}, "arn:aws:lambda:us-east-1:000000000000:function:f"),
    ({"Fn::Sub": "${Api}.execute-api.${AWS::Region}"}, "abc123defg.execute-api.us-east-1"),
    ({"Fn::Sub": "x/${Fn.Arn}/y"}, "x/arn:aws:lambda:us-east-1:000000000000:function:f/y"),
    ({"Fn::Sub": "${!Literal}-${Stage}"}, "${Literal}-dev"),
    ({"Fn::Sub": ["${A}-${Stage}", {"A": {"Ref": "Api"}}]}, "abc123defg-dev"),
    ({"Fn::Join": ["/", ["a", {"Ref": "Stage"}, 3]]}, "a/dev/3"),
    ({"Fn::Select": [1, ["a", "b", "c"]]}, "b"),
    ({"Fn::Select": ["0", {"Fn::Split": [",", "x,y"]}]}, "x"),
    ({"Fn::Split": ["|", "a|b"]}, ["a", "b"]),
    ({"Keep": 1, "Drop": {"Ref": "AWS::NoValue"}}, {"Keep": 1}),
    ([1, {"Ref": "AWS::NoValue"}, 2], [1, 2]),
    ({"Nested": [{"Ref": "Stage"}]}, {"Nested": ["dev"]}),
]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_resolve(value: Any, expected: Any) -> None:
    assert resolve(value, scope()) == expected


def test_references_find_every_dependency() -> None:
    value = {
        "A": {"Ref": "Api"},
        "B": {"Fn::Sub": ["${Fn.Arn}/${Local}/${!Skip}/${Stage}", {"Local": {"Ref": "Other"}}]},
        "C": [{"Fn::Join": ["", [{"Fn::GetAtt": "Fn.Arn"}]]}],
    }
    assert references(value, "here") == [
        Reference("Api", None),
        Reference("Other", None),
        Reference("Fn", "Arn"),
        Reference("Stage", None),
        Reference("Fn", "Arn"),
    ]


@pytest.mark.parametrize(
    "value",
    [
        {"Fn::If": ["C", 1, 2]},
        {"Fn::ImportValue": "x"},
        {"Fn::FindInMap": ["M", "a", "b"]},
        {"Fn::Base64": "x"},
        {"Condition": "IsProd"},
        {"Fn::GetAtt": 3},
        {"Fn::Sub": 3},
        {"Ref": ["list"]},
    ],
)
def test_unsupported_or_malformed_intrinsics_are_template_errors(value: Any) -> None:
    with pytest.raises(TemplateError, match="Template format error"):
        references({"Prop": value}, "Resources.X")


@pytest.mark.parametrize(
    "value",
    [
        {"Fn::Select": [5, ["a"]]},
        {"Fn::Join": [",", "not a list"]},
        {"Fn::Sub": "${Bad}"},
    ],
)
def test_bad_values_fail_at_resolution(value: Any) -> None:
    with pytest.raises(ResolveError):
        resolve(value, scope())
