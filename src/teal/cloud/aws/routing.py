"""A custom domain's routing rules (``teal preview``), with API Gateway's own API.

Routing rules of a REST API's custom domain are made with the apigatewayv2 API
(``CreateRoutingRule``, ``DeleteRoutingRule``, ``ListRoutingRules``); whether
they route at all is the domain's routing mode, a property of the REST domain
name (``apigateway`` ``UpdateDomainName``, patch ``/routingMode``). A domain
routes by base path mappings only until its mode is changed; the REST API calls
the mode that puts rules first ``ROUTING_RULE_THEN_BASE_PATH_MAPPING`` (the
console and apigatewayv2: ``ROUTING_RULE_THEN_API_MAPPING``). Names and shapes
as botocore's service models have them.

A rule teal writes has one header condition (and, for a domain mapped under a
base path, one base path condition with the base path stripped, as a mapping
strips it) and one ``InvokeApi`` action.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from teal.cloud.aws.retry import Retrier, error_code
from teal.cloud.base import RoutingRule
from teal.rules.apigateway import MAPPINGS_ONLY, RULES_THEN_MAPPINGS

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_apigatewayv2 import ApiGatewayV2Client


class RoutingRules:
    def __init__(
        self, apigateway: APIGatewayClient, apigatewayv2: ApiGatewayV2Client, retry: Retrier
    ) -> None:
        self._apigw = apigateway
        self._v2 = apigatewayv2
        self._retry = retry

    def allow(self, domain: str) -> None:
        """Rules first, then mappings: one read, and one update when the mode differs."""
        current = self._retry(self._apigw.get_domain_name, domainName=domain)
        if current.get("routingMode", MAPPINGS_ONLY) != MAPPINGS_ONLY:
            return  # rules already route (first, or alone: the user's choice stays)
        self._retry(
            self._apigw.update_domain_name,
            domainName=domain,
            patchOperations=[
                {"op": "replace", "path": "/routingMode", "value": RULES_THEN_MAPPINGS}
            ],
        )

    def of_domain(self, domain: str) -> list[RoutingRule]:
        pages = self._v2.get_paginator("list_routing_rules").paginate(DomainName=domain)
        found = [
            _rule(dict(item)) for page in self._retry(list, pages) for item in page["RoutingRules"]
        ]
        return sorted(found, key=lambda rule: rule.priority)

    def create(self, domain: str, rule: RoutingRule) -> RoutingRule:
        answer = self._retry(
            self._v2.create_routing_rule,
            DomainName=domain,
            Priority=rule.priority,
            Conditions=_conditions(rule),  # type: ignore[arg-type]
            Actions=[
                {
                    "InvokeApi": {
                        "ApiId": rule.api_id,
                        "Stage": rule.stage,
                        "StripBasePath": rule.strip_base_path,
                    }
                }
            ],
        )
        return _rule(dict(answer))

    def delete(self, domain: str, rule_id: str) -> None:
        try:
            self._retry(self._v2.delete_routing_rule, DomainName=domain, RoutingRuleId=rule_id)
        except ClientError as error:
            if error_code(error) != "NotFoundException":
                raise

    def of_api(self, api_id: str) -> list[tuple[str, RoutingRule]]:
        """Every rule that sends requests to the API, with its domain: API Gateway has no
        reverse lookup, so this reads the rules of each domain whose routing mode lets
        rules route (a domain that routes by mappings only costs nothing more)."""
        found: list[tuple[str, RoutingRule]] = []
        for page in self._apigw.get_paginator("get_domain_names").paginate():
            for item in page.get("items", []):
                if item.get("routingMode", MAPPINGS_ONLY) == MAPPINGS_ONLY:
                    continue
                name = item.get("domainName", "")
                found.extend((name, rule) for rule in self.of_domain(name) if rule.api_id == api_id)
        return found


def _conditions(rule: RoutingRule) -> list[dict[str, Any]]:
    conditions: list[dict[str, Any]] = []
    if rule.headers:
        values = [{"Header": name, "ValueGlob": glob} for name, glob in rule.headers]
        conditions.append({"MatchHeaders": {"AnyOf": values}})
    if rule.base_paths:
        conditions.append({"MatchBasePaths": {"AnyOf": list(rule.base_paths)}})
    return conditions


def _rule(item: dict[str, Any]) -> RoutingRule:
    """A rule as API Gateway answers it; its first InvokeApi action is where it sends."""
    actions: list[dict[str, Any]] = item.get("Actions", [])
    invoke: dict[str, Any] = next((a["InvokeApi"] for a in actions if "InvokeApi" in a), {})
    headers: list[tuple[str, str]] = []
    base_paths: list[str] = []
    for condition in item.get("Conditions", []):
        matched = condition.get("MatchHeaders", {}).get("AnyOf", [])
        headers.extend((str(h["Header"]), str(h["ValueGlob"])) for h in matched)
        base_paths.extend(str(b) for b in condition.get("MatchBasePaths", {}).get("AnyOf", []))
    return RoutingRule(
        priority=int(item.get("Priority", 0)),
        api_id=str(invoke.get("ApiId", "")),
        stage=str(invoke.get("Stage", "")),
        headers=tuple(headers),
        base_paths=tuple(base_paths),
        strip_base_path=bool(invoke.get("StripBasePath", False)),
        id=str(item.get("RoutingRuleId", "")),
    )
