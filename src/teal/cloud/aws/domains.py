"""Custom domains: one small stack per domain, and base path mappings by API.

The domain (``AWS::ApiGateway::DomainName``, regional, with the ACM
certificate, plus a Route 53 alias when a hosted zone is given) lives in its
own stack ``teal-domain-<name>``, owned by no environment, so deleting an
environment never takes the domain down. Its ``teal:app`` tag says which app
made it; other apps share it, one base path mapping each, and leave its stack
as that app made it (their settings were checked against it before). Which
environment is live is the base path mapping, changed by teal with API
Gateway's API: ``update_base_path_mapping`` re-points it in one
call, with no gap.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from teal.cloud.aws import watch_guard_function
from teal.cloud.aws.retry import Retrier, error_code, error_message
from teal.cloud.aws.stacks import Stacks
from teal.cloud.base import (
    BasePathMapping,
    DomainInfo,
    EventSink,
    NoUpdates,
    StackEvent,
    StackRequest,
)
from teal.project.config import DomainSpec
from teal.rules.apigateway import MAPPINGS_ONLY, duplicate_base_path
from teal.rules.labels import APP_TAG, DOMAIN_TAG
from teal.runtime.errors import ConfigError, OperationError
from teal.template.functions import lambda_trust_policy
from teal.template.types import Template

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient

ROOT_BASE_PATH = "(none)"  # how API Gateway spells the root mapping
WATCH_GUARD_OUTPUT = "WatchGuardFunctionArn"
HOSTED_ZONE_OUTPUT = "HostedZone"  # the zone of the alias record, for apps sharing the domain
WATCH_GUARD_RUNTIME = "python3.12"


def domain_stack_name(domain: str) -> str:
    return "teal-domain-" + domain.replace(".", "-")


def domain_url(domain: str, base_path: str = "") -> str:
    return f"https://{domain}/" + (f"{base_path.strip('/')}/" if base_path.strip("/") else "")


def domain_template(spec: DomainSpec) -> Template:
    """The domain stack: a regional DomainName, and its alias record if a zone is given."""
    resources: dict[str, object] = {
        "DomainName": {
            "Type": "AWS::ApiGateway::DomainName",
            "Properties": {
                "DomainName": spec.name,
                "RegionalCertificateArn": spec.certificate_arn,
                "EndpointConfiguration": {"Types": ["REGIONAL"]},
                "SecurityPolicy": "TLS_1_2",
            },
        }
    }
    if spec.hosted_zone:
        resources["AliasRecord"] = {
            "Type": "AWS::Route53::RecordSet",
            "Properties": {
                "HostedZoneName": spec.hosted_zone.rstrip(".") + ".",
                "Name": spec.name + ".",
                "Type": "A",
                "AliasTarget": {
                    "DNSName": {"Fn::GetAtt": ["DomainName", "RegionalDomainName"]},
                    "HostedZoneId": {"Fn::GetAtt": ["DomainName", "RegionalHostedZoneId"]},
                },
            },
        }
    resources.update(watch_guard_resources(spec.name))
    outputs: dict[str, object] = {
        "DomainName": {"Value": {"Ref": "DomainName"}},
        "RegionalDomainName": {"Value": {"Fn::GetAtt": ["DomainName", "RegionalDomainName"]}},
        WATCH_GUARD_OUTPUT: {"Value": {"Fn::GetAtt": ["WatchGuardFunction", "Arn"]}},
    }
    if spec.hosted_zone:
        outputs[HOSTED_ZONE_OUTPUT] = {"Value": spec.hosted_zone.rstrip(".")}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"teal custom domain {spec.name}",
        "Resources": resources,
        "Outputs": outputs,
    }


def watch_alarm_prefix(domain: str) -> str:
    """The names of the alarms that guard watched switches of the domain start so."""
    return "teal-watch-" + domain.replace(".", "-") + "-"


def watch_guard_resources(domain: str) -> dict[str, object]:
    """The function a watch's alarm invokes to put the mapping back (see
    :mod:`teal.cloud.aws.watch_guard_function`), allowed to read and change this
    domain's base path mappings only, and invoked only by the domain's watch alarms."""
    mappings = f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::/domainnames/{domain}"
    return {
        "WatchGuardRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": lambda_trust_policy(),
                "ManagedPolicyArns": [
                    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                ],
                "Policies": [
                    {
                        "PolicyName": "repoint-this-domain-only",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": ["apigateway:GET", "apigateway:PATCH"],
                                    "Resource": {"Fn::Sub": mappings + "/basepathmappings/*"},
                                }
                            ],
                        },
                    }
                ],
            },
        },
        "WatchGuardFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": WATCH_GUARD_RUNTIME,
                "Handler": "index.handler",
                "Timeout": 30,
                "Role": {"Fn::GetAtt": ["WatchGuardRole", "Arn"]},
                "Code": {"ZipFile": watch_guard_source()},
                "Description": f"teal: puts {domain} back when a watched switch breaches",
            },
        },
        "WatchGuardPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Ref": "WatchGuardFunction"},
                "Action": "lambda:InvokeFunction",
                "Principal": "lambda.alarms.cloudwatch.amazonaws.com",
                "SourceAccount": {"Ref": "AWS::AccountId"},
                "SourceArn": {
                    "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:"
                    "${AWS::AccountId}:alarm:" + watch_alarm_prefix(domain) + "*"
                },
            },
        },
    }


def watch_guard_source() -> str:
    """The guard function's module, as the inline code of the function (under 4 KB)."""
    return inspect.getsource(watch_guard_function)


