"""Shared custom domains: who serves what, and the refusals that keep apps apart.

Several apps share one domain by base path (``/blog``, ``/shop``, the root),
each with a mapping of its own. What a domain maps is read from the cloud
(its base path mappings) and each mapping's API is traced to the environment,
and app, whose stack holds it. Before a deploy or a plan changes anything,
:func:`refuse_conflicts` refuses a base path another app maps, and settings
that contradict what the domain was made with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from teal.cloud.base import BasePathMapping, Cloud, DomainInfo, EventSink, RoutingRule
from teal.ops.environments import (
    ApiHolder,
    DomainState,
    Pointing,
    api_holders,
    is_preview_rule,
    shared_domain_lock_key,
)
from teal.ops.oplog import OperationLock
from teal.progress import Progress
from teal.project.config import DomainSpec
from teal.rules.labels import APP_TAG
from teal.runtime.errors import OperationError, UserError

TEAL_ENDPOINT_TYPE = "REGIONAL"  # every domain teal makes


@dataclass(frozen=True)
class MappingRow:
    """One base path of a domain and whom it serves."""

    base_path: str  # "" is the root
    api_id: str
    stage: str
    holder: ApiHolder | None  # None: no environment of any app holds the API
    preview: str | None = None  # the environment the base path's preview rule sends to

    @property
    def shown_path(self) -> str:
        return f"/{self.base_path}" if self.base_path else "/"

    def to_json(self) -> dict[str, Any]:
        return {
            "base_path": self.shown_path,
            "app": self.holder.app if self.holder else None,
            "environment": self.holder.environment if self.holder else None,
            "api_id": self.api_id,
            "stage": self.stage,
            "preview": self.preview,
        }


@dataclass(frozen=True)
class DomainView:
    """A domain, where clients reach it, and every mapping it has."""

    name: str
    url: str
    mappings: tuple[MappingRow, ...]

    @property
    def apps(self) -> tuple[str, ...]:
        return tuple(sorted({m.holder.app for m in self.mappings if m.holder}))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "apps": list(self.apps),
            "mappings": [m.to_json() for m in self.mappings],
        }


def view_domain(
    cloud: Cloud, info: DomainInfo, holders: Mapping[str, ApiHolder] | None = None
) -> DomainView:
    """The domain with every mapping traced to its environment and preview."""
    known = api_holders(cloud) if holders is None else holders
    rules = cloud.list_routing_rules(info.name) if info.rules_route else []
    rows = tuple(
        MappingRow(
            m.base_path,
            m.api_id,
            m.stage,
            known.get(m.api_id),
            _previewed(rules, info.name, m.base_path, known),
        )
        for m in cloud.list_mappings(info.name)
    )
    return DomainView(info.name, info.url, rows)


def view_domains(cloud: Cloud) -> list[DomainView]:
    """Every domain of the cloud with its mappings (``teal domains``)."""
    holders = api_holders(cloud)
    return [view_domain(cloud, info, holders) for info in cloud.list_domains()]


def _previewed(
    rules: Sequence[RoutingRule], domain: str, base_path: str, holders: Mapping[str, ApiHolder]
) -> str | None:
    spec = DomainSpec(domain, base_path)
    rule = next((r for r in rules if is_preview_rule(r, spec)), None)
    if rule is None:
        return None
    holder = holders.get(rule.api_id)
    return holder.environment if holder else rule.api_id


# -- refusals before anything changes ------------------------------------------


class DomainConflict(UserError):
    """The app's [domain] contradicts the domain as other apps share it: nothing changed."""


def refuse_conflicts(cloud: Cloud, app: str, state: DomainState) -> None:
    """Refuse, before anything is created, a base path another app maps and settings
    that contradict what the domain was made with (it is shared, so one app cannot
    change its certificate, DNS zone or endpoint type under the others)."""
    if state.info is not None:
        _refuse_other_settings(app, state.spec, state.info)
    if state.pointing is Pointing.FOREIGN and state.mapping is not None:
        _refuse_taken_path(cloud, app, state.mapping)


def _refuse_taken_path(cloud: Cloud, app: str, mapping: BasePathMapping) -> None:
    holder = api_holders(cloud).get(mapping.api_id)
    path = f"/{mapping.base_path}" if mapping.base_path else "/ (the root)"
    if holder is not None:
        who = f"app {holder.app} (environment {holder.environment})"
    else:
        who = f"API {mapping.api_id} (stage {mapping.stage}), which no teal environment holds"
    raise DomainConflict(
        f"base path {path} of {mapping.domain} is taken by {who}; nothing was changed",
        where="teal.toml [domain] base_path",
        hint="give this app a base path of its own ([domain] base_path), or remove the "
        "other app's mapping first (teal delete of its environment)",
    )


_SETTINGS = (
    ("certificate_arn", "certificate"),
    ("hosted_zone", "hosted zone"),
)


def _refuse_other_settings(app: str, spec: DomainSpec, info: DomainInfo) -> None:
    maker = info.tags.get(APP_TAG)
    by = f" (made by app {maker})" if maker and maker != app else ""
    for key, words in _SETTINGS:
        wanted, has = getattr(spec, key), getattr(info, key)
        if wanted and has and wanted.rstrip(".") != has.rstrip("."):
            raise DomainConflict(
                f"{spec.name}{by} has the {words} {has}, but {app}'s [domain] asks for "
                f"{wanted}; apps sharing a domain share its settings; nothing was changed",
                where=f"teal.toml [domain] {key}",
                hint=f"set {key} = {has!r} (or leave it out), or use another domain name",
            )
    if info.endpoint_type and info.endpoint_type != TEAL_ENDPOINT_TYPE:
        raise DomainConflict(
            f"{spec.name}{by} is an {info.endpoint_type} domain, and teal maps apps on "
            f"{TEAL_ENDPOINT_TYPE} domains only; nothing was changed",
            where="teal.toml [domain] name",
            hint="use a regional domain name of its own for this app",
        )


# -- deleting a domain -----------------------------------------------------------

# How long an operation waits for another app's step on a domain they share (making,
# updating or deleting the domain itself: moments locally, a small stack update on AWS).
SHARED_STEP_WAIT_S = 600.0


def delete_domain(
    cloud: Cloud,
    name: str,
    *,
    app: str,
    user: str,
    progress: Progress,
    on_event: EventSink,
) -> DomainInfo:
    """Remove a domain that maps nothing any more (``teal domain delete``).

    Deleting an environment removes its mapping only: the domain is the apps' in
    common and goes only by this, under its shared lock, once no app maps it.
    """
    with OperationLock(
        cloud,
        shared_domain_lock_key(name),
        "domain delete",
        user,
        app=app,
        progress=progress,
        wait_s=SHARED_STEP_WAIT_S,
    ):
        info = cloud.get_domain(name)
        if info is None:
            raise UserError(
                f"there is no custom domain {name}",
                where=name,
                hint="see the domains there are: teal domains",
            )
        view = view_domain(cloud, info)
        if view.mappings:
            held = ", ".join(f"{m.shown_path} ({_served_by(m)})" for m in view.mappings)
            raise OperationError(
                f"{name} still maps {held}; nothing was changed",
                where=name,
                hint="delete (or switch away) every environment the domain maps first: "
                "teal delete --force in each app's project",
            )
        progress(f"deleting the domain {name}")
        cloud.delete_domain(name, on_event)
        return info


def _served_by(row: MappingRow) -> str:
    if row.holder is None:
        return f"API {row.api_id}"
    return f"app {row.holder.app}, environment {row.holder.environment}"
