"""A custom domain shared by apps on AWS, checked against what the domain really maps
(GetBasePathMappings) and how it was made (GetDomainName), on a moto server."""

from __future__ import annotations

import json

import pytest

from aws_fakes import aws_env, moto, moto_clients, moto_cloud, moto_endpoint  # noqa: F401
from teal.cloud.aws import AwsCloud, domain_stack_name
from teal.cloud.base import BasePathMapping
from teal.ops.domains import DomainConflict, refuse_conflicts, view_domains
from teal.ops.environments import Pointing, read_domain
from teal.project.config import DomainSpec
from teal.runtime.errors import OperationError

DOMAIN = "api.example.test"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/one"


def rest_api(cloud: AwsCloud, name: str, stage: str = "prod") -> str:
    apigw = cloud.clients.apigateway
    api_id = apigw.create_rest_api(name=name)["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    apigw.create_deployment(restApiId=api_id, stageName=stage)
    return api_id


def environment_stack(cloud: AwsCloud, app: str, api_id: str) -> None:
    """An environment's stack as teal tags it, holding the API (its RestApiId output)."""
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"RestApiId": {"Value": api_id}, "StageName": {"Value": "prod"}},
    }
    cloud.clients.cloudformation.create_stack(
        StackName=f"{app}-prod",
        TemplateBody=json.dumps(template),
        Tags=[{"Key": "teal:app", "Value": app}, {"Key": "teal:env", "Value": "prod"}],
    )


def shared_domain(cloud: AwsCloud, endpoint: str = "REGIONAL") -> None:
    """blog and shop on one domain, /blog and /shop; made by blog."""
    cloud.clients.apigateway.create_domain_name(
        domainName=DOMAIN,
        regionalCertificateArn=CERT,
        endpointConfiguration={"types": [endpoint]},
        tags={"teal:app": "blog"},
    )
    for app in ("blog", "shop"):
        api_id = rest_api(cloud, f"{app}-prod")
        environment_stack(cloud, app, api_id)
        cloud.create_mapping(BasePathMapping(DOMAIN, app, api_id, "prod"))


def test_a_base_path_another_app_maps_is_refused(moto_cloud: AwsCloud) -> None:  # noqa: F811
    shared_domain(moto_cloud)
    state = read_domain(moto_cloud, "thief", DomainSpec(DOMAIN, "shop"))
    assert state.pointing is Pointing.FOREIGN
    with pytest.raises(DomainConflict) as refused:
        refuse_conflicts(moto_cloud, "thief", state)
    assert "base path /shop" in refused.value.what
    assert "app shop (environment shop-prod)" in refused.value.what
    # the app that made the domain does not own the other apps' base paths either
    made_it = read_domain(moto_cloud, "blog", DomainSpec(DOMAIN, "shop"))
    assert made_it.pointing is Pointing.FOREIGN
    with pytest.raises(DomainConflict, match="app shop"):
        refuse_conflicts(moto_cloud, "blog", made_it)
    # a free base path, and an app's own one, are fine
    refuse_conflicts(
        moto_cloud, "cart", read_domain(moto_cloud, "cart", DomainSpec(DOMAIN, "cart"))
    )
    refuse_conflicts(
        moto_cloud, "shop", read_domain(moto_cloud, "shop", DomainSpec(DOMAIN, "shop"))
    )


def test_another_certificate_is_refused(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    shared_domain(moto_cloud)
    other = DomainSpec(DOMAIN, "cart", certificate_arn=CERT.replace("one", "two"))
    with pytest.raises(DomainConflict) as refused:
        refuse_conflicts(moto_cloud, "cart", read_domain(moto_cloud, "cart", other))
    assert "made by app blog" in refused.value.what and CERT in refused.value.what
    same = DomainSpec(DOMAIN, "cart", certificate_arn=CERT)
    refuse_conflicts(moto_cloud, "cart", read_domain(moto_cloud, "cart", same))


def test_an_edge_domain_is_refused(moto_cloud: AwsCloud) -> None:  # noqa: F811
    shared_domain(moto_cloud, endpoint="EDGE")
    state = read_domain(moto_cloud, "cart", DomainSpec(DOMAIN, "cart"))
    with pytest.raises(DomainConflict, match="EDGE"):
        refuse_conflicts(moto_cloud, "cart", state)


def test_every_mapping_of_the_domain_is_listed_with_its_app(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    shared_domain(moto_cloud)
    mappings = moto_cloud.list_mappings(DOMAIN)
    assert [m.base_path for m in mappings] == ["blog", "shop"]
    (view,) = view_domains(moto_cloud)
    assert view.apps == ("blog", "shop")
    rows = [m.to_json() for m in view.mappings]
    assert [(r["base_path"], r["app"], r["environment"]) for r in rows] == [
        ("/blog", "blog", "blog-prod"),
        ("/shop", "shop", "shop-prod"),
    ]


def test_deleting_a_domain_deletes_its_stack_and_refuses_one_teal_did_not_make(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    shared_domain(moto_cloud)
    with pytest.raises(OperationError, match="was not made by teal"):
        moto_cloud.delete_domain(DOMAIN, lambda _event: None)
    cfn = moto_cloud.clients.cloudformation
    cfn.create_stack(
        StackName=domain_stack_name(DOMAIN),
        TemplateBody=json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}),
        Tags=[{"Key": "teal:app", "Value": "blog"}, {"Key": "teal:domain", "Value": DOMAIN}],
    )
    moto_cloud.delete_domain(DOMAIN, lambda _event: None)
    stacks = cfn.describe_stacks()["Stacks"]
    live = [s["StackName"] for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
    assert domain_stack_name(DOMAIN) not in live
    moto_cloud.delete_domain("nothing.example.test", lambda _event: None)  # nothing to do
