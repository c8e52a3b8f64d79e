"""The IAM policy a deploy identity needs for one project, and nothing more.

Two kinds of permission make it up:

- **teal's own calls**: every AWS operation teal's boto3 code calls
  (:data:`TEAL_CALLS`, keyed by botocore's service and operation names, so a
  test can compare it with the calls a life cycle really makes), each with
  the IAM action it needs and the resources it touches;
- **what CloudFormation does for teal**: teal passes no service role, so
  CloudFormation creates, reads, updates and deletes each resource of teal's
  stacks with the caller's permissions. Which actions a resource type needs
  is read from the handlers of its provider schema (the schemas cfn-lint
  ships, as :mod:`teal.rules.schemas` reads them), for the types teal's
  templates make and for the types of the project's ``[resources]`` template.

Resources are scoped to the app's names wherever AWS allows it: stacks, and
so the functions, roles, queues, rules and log groups CloudFormation names
after them, start with ``<app>-``; a domain's own stack is
``teal-domain-<name>``. Where AWS only accepts ``*`` the statement says why
(:attr:`Statement.why_any`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from teal.cloud.aws.artifacts import bucket_name
from teal.cloud.aws.domains import domain_stack_name, watch_alarm_prefix
from teal.cloud.aws.history import HISTORY_PREFIX
from teal.cloud.aws.locks import LOCK_PREFIX
from teal.project.config import Project
from teal.project.resources_file import read_resources_file
from teal.rules.schemas import resource_schema
from teal.template.functions import environment_log_group

ANY = "*"

# The resource types teal's own templates make (whatever the app's routes, schedules and
# queues: a policy that broke when a developer adds a schedule would be no help in CI).
TEAL_RESOURCE_TYPES = (
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::Authorizer",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
    "AWS::CloudFormation::Stack",
    "AWS::Events::Rule",
    "AWS::IAM::Role",
    "AWS::Lambda::Alias",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Function",
    "AWS::Lambda::LayerVersion",
    "AWS::Lambda::Permission",
    "AWS::Lambda::Version",
    "AWS::Logs::LogGroup",
    "AWS::SQS::Queue",
)
# A custom domain's stack: its DomainName, the watch guard (a role, a function and its
# permission), and the alias record when a hosted zone is given.
DOMAIN_RESOURCE_TYPES = (
    "AWS::ApiGateway::DomainName",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
)
ALIAS_RESOURCE_TYPE = "AWS::Route53::RecordSet"
_HANDLERS = ("create", "read", "update", "delete")  # not "list": CloudFormation never lists
# Services a handler calls only for properties teal's templates never set (KMS keys,
# file systems, log deliveries to Firehose); EC2 only for functions in a VPC.
_UNUSED_SERVICES = frozenset({"kms", "firehose", "elasticfilesystem", "s3files"})
_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")  # a schema's typo is no action


@dataclass(frozen=True)
class Call:
    """One operation teal calls: the IAM action it needs and what it touches."""

    action: str
    scope: str  # a key of Scope.resources


# Every operation teal's boto3 code calls, by (botocore service name, operation name).
# sts:GetCallerIdentity is not here: AWS answers it whatever the policy says.
TEAL_CALLS: Mapping[tuple[str, str], Call] = {
    # Stacks (change sets, reads, events, deletes), teal's and its domains'.
    **{
        ("cloudformation", op): Call(f"cloudformation:{op}", "stacks")
        for op in (
            "CreateChangeSet",
            "DeleteChangeSet",
            "DeleteStack",
            "DescribeChangeSet",
            "DescribeStackEvents",
            "DescribeStackResource",
            "DescribeStacks",
            "ExecuteChangeSet",
            "GetTemplate",
        )
    },
    # The artifacts bucket: made on first use, private, encrypted and versioned.
    ("s3", "HeadBucket"): Call("s3:ListBucket", "bucket"),
    ("s3", "ListObjectsV2"): Call("s3:ListBucket", "bucket"),
    ("s3", "CreateBucket"): Call("s3:CreateBucket", "bucket"),
    ("s3", "PutPublicAccessBlock"): Call("s3:PutBucketPublicAccessBlock", "bucket"),
    ("s3", "PutBucketEncryption"): Call("s3:PutEncryptionConfiguration", "bucket"),
    ("s3", "PutBucketVersioning"): Call("s3:PutBucketVersioning", "bucket"),
    # Its objects: code and templates (content-addressed), locks, history.
    ("s3", "HeadObject"): Call("s3:GetObject", "objects"),
    ("s3", "GetObject"): Call("s3:GetObject", "objects"),
    ("s3", "PutObject"): Call("s3:PutObject", "objects"),
    ("s3", "CreateMultipartUpload"): Call("s3:PutObject", "objects"),
    ("s3", "UploadPart"): Call("s3:PutObject", "objects"),
    ("s3", "CompleteMultipartUpload"): Call("s3:PutObject", "objects"),
    ("s3", "DeleteObject"): Call("s3:DeleteObject", "objects"),
    # Custom domains: every domain's mappings are read (no API is deleted while any
    # domain maps it); this app's domains' mappings and routing mode are changed.
    ("apigateway", "GetDomainNames"): Call("apigateway:GET", "domains-read"),
    ("apigateway", "GetDomainName"): Call("apigateway:GET", "domains-read"),
    ("apigateway", "GetBasePathMappings"): Call("apigateway:GET", "domains-read"),
    ("apigateway", "GetBasePathMapping"): Call("apigateway:GET", "domains-read"),
    ("apigateway", "CreateBasePathMapping"): Call("apigateway:POST", "mappings"),
    ("apigateway", "UpdateBasePathMapping"): Call("apigateway:PATCH", "mappings"),
    ("apigateway", "DeleteBasePathMapping"): Call("apigateway:DELETE", "mappings"),
    ("apigateway", "UpdateDomainName"): Call("apigateway:PATCH", "mappings"),
    # Previews: routing rules (read on every domain, changed on this app's).
    ("apigatewayv2", "ListRoutingRules"): Call("apigateway:ListRoutingRules", "rules-read"),
    ("apigatewayv2", "CreateRoutingRule"): Call("apigateway:CreateRoutingRule", "rules"),
    ("apigatewayv2", "DeleteRoutingRule"): Call("apigateway:DeleteRoutingRule", "rules"),
    # What functions do: teal invoke, teal logs, teal send.
    ("lambda", "Invoke"): Call("lambda:InvokeFunction", "functions"),
    # teal status: where each function's alias points (a canary's split)
    ("lambda", "GetAlias"): Call("lambda:GetAlias", "functions"),
    ("logs", "FilterLogEvents"): Call("logs:FilterLogEvents", "log-groups"),
    ("sqs", "SendMessage"): Call("sqs:SendMessage", "queues"),
    # Before a deploy: the parameters and secrets teal.toml refers to exist (metadata only).
    ("ssm", "DescribeParameters"): Call("ssm:DescribeParameters", "parameters-read"),
    ("secretsmanager", "DescribeSecret"): Call("secretsmanager:DescribeSecret", "secrets-read"),
    # Watches: the traffic, and the alarms that guard a watched switch.
    ("cloudwatch", "GetMetricData"): Call("cloudwatch:GetMetricData", "metrics"),
    ("cloudwatch", "PutMetricAlarm"): Call("cloudwatch:PutMetricAlarm", "alarms"),
    ("cloudwatch", "DeleteAlarms"): Call("cloudwatch:DeleteAlarms", "alarms"),
}

# Actions IAM authorizes only on "*", and why.
_ONLY_ANY: Mapping[str, str] = {
    "cloudwatch:GetMetricData": "CloudWatch's metric reads take no resource",
    "ssm:DescribeParameters": "Parameter Store's DescribeParameters takes no resource",
    "route53:ListHostedZones": "listing hosted zones takes no resource",
    "ec2:DescribeSecurityGroups": "EC2's Describe calls take no resource",
    "ec2:DescribeSubnets": "EC2's Describe calls take no resource",
    "ec2:DescribeVpcs": "EC2's Describe calls take no resource",
    "ec2:DescribeNetworkInterfaces": "EC2's Describe calls take no resource",
}
_LISTING_STACKS = (
    "teal status and the domain's reads list the app's environments (DescribeStacks "
    "without a stack name), which IAM authorizes on * only"
)


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    purpose: str  # what teal does with it
    why_any: str | None = None  # why the resource is "*"
    condition: Mapping[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": list(self.actions),
            "Resource": list(self.resources) if len(self.resources) > 1 else self.resources[0],
        }
        if self.condition:
            body["Condition"] = dict(self.condition)
        return body


@dataclass(frozen=True)
class DeployPolicy:
    statements: tuple[Statement, ...]
    scope: Scope

    def document(self) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": [s.document() for s in self.statements]}

    def actions(self) -> set[str]:
        return {action for statement in self.statements for action in statement.actions}


@dataclass(frozen=True)
class Scope:
    """Who and where: the app, its custom domains, its account and region ("*" if unknown)."""

    app: str
    region: str = ANY
    account: str = ANY
    domains: tuple[str, ...] = ()
    hosted_zone: bool = False
    in_vpc: bool = False
    layers: tuple[str, ...] = ()
    extra_types: tuple[str, ...] = ()  # resource types of the project's [resources]
    partition: str = field(init=False)

    def __post_init__(self) -> None:
        partition = "aws"
        if self.region.startswith("cn-"):
            partition = "aws-cn"
        elif self.region.startswith("us-gov-"):
            partition = "aws-us-gov"
        object.__setattr__(self, "partition", partition)

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        where = self.region if region else ""
        who = self.account if account else ""
        return f"arn:{self.partition}:{service}:{where}:{who}:{resource}"

    @property
    def bucket(self) -> str:
        if ANY in (self.account, self.region):
            return f"teal-artifacts-{self.account}-{self.region}"
        return bucket_name(self.account, self.region)

    def stack_names(self) -> list[str]:
        return [f"{self.app}-*", *(domain_stack_name(d) for d in self.domains)]

    def resources(self, scope: str) -> tuple[str, ...]:
        """The ARNs of one scope of :data:`TEAL_CALLS`."""
        gateway = self.arn("apigateway", "", account=False).removesuffix(":")
        bucket = f"arn:{self.partition}:s3:::{self.bucket}"
        any_account = f"arn:{self.partition}:apigateway:{self.region}:*:"
        found: dict[str, list[str]] = {
            "stacks": [self.arn("cloudformation", f"stack/{n}/*") for n in self.stack_names()],
            "bucket": [bucket],
            "objects": [
                f"{bucket}/code/*",
                f"{bucket}/layers/*",
                f"{bucket}/templates/*",
                f"{bucket}/{LOCK_PREFIX}{self.app}-*",
                # the domain's locks (teal.ops.environments names them): the root's
                # mapping, a base path's mapping, and the domain itself
                *(
                    f"{bucket}/{LOCK_PREFIX}{key}"
                    for d in self.domains
                    for key in (f"domain:{d}.json", f"domain:{d}/*", f"domain-itself:{d}.json")
                ),
                f"{bucket}/{HISTORY_PREFIX}{self.app}/*",
            ],
            "domains-read": [f"{gateway}:/domainnames", f"{gateway}:/domainnames/*"],
            "mappings": [
                path
                for d in self.domains
                for path in (
                    f"{gateway}:/domainnames/{d}",
                    f"{gateway}:/domainnames/{d}/basepathmappings",
                    f"{gateway}:/domainnames/{d}/basepathmappings/*",
                )
            ],
            # a rule's ARN may name the account or not, and IAM may authorize on the
            # domain's ARN or the rule's: both, within the domain (or every domain, to read)
            "rules-read": [f"{any_account}/domainnames/*"],
            "rules": [
                f"{any_account}/domainnames/{d}{tail}" for d in self.domains for tail in ("", "/*")
            ],
            "functions": [self.arn("lambda", f"function:{self.app}-*")],
            "log-groups": [self.arn("logs", f"log-group:{environment_log_group(self.app)}-*")],
            "queues": [self.arn("sqs", f"{self.app}-*")],
            "parameters-read": [ANY],
            "secrets-read": [self.arn("secretsmanager", "secret:*")],
            "metrics": [ANY],
            "alarms": [
                self.arn("cloudwatch", f"alarm:{watch_alarm_prefix(d)}*") for d in self.domains
            ],
        }
        return tuple(found[scope])


def deploy_policy(scope: Scope) -> DeployPolicy:
    """The policy: teal's own calls first, then what CloudFormation does for teal."""
    statements = [*_own_calls(scope), *_through_cloudformation(scope)]
    return DeployPolicy(tuple(s for s in statements if s.actions and s.resources), scope)


