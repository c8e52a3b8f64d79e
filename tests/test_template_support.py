"""Builders shared by the template, analysis and plan tests (no tests here)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from teal.project.config import Target
from teal.runtime.app import App
from teal.runtime.routes import RouteTable
from teal.template import Synthesized, synthesize

CODE_KEY = "code/" + "0" * 64 + ".zip"


def make_target(**changes: Any) -> Target:
    base = Target(
        project_dir=Path("."),
        app="blog",
        env="dev",
        extra=None,
        cloud="local",
        entry="app:app",
        runtime="python3.12",
        memory=256,
        timeout=10,
    )
    return replace(base, **changes)


def _handler(request: Any) -> Any:
    return {}


def table_of(specs: Iterable[str]) -> RouteTable:
    """Routes from lines like ``"GET,POST /posts/{id} -> show"`` (function defaults to 'api')."""
    app = App()
    for spec in specs:
        head, _, function = spec.partition("->")
        methods, path = head.split()
        app.route(path, methods=methods.split(","), function=function.strip() or "api")(_handler)
    return app.routes()


def big_table(routes: int, functions: int = 40, prefix: str = "") -> RouteTable:
    """``routes`` routes over a few top-level groups, two verbs on each item."""
    specs = [
        f"GET,DELETE {prefix}/g{i % 9}/items{i}/{{id}} -> f{i % functions}" for i in range(routes)
    ]
    return table_of(specs)


@dataclass(frozen=True)
class Deployed:
    """A deployed stack as synthesis and analysis read it (DeployedStack's two fields)."""

    template: dict[str, Any]
    nested_templates: Mapping[str, dict[str, Any]] = field(default_factory=dict)


def deployed(synthesized: Synthesized) -> Deployed:
    return Deployed(synthesized.template, synthesized.nested_by_logical_id)


def synth(specs: Iterable[str], **kwargs: Any) -> Synthesized:
    return synthesize(table_of(specs), make_target(), CODE_KEY, **kwargs)


def lint_errors(template: dict[str, Any]) -> list[str]:
    """cfn-lint's errors (rule ids starting with E) for a template."""
    import cfnlint.api

    matches = cfnlint.api.lint(json.dumps(template), regions=["us-east-1"])
    return [str(m) for m in matches if m.rule.id.startswith("E")]


def lint_all(template: dict[str, Any]) -> list[str]:
    import cfnlint.api

    return [str(m) for m in cfnlint.api.lint(json.dumps(template), regions=["us-east-1"])]
