"""A small CloudFormation that answers a boto3 client in-process, for whole-deploy tests.

moto's CloudFormation does not model API Gateway (see ../shared/aws-behavior.md),
and the Stubber needs every answer scripted in order, which a whole
``teal.ops.deploy.deploy()`` makes impractical. This fake keeps stacks in memory:
change sets always succeed (or are empty), an executed change set settles at
once with its events, nested stacks are read from the artifacts bucket as
CloudFormation reads them, and the few resources the rest of the flow relies
on are made real in moto's API Gateway (a RestApi with its stage, a
DomainName), so base path mappings can point at them, and in moto's SQS (a
queue, given an SQS client), so messages can be sent to a stack's queue. Every answer is checked
against botocore's output shape, as the Stubber does.

Given :class:`MotoServices` as well (and IAM and SQS clients), the fake makes
every resource of a type moto serves real in moto, in the order their
references ask (a method after its resource and authorizer, a function after
its role, a permission after its function), with the properties resolved as
CloudFormation resolves them: its physical id is then what moto answers, and
a test can find each resource there by it.
"""

from __future__ import annotations

import graphlib
import io
import itertools
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.awsrequest import AWSResponse
from botocore.validate import validate_parameters

from teal.template import nested_keys

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client

REGION = "us-east-1"
ACCOUNT = "123456789012"
T0 = datetime(2026, 11, 26, 9, 0, 0, tzinfo=UTC)
_PARAMS = "teal_fake_params"
_SUB = re.compile(r"\$\{([^}]+)\}")


@dataclass
class FakeStack:
    name: str
    stack_id: str
    status: str
    template: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    physical: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # each made resource's type
    events: list[dict[str, Any]] = field(default_factory=list)
    parent_id: str | None = None


@dataclass(frozen=True)
class MotoServices:
    """Clients of the services whose resources the fake makes real in moto, besides API
    Gateway, IAM and SQS (see the module docstring)."""

    lambda_: Any
    logs: Any
    events: Any
    dynamodb: Any


@dataclass
class PendingChangeSet:
    id: str
    stack: FakeStack
    kind: str
    template: dict[str, Any]
    parameters: dict[str, str]
    tags: dict[str, str]
    empty: bool