# teal's own calls.

_OWN_PURPOSE = {
    "stacks": "deploy, plan and delete the app's stacks and its domains' stacks",
    "bucket": "create and read the artifacts bucket (private, encrypted, versioned)",
    "objects": "upload code and templates; keep the app's locks and history",
    "domains-read": "read custom domains and their mappings (no API a domain maps is deleted)",
    "mappings": "switch and roll back: re-point this app's domains' base path mappings",
    "rules-read": "read routing rules (no API a preview rule sends to is deleted)",
    "rules": "teal preview: this app's domains' routing rules",
    "functions": "teal invoke",
    "log-groups": "teal logs",
    "queues": "teal send",
    "parameters-read": "before a deploy: the parameters teal.toml refers to exist",
    "secrets-read": "before a deploy: the secrets teal.toml refers to exist",
    "metrics": "teal switch --watch: read the traffic of the watched stage",
    "alarms": "the alarms that guard a watched switch",
}


def _own_calls(scope: Scope) -> list[Statement]:
    by_scope: dict[str, set[str]] = {}
    for call in TEAL_CALLS.values():
        by_scope.setdefault(call.scope, set()).add(call.action)
    statements = [
        Statement(
            sid="Teal" + "".join(part.title() for part in name.split("-")),
            actions=tuple(sorted(actions)),
            resources=scope.resources(name),
            purpose=_OWN_PURPOSE[name],
            why_any=_ONLY_ANY.get(next(iter(actions))) if scope.resources(name) == (ANY,) else None,
        )
        for name, actions in by_scope.items()
    ]
    statements.append(
        Statement(
            sid="TealListStacks",
            actions=("cloudformation:DescribeStacks",),
            resources=(ANY,),
            purpose="list the app's environments",
            why_any=_LISTING_STACKS,
        )
    )
    return statements