def _ignore(_event: StackEvent) -> None:
    return None


class Domains:
    def __init__(self, apigateway: APIGatewayClient, stacks: Stacks, retry: Retrier) -> None:
        self._apigw = apigateway
        self._stacks = stacks
        self._retry = retry

    def ensure(self, spec: DomainSpec, tags: Mapping[str, str]) -> DomainInfo:
        stack = domain_stack_name(spec.name)
        current = self._stacks.tags(stack)
        if _made_by_another_app(current, tags):  # shared: its maker's stack stays as it is
            return DomainInfo(spec.name, domain_url(spec.name, spec.base_path), dict(current or {}))
        if spec.certificate_arn is None:
            if current is None:
                raise ConfigError(
                    "a custom domain on aws needs an ACM certificate",
                    where="teal.toml [domain]",
                    hint=f"set certificate_arn to a certificate for {spec.name} in this region",
                )
            return DomainInfo(spec.name, domain_url(spec.name, spec.base_path), current)
        request = StackRequest(stack, domain_template(spec), tags={**tags, DOMAIN_TAG: spec.name})
        with contextlib.suppress(NoUpdates):
            self._stacks.apply(request, _ignore)
        return DomainInfo(spec.name, domain_url(spec.name, spec.base_path), dict(tags))

    def guard_function_arn(self, spec: DomainSpec) -> str:
        """The ARN of the domain's watch guard function; a domain stack from before it had
        one is updated to have it (see :func:`watch_guard_resources`)."""
        stack = domain_stack_name(spec.name)
        found = self._stacks.describe(stack)
        if found is None or WATCH_GUARD_OUTPUT not in found.outputs:
            self.ensure(spec, self._stacks.tags(stack) or {})
            found = self._stacks.describe(stack)
        if found is None or WATCH_GUARD_OUTPUT not in found.outputs:
            raise OperationError(
                f"the stack of {spec.name} has no watch guard function",
                where=stack,
                hint="teal deploy updates the domain's stack; then switch again",
            )
        return found.outputs[WATCH_GUARD_OUTPUT]

    def get(self, name: str) -> DomainInfo | None:
        try:
            response = self._retry(self._apigw.get_domain_name, domainName=name)
        except ClientError as error:
            if error_code(error) == "NotFoundException":
                return None
            raise
        return self._info(name, response)

    def _info(self, name: str, response: Mapping[str, Any]) -> DomainInfo:
        stack = self._stacks.tags_and_outputs(domain_stack_name(name))
        tags = stack[0] if stack is not None else dict(response.get("tags", {}))
        outputs = stack[1] if stack is not None else {}
        mode = response.get("routingMode", MAPPINGS_ONLY)
        types = response.get("endpointConfiguration", {}).get("types") or [None]
        return DomainInfo(
            name,
            domain_url(name),
            tags,
            rules_route=mode != MAPPINGS_ONLY,
            certificate_arn=response.get("regionalCertificateArn")
            or response.get("certificateArn"),
            hosted_zone=outputs.get(HOSTED_ZONE_OUTPUT),
            endpoint_type=types[0],
        )

    def all(self) -> list[DomainInfo]:
        """Every custom domain of the account and region (a page of calls, plus one
        describe_stacks per domain for teal's own settings)."""
        found: list[DomainInfo] = []
        for page in self._apigw.get_paginator("get_domain_names").paginate():
            found.extend(self._info(item["domainName"], item) for item in page.get("items", []))
        return sorted(found, key=lambda info: info.name)

    def delete(self, name: str, on_event: EventSink) -> None:
        """Delete the domain's stack (the DomainName, its alias record, its watch guard)."""
        if self._stacks.tags(domain_stack_name(name)) is None:
            if self.get(name) is not None:
                raise OperationError(
                    f"{name} was not made by teal (it has no stack {domain_stack_name(name)})",
                    where=name,
                    hint="delete it where it was made (the API Gateway console, or its stack)",
                )
            return
        self._stacks.delete(domain_stack_name(name), on_event)

    def mappings(self, domain: str) -> list[BasePathMapping]:
        """The domain's base path mappings, from GetBasePathMappings."""
        found: list[BasePathMapping] = []
        pages = self._apigw.get_paginator("get_base_path_mappings").paginate(domainName=domain)
        try:
            for page in pages:
                found.extend(
                    BasePathMapping(
                        domain,
                        _from_api_base_path(m.get("basePath", "")),
                        m.get("restApiId", ""),
                        m.get("stage", ""),
                    )
                    for m in page.get("items", [])
                )
        except ClientError as error:
            if error_code(error) == "NotFoundException":
                return []
            raise
        return sorted(found, key=lambda mapping: mapping.base_path)

    def get_mapping(self, domain: str, base_path: str) -> BasePathMapping | None:
        try:
            response = self._retry(
                self._apigw.get_base_path_mapping,
                domainName=domain,
                basePath=_api_base_path(base_path),
            )
        except ClientError as error:
            if error_code(error) == "NotFoundException":
                return None
            raise
        return BasePathMapping(domain, base_path, response["restApiId"], response["stage"])

    def create_mapping(self, mapping: BasePathMapping) -> None:
        extra = {"basePath": mapping.base_path} if mapping.base_path else {}
        try:
            self._retry(
                self._apigw.create_base_path_mapping,
                domainName=mapping.domain,
                restApiId=mapping.api_id,
                stage=mapping.stage,
                **extra,
            )
        except ClientError as error:
            raise _mapping_error(mapping, error) from error

    def update_mapping(self, mapping: BasePathMapping) -> None:
        """Re-point the mapping with one call patching API and stage together."""
        try:
            self._retry(
                self._apigw.update_base_path_mapping,
                domainName=mapping.domain,
                basePath=_api_base_path(mapping.base_path),
                patchOperations=[
                    {"op": "replace", "path": "/restapiId", "value": mapping.api_id},
                    {"op": "replace", "path": "/stage", "value": mapping.stage},
                ],
            )
        except ClientError as error:
            raise _mapping_error(mapping, error) from error

    def delete_mapping(self, domain: str, base_path: str) -> None:
        try:
            self._retry(
                self._apigw.delete_base_path_mapping,
                domainName=domain,
                basePath=_api_base_path(base_path),
            )
        except ClientError as error:
            if error_code(error) != "NotFoundException":
                raise

    def mappings_of_api(self, api_id: str) -> list[BasePathMapping]:
        """Every domain's mappings to the API: API Gateway has no reverse lookup, so this
        reads each domain's mappings (two paginated calls per domain; deletions only)."""
        found: list[BasePathMapping] = []
        domains = self._apigw.get_paginator("get_domain_names").paginate()
        for page in domains:
            for item in page.get("items", []):
                name = item.get("domainName", "")
                mappings = self._apigw.get_paginator("get_base_path_mappings")
                for mapping_page in mappings.paginate(domainName=name):
                    found.extend(
                        BasePathMapping(
                            name,
                            _from_api_base_path(m.get("basePath", "")),
                            api_id,
                            m.get("stage", ""),
                        )
                        for m in mapping_page.get("items", [])
                        if m.get("restApiId") == api_id
                    )
        return found


def _made_by_another_app(current: Mapping[str, str] | None, tags: Mapping[str, str]) -> bool:
    if current is None or APP_TAG not in tags:
        return False
    return current.get(APP_TAG) not in (None, tags[APP_TAG])


def _api_base_path(base_path: str) -> str:
    return base_path.strip("/") or ROOT_BASE_PATH


def _from_api_base_path(base_path: str) -> str:
    """API Gateway's "(none)" is teal's "" (the root mapping)."""
    return "" if base_path == ROOT_BASE_PATH else base_path


def _mapping_error(mapping: BasePathMapping, error: ClientError) -> OperationError:
    code, message = error_code(error), error_message(error)
    if code == "ConflictException":
        message = duplicate_base_path().message
    where = f"{mapping.domain}/{mapping.base_path}"
    return OperationError(
        f"API Gateway refused the mapping to {mapping.api_id}/{mapping.stage}: {code}: {message}",
        where=where,
        hint="check that the API and stage exist (teal status) and try again",
    )