class FakeCloudFormation:
    """CloudFormation's API for one client, answered from memory (see module docstring)."""

    def __init__(
        self,
        apigateway: APIGatewayClient,
        s3: S3Client,
        sqs: Any = None,
        iam: Any = None,
        services: MotoServices | None = None,
    ) -> None:
        # Clients of their own, so what the fake does is not counted as teal's calls.
        self._apigw = apigateway
        self._s3 = s3
        self._sqs = sqs
        self._iam = iam  # given: roles and OIDC providers are made in moto's IAM
        self._services = services  # given: every type moto serves is made there
        self._arns: dict[tuple[str, str], str] = {}
        self.stacks: list[FakeStack] = []
        self._change_sets: dict[str, PendingChangeSet] = {}
        self._ids = itertools.count(1)
        self._clock = itertools.count()
        self._handlers = {
            "DescribeStacks": self._describe_stacks,
            "GetTemplate": self._get_template,
            "DescribeStackResource": self._describe_stack_resource,
            "DescribeStackEvents": self._describe_stack_events,
            "CreateChangeSet": self._create_change_set,
            "DescribeChangeSet": self._describe_change_set,
            "ExecuteChangeSet": self._execute_change_set,
            "DeleteChangeSet": self._delete_change_set,
            "DeleteStack": self._delete_stack,
        }

    def attach(self, client: CloudFormationClient) -> None:
        client.meta.events.register("before-parameter-build.cloudformation.*", self._remember)
        client.meta.events.register("before-call.cloudformation.*", self._answer)

    # botocore hooks.

    def _remember(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS] = dict(params)

    def _answer(self, model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, Any]:
        handler = self._handlers.get(model.name)
        if handler is None:
            raise AssertionError(f"the fake CloudFormation does not model {model.name}")
        params = context.get(_PARAMS, {})
        try:
            body = handler(params)
        except StackMissing as missing:
            error = {"Error": {"Code": "ValidationError", "Message": str(missing)}}
            return AWSResponse(None, 400, {}, None), error
        if model.output_shape is not None:
            validate_parameters(body, model.output_shape)
        return AWSResponse(None, 200, {}, None), body

    # Reading.

    def find(self, name_or_id: str) -> FakeStack:
        for stack in reversed(self.stacks):
            if stack.stack_id == name_or_id:
                return stack
            if stack.name == name_or_id and stack.status != "DELETE_COMPLETE":
                return stack
        raise StackMissing(f"Stack with id {name_or_id} does not exist")

    def _describe_stacks(self, params: dict[str, Any]) -> dict[str, Any]:
        if "StackName" in params:
            return {"Stacks": [self._raw(self.find(params["StackName"]))]}
        live = [s for s in self.stacks if s.status != "DELETE_COMPLETE"]
        return {"Stacks": [self._raw(s) for s in live]}

    def _raw(self, stack: FakeStack) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "StackId": stack.stack_id,
            "StackName": stack.name,
            "StackStatus": stack.status,
            "CreationTime": T0,
            "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in stack.outputs.items()],
            "Tags": [{"Key": k, "Value": v} for k, v in stack.tags.items()],
            "Parameters": [
                {"ParameterKey": k, "ParameterValue": v} for k, v in stack.parameters.items()
            ],
        }
        if stack.parent_id:
            raw["ParentId"] = raw["RootId"] = stack.parent_id
        return raw

    def _get_template(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"TemplateBody": json.dumps(self.find(params["StackName"]).template)}

    def _describe_stack_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = self.find(params["StackName"])
        logical_id = params["LogicalResourceId"]
        resource = stack.template["Resources"][logical_id]
        return {
            "StackResourceDetail": {
                "LogicalResourceId": logical_id,
                "PhysicalResourceId": stack.physical[logical_id],
                "ResourceType": resource["Type"],
                "LastUpdatedTimestamp": T0,
                "ResourceStatus": "UPDATE_COMPLETE",
            }
        }

    def _describe_stack_events(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"StackEvents": list(reversed(self.find(params["StackName"]).events))}

    # Change sets.

    def _create_change_set(self, params: dict[str, Any]) -> dict[str, Any]:
        template = self._template_of(params)
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in params.get("Parameters", [])}
        tags = {t["Key"]: t["Value"] for t in params.get("Tags", [])}
        if params["ChangeSetType"] == "CREATE":
            stack = self._new_stack(params["StackName"])
            self._event(stack, stack.name, "AWS::CloudFormation::Stack", "REVIEW_IN_PROGRESS")
            empty = False
        else:
            stack = self.find(params["StackName"])
            empty = (template, parameters, tags) == (stack.template, stack.parameters, stack.tags)
        change_set_id = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/{next(self._ids)}"
        self._change_sets[change_set_id] = PendingChangeSet(
            change_set_id, stack, params["ChangeSetType"], template, parameters, tags, empty
        )
        return {"Id": change_set_id, "StackId": stack.stack_id}

    def _describe_change_set(self, params: dict[str, Any]) -> dict[str, Any]:
        pending = self._change_sets[params["ChangeSetName"]]
        body: dict[str, Any] = {
            "ChangeSetId": pending.id,
            "StackId": pending.stack.stack_id,
            "StackName": pending.stack.name,
            "Status": "FAILED" if pending.empty else "CREATE_COMPLETE",
            "ExecutionStatus": "UNAVAILABLE" if pending.empty else "AVAILABLE",
            "Changes": [] if pending.kind == "CREATE" else _resource_changes(pending),
        }
        if pending.empty:
            body["StatusReason"] = (
                "The submitted information didn't contain changes. "
                "Submit different information to create a change set."
            )
        return body

    def _delete_change_set(self, params: dict[str, Any]) -> dict[str, Any]:
        self._change_sets.pop(params["ChangeSetName"], None)
        return {}

    def _execute_change_set(self, params: dict[str, Any]) -> dict[str, Any]:
        pending = self._change_sets.pop(params["ChangeSetName"])
        stack = pending.stack
        verb = "CREATE" if pending.kind == "CREATE" else "UPDATE"
        self._event(stack, stack.name, "AWS::CloudFormation::Stack", f"{verb}_IN_PROGRESS")
        stack.template, stack.parameters, stack.tags = (
            pending.template,
            pending.parameters,
            pending.tags,
        )
        self._provision(stack)
        stack.status = f"{verb}_COMPLETE"
        self._event(stack, stack.name, "AWS::CloudFormation::Stack", stack.status)
        return {}

    def _delete_stack(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = self.find(params["StackName"])
        stack.status = "DELETE_COMPLETE"
        self._event(stack, stack.name, "AWS::CloudFormation::Stack", stack.status)
        return {}

    # Resources.

    def _provision(self, stack: FakeStack) -> None:
        resources: dict[str, Any] = stack.template.get("Resources", {})
        keys = nested_keys(stack.template)
        order = list(resources)
        if self._services is not None:  # what moto makes must exist before what names it
            order = list(graphlib.TopologicalSorter(_dependencies(resources)).static_order())
        for logical_id in order:
            resource = resources[logical_id]
            if logical_id not in stack.physical:
                stack.physical[logical_id] = self._create(stack, logical_id, resource, keys)
                stack.kinds[logical_id] = resource["Type"]
            elif resource["Type"] == "AWS::CloudFormation::Stack":  # updated with its parent
                self._update_nested(stack, logical_id, keys[logical_id])
            self._event(stack, logical_id, resource["Type"], "CREATE_COMPLETE")
        for gone in set(stack.physical) - set(resources):
            self._remove(stack.kinds.pop(gone, ""), stack.physical.pop(gone))
        stack.outputs = {
            name: self._value(stack, body["Value"])
            for name, body in stack.template.get("Outputs", {}).items()
        }

    def _remove(self, kind: str, physical: str) -> None:
        """A resource an update left out: a nested stack is deleted with it, and (given
        MotoServices) an API or a function is deleted from moto."""
        if kind == "AWS::CloudFormation::Stack":
            child = self.find(physical)
            for logical_id in list(child.physical):
                self._remove(child.kinds.pop(logical_id, ""), child.physical.pop(logical_id))
            child.status = "DELETE_COMPLETE"
        elif self._services is not None and kind == "AWS::ApiGateway::RestApi":
            self._apigw.delete_rest_api(restApiId=physical)
        elif self._services is not None and kind == "AWS::Lambda::Function":
            self._services.lambda_.delete_function(FunctionName=physical)

    def _create(
        self, stack: FakeStack, logical_id: str, resource: dict[str, Any], keys: dict[str, str]
    ) -> str:
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::ApiGateway::RestApi":
            return str(self._apigw.create_rest_api(name=str(props.get("Name", logical_id)))["id"])
        if kind == "AWS::ApiGateway::Stage" and self._services is None:
            api_id = self._value(stack, props["RestApiId"])
            self._open_stage(api_id, str(props["StageName"]))
            return str(props["StageName"])
        if kind == "AWS::ApiGateway::DomainName":
            self._apigw.create_domain_name(
                domainName=props["DomainName"],
                regionalCertificateArn=props.get("RegionalCertificateArn", ""),
                endpointConfiguration={"types": ["REGIONAL"]},
            )
            _moto_domain_without_mappings(str(props["DomainName"]))
            return str(props["DomainName"])
        if kind == "AWS::CloudFormation::Stack":
            return self._nested_stack(stack, logical_id, keys[logical_id]).stack_id
        if kind == "AWS::IAM::Role" and self._iam is not None:
            name = f"{stack.name}-{logical_id}"[:64]
            trust = self._resolved(stack, props["AssumeRolePolicyDocument"])
            role = self._iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
            for policy in props.get("Policies", []):
                self._iam.put_role_policy(
                    RoleName=name,
                    PolicyName=policy["PolicyName"],
                    PolicyDocument=json.dumps(self._resolved(stack, policy["PolicyDocument"])),
                )
            self._arns[(stack.stack_id, logical_id)] = str(role["Role"]["Arn"])
            return name
        if kind == "AWS::IAM::OIDCProvider" and self._iam is not None:
            made = self._iam.create_open_id_connect_provider(
                Url=props["Url"], ClientIDList=props.get("ClientIdList", []), ThumbprintList=[]
            )
            return str(made["OpenIDConnectProviderArn"])
        if kind == "AWS::SQS::Queue" and self._sqs is not None:
            name = f"{stack.name}-{logical_id}-{next(self._ids):04d}"
            url = str(self._sqs.create_queue(QueueName=name)["QueueUrl"])
            if self._services is not None:
                arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
                self._arns[(stack.stack_id, logical_id)] = arn["Attributes"]["QueueArn"]
            return url
        if self._services is not None and kind in _MADE_IN_MOTO:
            props = self._resolved(stack, props)
            made: str = getattr(self, _MADE_IN_MOTO[kind])(stack, logical_id, props)
            return made
        return f"{stack.name}-{logical_id}"

    # Resources made in moto (given MotoServices), each returning its physical id.

    def _make_resource(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        api, parent = props["RestApiId"], props["ParentId"]
        made = self._apigw.create_resource(
            restApiId=api, parentId=parent, pathPart=props["PathPart"]
        )
        return str(made["id"])

    def _make_method(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        where = {"restApiId": props["RestApiId"], "resourceId": props["ResourceId"]}
        verb = props["HttpMethod"]
        extra = {"authorizerId": props["AuthorizerId"]} if "AuthorizerId" in props else {}
        self._apigw.put_method(
            **where,
            httpMethod=verb,
            authorizationType=props.get("AuthorizationType", "NONE"),
            apiKeyRequired=bool(props.get("ApiKeyRequired", False)),
            **extra,
        )
        integration = props.get("Integration", {})
        self._apigw.put_integration(
            **where,
            httpMethod=verb,
            type=integration.get("Type", "MOCK"),
            integrationHttpMethod=integration.get("IntegrationHttpMethod", verb),
            uri=str(integration.get("Uri", "")),
        )
        return f"{stack.name}-{logical_id}"  # CloudFormation's own name: moto keys it by verb

    def _make_authorizer(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        optional = {
            "providerARNs": props.get("ProviderARNs"),
            "authorizerUri": props.get("AuthorizerUri"),
            "identitySource": props.get("IdentitySource"),
            "authorizerResultTtlInSeconds": props.get("AuthorizerResultTtlInSeconds"),
        }
        made = self._apigw.create_authorizer(
            restApiId=props["RestApiId"],
            name=props["Name"],
            type=props["Type"],
            **{key: value for key, value in optional.items() if value is not None},
        )
        return str(made["id"])

    def _make_gateway_response(
        self, stack: FakeStack, logical_id: str, props: dict[str, Any]
    ) -> str:
        self._apigw.put_gateway_response(
            restApiId=props["RestApiId"],
            responseType=props["ResponseType"],
            responseParameters=props.get("ResponseParameters", {}),
            responseTemplates=props.get("ResponseTemplates", {}),
        )
        return f"{stack.name}-{logical_id}"

    def _make_deployment(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        made = self._apigw.create_deployment(
            restApiId=props["RestApiId"], description=str(props.get("Description", ""))
        )
        return str(made["id"])

    def _make_stage(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        self._apigw.create_stage(
            restApiId=props["RestApiId"],
            stageName=props["StageName"],
            deploymentId=props["DeploymentId"],
        )
        return str(props["StageName"])  # a stage's Ref is its name

    def _make_api_key(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        made = self._apigw.create_api_key(
            name=props["Name"], description=props.get("Description", ""), enabled=True
        )
        return str(made["id"])

    def _make_usage_plan(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        stages = [{"apiId": s["ApiId"], "stage": s["Stage"]} for s in props.get("ApiStages", [])]
        made = self._apigw.create_usage_plan(name=props["UsagePlanName"], apiStages=stages)
        return str(made["id"])

    def _make_usage_plan_key(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        made = self._apigw.create_usage_plan_key(
            usagePlanId=props["UsagePlanId"], keyId=props["KeyId"], keyType=props["KeyType"]
        )
        return str(made["id"])

    def _make_function(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        assert self._services is not None
        code = props["Code"]
        if "ZipFile" in code:  # inline source: CloudFormation zips it as index.py
            code = {"ZipFile": _zipped("index.py", str(code["ZipFile"]))}
        optional = {
            key: props[key]
            for key in ("Handler", "MemorySize", "Timeout", "Layers", "VpcConfig", "Description")
            if key in props
        }
        if "Environment" in props:
            optional["Environment"] = {"Variables": props["Environment"].get("Variables", {})}
        name = str(props.get("FunctionName", f"{stack.name}-{logical_id}"))
        made = self._services.lambda_.create_function(
            FunctionName=name, Runtime=props["Runtime"], Role=props["Role"], Code=code, **optional
        )
        if "ReservedConcurrentExecutions" in props:
            self._services.lambda_.put_function_concurrency(
                FunctionName=name,
                ReservedConcurrentExecutions=int(props["ReservedConcurrentExecutions"]),
            )
        self._arns[(stack.stack_id, logical_id)] = str(made["FunctionArn"])
        return name

    def _make_layer_version(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        """A layer version published in moto from the zip teal uploaded; its ARN is its
        physical id, as CloudFormation's Ref of a LayerVersion gives."""
        assert self._services is not None
        content = props["Content"]
        made = self._services.lambda_.publish_layer_version(
            LayerName=str(props.get("LayerName", f"{stack.name}-{logical_id}")),
            Content={"S3Bucket": content["S3Bucket"], "S3Key": content["S3Key"]},
            CompatibleRuntimes=list(props.get("CompatibleRuntimes", [])),
            CompatibleArchitectures=list(props.get("CompatibleArchitectures", [])),
        )
        return str(made["LayerVersionArn"])

    def _make_version(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        """A version published in moto; its qualified ARN is its physical id (Ref), its
        number the ``Version`` attribute."""
        assert self._services is not None
        described = {"Description": props["Description"]} if "Description" in props else {}
        made = self._services.lambda_.publish_version(
            FunctionName=props["FunctionName"], **described
        )
        return str(made["FunctionArn"])

    def _make_alias(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        """An alias made in moto; its ARN is its physical id (Ref)."""
        assert self._services is not None
        routing = {"RoutingConfig": props["RoutingConfig"]} if "RoutingConfig" in props else {}
        made = self._services.lambda_.create_alias(
            FunctionName=props["FunctionName"],
            Name=props["Name"],
            FunctionVersion=str(props["FunctionVersion"]),
            **routing,
        )
        return str(made["AliasArn"])

    def _make_permission(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        assert self._services is not None
        statement = f"{stack.name}-{logical_id}"[:100]
        source = {"SourceArn": props["SourceArn"]} if "SourceArn" in props else {}
        self._services.lambda_.add_permission(
            FunctionName=props["FunctionName"],
            StatementId=statement,
            Action=props["Action"],
            Principal=props["Principal"],
            **source,
        )
        return statement

    def _make_event_source_mapping(
        self, stack: FakeStack, logical_id: str, props: dict[str, Any]
    ) -> str:
        assert self._services is not None
        made = self._services.lambda_.create_event_source_mapping(
            EventSourceArn=props["EventSourceArn"],
            FunctionName=props["FunctionName"],
            BatchSize=int(props.get("BatchSize", 10)),
            Enabled=bool(props.get("Enabled", True)),
        )
        return str(made["UUID"])

    def _make_rule(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        assert self._services is not None
        name = f"{stack.name}-{logical_id}"[:64]
        made = self._services.events.put_rule(
            Name=name,
            ScheduleExpression=props["ScheduleExpression"],
            State=props.get("State", "ENABLED"),
            Description=props.get("Description", ""),
        )
        targets = [{"Id": t["Id"], "Arn": t["Arn"]} for t in props.get("Targets", [])]
        if targets:
            self._services.events.put_targets(Rule=name, Targets=targets)
        self._arns[(stack.stack_id, logical_id)] = str(made["RuleArn"])
        return name

    def _make_log_group(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        assert self._services is not None
        name = str(props.get("LogGroupName", f"{stack.name}-{logical_id}"))
        self._services.logs.create_log_group(logGroupName=name)
        return name

    def _make_table(self, stack: FakeStack, logical_id: str, props: dict[str, Any]) -> str:
        assert self._services is not None
        name = f"{stack.name}-{logical_id}-{next(self._ids):04d}"
        self._services.dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props.get("BillingMode", "PROVISIONED"),
        )
        return name

    def _open_stage(self, api_id: str, stage: str) -> None:
        """A stage needs a deployment, and moto deploys an API only with an integrated method."""
        root = self._apigw.get_resources(restApiId=api_id)["items"][0]["id"]
        self._apigw.put_method(
            restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE"
        )
        self._apigw.put_integration(
            restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK"
        )
        self._apigw.create_deployment(restApiId=api_id, stageName=stage)

    def _nested_stack(self, parent: FakeStack, logical_id: str, key: str) -> FakeStack:
        """CloudFormation reads the nested template from the bucket: a missing one fails."""
        bucket = parent.parameters["ArtifactBucket"]
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        child = self._new_stack(f"{parent.name}-{logical_id}-{next(self._ids):04d}")
        child.parent_id = parent.stack_id
        child.template = json.loads(body)
        given = parent.template["Resources"][logical_id].get("Properties", {})
        child.parameters = {
            name: self._value(parent, value) for name, value in given.get("Parameters", {}).items()
        }
        self._provision(child)
        child.status = "CREATE_COMPLETE"
        return child

    def _update_nested(self, parent: FakeStack, logical_id: str, key: str) -> None:
        child = self.find(parent.physical[logical_id])
        bucket = parent.parameters["ArtifactBucket"]
        child.template = json.loads(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        given = parent.template["Resources"][logical_id].get("Properties", {})
        child.parameters = {
            name: self._value(parent, value) for name, value in given.get("Parameters", {}).items()
        }
        self._provision(child)
        child.status = "UPDATE_COMPLETE"

    def _value(self, stack: FakeStack, value: Any) -> str:
        """Outputs and properties, resolved just enough for teal's templates."""
        if isinstance(value, str):
            return value
        if "Ref" in value:
            name = value["Ref"]
            return stack.physical.get(name, stack.parameters.get(name, name))
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return self._attribute(stack, logical_id, attribute)
        if "Fn::Sub" in value:
            pseudo = {
                "AWS::Region": REGION,
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::Partition": "aws",
                "AWS::AccountId": ACCOUNT,
            }

            body = value["Fn::Sub"]
            text, local = (body, {}) if isinstance(body, str) else (body[0], body[1])
            variables = {name: self._value(stack, item) for name, item in local.items()}

            def swap(found: re.Match[str]) -> str:
                name, _, attribute = found[1].partition(".")
                if name in variables:
                    return variables[name]
                if name in pseudo:
                    return pseudo[name]
                if attribute:
                    return self._attribute(stack, name, attribute)
                return stack.physical.get(name, stack.parameters.get(name, name))

            return _SUB.sub(swap, text)
        return json.dumps(value)

    def _attribute(self, stack: FakeStack, logical_id: str, attribute: str) -> str:
        if (stack.stack_id, logical_id) in self._arns and attribute == "Arn":
            return self._arns[(stack.stack_id, logical_id)]
        physical = stack.physical.get(logical_id, logical_id)
        if attribute == "Version" and physical.startswith("arn:aws:lambda:"):
            return physical.rsplit(":", 1)[1]  # a published version's number
        if attribute.startswith("Outputs.") and physical.startswith("arn:aws:cloudformation:"):
            return self.find(physical).outputs[attribute.removeprefix("Outputs.")]
        if self._services is not None and attribute == "RootResourceId":
            items = self._apigw.get_resources(restApiId=physical)["items"]
            return str(next(item["id"] for item in items if item["path"] == "/"))
        return f"{physical}.{attribute}"

    def value(self, stack: FakeStack, value: Any) -> Any:
        """A property as CloudFormation resolved it for the stack (lists and maps too)."""
        return self._resolved(stack, value)

    def _resolved(self, stack: FakeStack, value: Any) -> Any:
        """A policy document with its references resolved, all the way down."""
        if isinstance(value, dict):
            if len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::Sub"):
                return self._value(stack, value)
            return {key: self._resolved(stack, item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._resolved(stack, item) for item in value]
        return value

    # Helpers.

    def _template_of(self, params: dict[str, Any]) -> dict[str, Any]:
        if "TemplateBody" in params:
            template: dict[str, Any] = json.loads(params["TemplateBody"])
            return template
        bucket, key = params["TemplateURL"].split("/", 4)[3:5]
        loaded: dict[str, Any] = json.loads(
            self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        )
        return loaded

    def _new_stack(self, name: str) -> FakeStack:
        number = next(self._ids)
        stack_id = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/{number:08d}"
        stack = FakeStack(name, stack_id, "REVIEW_IN_PROGRESS")
        self.stacks.append(stack)
        return stack

    def _event(self, stack: FakeStack, logical_id: str, kind: str, status: str) -> None:
        physical = stack.stack_id if logical_id == stack.name else stack.physical.get(logical_id)
        event: dict[str, Any] = {
            "StackId": stack.stack_id,
            "EventId": f"{stack.name}-{len(stack.events)}",
            "StackName": stack.name,
            "LogicalResourceId": logical_id,
            "ResourceType": kind,
            "Timestamp": T0 + timedelta(seconds=next(self._clock)),
            "ResourceStatus": status,
        }
        if physical:
            event["PhysicalResourceId"] = physical
        stack.events.append(event)


_MADE_IN_MOTO = {
    "AWS::ApiGateway::Resource": "_make_resource",
    "AWS::ApiGateway::Method": "_make_method",
    "AWS::ApiGateway::Authorizer": "_make_authorizer",
    "AWS::ApiGateway::GatewayResponse": "_make_gateway_response",
    "AWS::ApiGateway::Deployment": "_make_deployment",
    "AWS::ApiGateway::Stage": "_make_stage",
    "AWS::ApiGateway::ApiKey": "_make_api_key",
    "AWS::ApiGateway::UsagePlan": "_make_usage_plan",
    "AWS::ApiGateway::UsagePlanKey": "_make_usage_plan_key",
    "AWS::Lambda::Function": "_make_function",
    "AWS::Lambda::LayerVersion": "_make_layer_version",
    "AWS::Lambda::Version": "_make_version",
    "AWS::Lambda::Alias": "_make_alias",
    "AWS::Lambda::Permission": "_make_permission",
    "AWS::Lambda::EventSourceMapping": "_make_event_source_mapping",
    "AWS::Events::Rule": "_make_rule",
    "AWS::Logs::LogGroup": "_make_log_group",
    "AWS::DynamoDB::Table": "_make_table",
}


def _dependencies(resources: dict[str, Any]) -> dict[str, set[str]]:
    """Each resource's references to the template's other resources, and its DependsOn."""
    found: dict[str, set[str]] = {}
    for logical_id, body in resources.items():
        named: set[str] = set()
        _references(body.get("Properties", {}), named)
        depends = body.get("DependsOn", [])
        named |= {depends} if isinstance(depends, str) else set(depends)
        found[logical_id] = {name for name in named if name in resources and name != logical_id}
    return found


def _references(value: Any, into: set[str]) -> None:
    if isinstance(value, dict):
        if "Ref" in value:
            into.add(str(value["Ref"]))
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            into.add(str(target[0] if isinstance(target, list) else target.split(".")[0]))
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            into |= {m[1].split(".")[0] for m in _SUB.finditer(text)}
        for item in value.values():
            _references(item, into)
    elif isinstance(value, list):
        for item in value:
            _references(item, into)


def _zipped(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


def _resource_changes(pending: PendingChangeSet) -> list[dict[str, Any]]:
    """Add, Modify and Remove rows of an update, by logical id. The fake knows no resource
    schemas: a modified resource's Replacement is always ``Conditional``."""
    old: dict[str, Any] = pending.stack.template.get("Resources", {})
    new: dict[str, Any] = pending.template.get("Resources", {})
    rows = []
    for logical_id in sorted(old.keys() | new.keys()):
        before, after = old.get(logical_id), new.get(logical_id)
        if before == after:
            continue
        change: dict[str, Any] = {
            "Action": "Add" if before is None else "Remove" if after is None else "Modify",
            "LogicalResourceId": logical_id,
            "ResourceType": (after or before or {})["Type"],
        }
        if before is not None and after is not None:
            change["Replacement"] = "Conditional"
        rows.append({"Type": "Resource", "ResourceChange": change})
    return rows


def _moto_domain_without_mappings(domain: str) -> None:
    """Work around moto: asked for a mapping of a domain that has none, moto fails with a
    500 (a KeyError inside), where API Gateway answers NotFoundException. The moto
    server runs in this process, so its backend is at hand."""
    from moto.apigateway.models import apigateway_backends

    apigateway_backends[ACCOUNT][REGION].base_path_mappings.setdefault(domain, {})


class StackMissing(Exception):
    """CloudFormation's ValidationError for a stack that does not exist."""