# What CloudFormation does with the caller's permissions.


def resource_types(scope: Scope) -> tuple[str, ...]:
    """Every resource type the project's stacks may hold."""
    types = set(TEAL_RESOURCE_TYPES) | set(scope.extra_types)
    if scope.domains:
        types |= set(DOMAIN_RESOURCE_TYPES)
        if scope.hosted_zone:
            types.add(ALIAS_RESOURCE_TYPE)
    return tuple(sorted(types))


def handler_actions(resource_type: str, in_vpc: bool = False) -> set[str]:
    """The actions CloudFormation's handlers of the type call, less the unused services'."""
    try:
        handlers = resource_schema(resource_type).get("handlers", {})
    except KeyError:
        return set()
    actions = {a for h in _HANDLERS for a in handlers.get(h, {}).get("permissions", [])}
    return {
        action
        for action in actions
        if _ACTION.match(action)
        and action.split(":")[0] not in _UNUSED_SERVICES
        and (in_vpc or not action.startswith("ec2:"))
    }


def _through_cloudformation(scope: Scope) -> list[Statement]:
    by_service: dict[str, set[str]] = {}
    for resource_type in resource_types(scope):
        for action in handler_actions(resource_type, scope.in_vpc):
            by_service.setdefault(action.split(":")[0], set()).add(action)
    statements: list[Statement] = []
    for service, actions in sorted(by_service.items()):
        statements.extend(_service_statements(scope, service, actions))
    return statements


