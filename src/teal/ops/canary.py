"""A canary deploy: the new versions take a share of the invocations, watched, then
promoted or rolled back.

For an in-place update of an environment whose functions changed, ``teal deploy
--canary 10%`` applies the new template with each changed function's alias
still on its deployed version and sending the share to the new one
(:func:`teal.template.versions.with_canary`): every changed function at once,
so a request anywhere in the environment runs the new code with that chance.
The watch judges the new versions' own traffic (locally the gateway's answers
per version, on AWS Lambda's metrics by ``ExecutedVersion``) by the rules of a
switch's watch (:mod:`teal.rules.watch_rules`). Then the plain template moves
every alias fully to its new version (promoted), or the aliases go back on the
old versions alone (rolled back, exit 1). Ctrl-C during the watch rolls back
too: the old versions serve everything again.

When the API must be replaced, no canary can split one API Gateway domain's
traffic across two RestApis: ``teal preview`` and ``teal switch --watch`` do
that job (the plan says so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from teal.cloud.base import Cloud, Traffic, VersionRef
from teal.rules.watch_rules import WatchFigures, WatchResult
from teal.runtime.errors import OperationError, UserError
from teal.template.types import Template
from teal.template.versions import ALIAS_NAME, changed_functions, with_canary

CANARY_DEFAULT_WATCH_S = 300  # without --watch or [deploy] watch: five minutes
CanaryVerdict = Literal["promoted", "rolled-back"]
NAME_OUTPUT = "CanaryName"
VERSION_OUTPUT = "CanaryVersion"


@dataclass(frozen=True)
class CanaryReport:
    """What a canary did: its share, verdict and the new versions' figures."""

    percent: float
    verdict: CanaryVerdict
    figures: WatchFigures
    breach: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        rate = self.figures.error_rate
        return {
            "percent": self.percent,
            "verdict": self.verdict,
            "seconds": round(self.figures.seconds, 1),
            "requests_new": self.figures.requests,
            "errors_new": self.figures.errors,
            "error_rate_new": None if rate is None else round(rate, 2),
            "p99_ms_new": None if self.figures.p99_ms is None else round(self.figures.p99_ms, 2),
            **({"breach": self.breach} if self.breach else {}),
            **({"note": self.note} if self.note else {}),
        }

    @classmethod
    def of(cls, percent: float, result: WatchResult, verdict: CanaryVerdict) -> CanaryReport:
        note = None
        if not result.figures.enough_traffic and result.breach is None:
            note = (
                f"only {result.figures.requests} requests reached the new versions: "
                "too few to judge"
            )
        return cls(percent, verdict, result.figures, result.breach, note)


class CanaryRolledBack(OperationError):
    """The canary's new versions breached a limit: the aliases are back on the old ones."""

    def __init__(self, what: str, *, where: str, report: CanaryReport) -> None:
        super().__init__(what, where=where, hint="fix the app and deploy again")
        self.report = report


def has_canary(deployed: Template | None, new: Template) -> bool:
    """Whether a canary has something to split: a function whose version changes."""
    return deployed is not None and bool(changed_functions(deployed, new))


def canary_template(deployed: Template, new: Template, percent: float) -> Template:
    """The template a canary applies: ``new`` with each changed function's alias on its
    deployed version, sending ``percent`` to the new one, and outputs naming each new
    version (the function's physical name and the version's number), which the watch
    reads by."""
    template = with_canary(deployed, new, percent)
    outputs: dict[str, Any] = dict(template.get("Outputs", {}))
    for fn_id, (_, fresh) in changed_functions(deployed, new).items():
        outputs[f"{fn_id}{NAME_OUTPUT}"] = {"Value": {"Ref": fn_id}}
        outputs[f"{fn_id}{VERSION_OUTPUT}"] = {"Value": {"Fn::GetAtt": [fresh, "Version"]}}
    return {**template, "Outputs": outputs}


def new_versions(outputs: Mapping[str, str]) -> list[VersionRef]:
    """The new versions a canary's stack outputs name."""
    refs = []
    for key, name in sorted(outputs.items()):
        if key.endswith(NAME_OUTPUT):
            number = outputs.get(key.removesuffix(NAME_OUTPUT) + VERSION_OUTPUT)
            if number:
                refs.append(VersionRef(name, number, ALIAS_NAME))
    return refs


def version_reader(cloud: Cloud, versions: list[VersionRef]) -> Callable[[datetime], Traffic]:
    def read(since: datetime) -> Traffic:
        return cloud.version_traffic_since(versions, since)

    return read


def refuse_canary_across_apis(where: str) -> UserError:
    return UserError(
        "a canary needs an in-place update, and this one replaces the API: one API "
        "Gateway domain cannot split its traffic across two RestApis",
        where=where,
        hint="deploy without --canary, or deploy the change to an extra environment "
        "(teal deploy --extra NAME), try it with teal preview, then teal switch --watch",
    )