def _service_statements(scope: Scope, service: str, actions: set[str]) -> list[Statement]:
    """One statement per service, split where actions need other resources."""
    only_any = sorted(a for a in actions if a in _ONLY_ANY)
    rest = actions - set(only_any) - {"iam:PassRole"}
    title = service.title().replace("-", "")
    statements: list[Statement] = []
    if rest:
        resources, why = _made_resources(scope, service)
        statements.append(
            Statement(
                f"Stack{title}",
                tuple(sorted(rest)),
                resources,
                f"CloudFormation makes the stacks' {service} resources as the caller",
                why,
            )
        )
    if only_any:
        statements.append(
            Statement(
                f"Stack{title}Reads",
                tuple(only_any),
                (ANY,),
                f"CloudFormation's {service} reads",
                "; ".join(sorted({_ONLY_ANY[a] for a in only_any})),
            )
        )
    if "iam:PassRole" in actions:
        statements.append(
            Statement(
                "StackPassRoles",
                ("iam:PassRole",),
                _made_resources(scope, "iam")[0],
                "give the stacks' functions their own roles (and no other role)",
                condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            )
        )
    return statements


def _made_resources(scope: Scope, service: str) -> tuple[tuple[str, ...], str | None]:
    """What CloudFormation makes for the app in one service, and why it cannot be narrower."""
    stacks = scope.stack_names()
    made = [f"{scope.app}-*", *(f"{domain_stack_name(d)}-*" for d in scope.domains)]
    gateway = scope.arn("apigateway", "", account=False).removesuffix(":")
    named: dict[str, Sequence[str]] = {
        "cloudformation": [scope.arn("cloudformation", f"stack/{n}/*") for n in stacks],
        "iam": [scope.arn("iam", f"role/{n}", region=False) for n in made],
        "lambda": [
            *(scope.arn("lambda", f"function:{n}") for n in made),
            scope.arn("lambda", "event-source-mapping:*"),
            # the dependency layers (teal.template.dependency_layer names them), and versions
            scope.arn("lambda", f"layer:{scope.app}-*"),
            scope.arn("lambda", f"layer:{scope.app}-*:*"),
            *(scope.layers or ()),
        ],
        "logs": [scope.arn("logs", f"log-group:{environment_log_group(scope.app)}-*")],
        "events": [scope.arn("events", f"rule/{scope.app}-*")],
        "sqs": [scope.arn("sqs", f"{scope.app}-*")],
        "s3": [
            f"arn:{scope.partition}:s3:::{scope.bucket}/code/*",
            f"arn:{scope.partition}:s3:::{scope.bucket}/layers/*",
            f"arn:{scope.partition}:s3:::{scope.bucket}/templates/*",
        ],
    }
    if service in named:
        return tuple(named[service]), None
    if service == "route53":
        zones = f"arn:{scope.partition}:route53:::hostedzone/*"
        why = "teal.toml names the hosted zone, not its id, which its ARN holds"
        return (zones, f"arn:{scope.partition}:route53:::change/*"), why
    if service == "apigateway":
        paths = ["/restapis", "/restapis/*", "/apikeys", "/apikeys/*", "/usageplans"]
        paths += ["/usageplans/*", "/tags/*"]
        paths += [p for d in scope.domains for p in (f"/domainnames/{d}", f"/domainnames/{d}/*")]
        if scope.domains:
            paths.append("/domainnames")
        why = "API Gateway names an app's APIs, keys and usage plans by random ids"
        return tuple(f"{gateway}:{p}" for p in paths), why
    why = f"CloudFormation names the [resources] template's {service} resources itself"
    return (scope.arn(service, ANY),), why


def text_lines(policy: DeployPolicy) -> Iterable[str]:
    """The policy for people: each statement's purpose, and why where it is "*"."""
    for statement in policy.statements:
        yield f"{statement.sid}: {statement.purpose}"
        if statement.why_any:
            label = "resource *" if statement.resources == (ANY,) else "no narrower"
            yield f"  {label}: {statement.why_any}"


def project_scope(project: Project, region: str | None, account: str | None) -> Scope:
    """The scope of a project: every env's domain, layers and VPCs, its [resources] types."""
    config = project.config
    domains = [config.domain] + [env.domain for env in config.env.values()]
    functions = [*config.functions.values()]
    for env in config.env.values():
        functions.extend((env.functions or {}).values())
    extra: tuple[str, ...] = ()
    if config.resources is not None:
        found = read_resources_file(project.root, config.resources.template, "[resources]")
        extra = tuple(sorted(set(found.types().values())))
    return Scope(
        app=config.app.name,
        region=region or config.aws.region or os.environ.get("AWS_REGION") or ANY,
        account=account or ANY,
        domains=tuple(sorted({d.name for d in domains if d is not None})),
        hosted_zone=any(d is not None and d.hosted_zone for d in domains),
        in_vpc=any(f.vpc is not None for f in functions),
        layers=tuple(sorted({layer for f in functions for layer in f.layers})),
        extra_types=extra,
    )
