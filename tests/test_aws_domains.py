"""Custom domains and base path mappings through API Gateway's API on a moto server."""

from __future__ import annotations

import pytest

from aws_fakes import aws_env, moto, moto_clients, moto_cloud, moto_endpoint  # noqa: F401
from teal.cloud.aws import AwsCloud, domain_stack_name, domain_template
from teal.cloud.base import BasePathMapping
from teal.project.config import DomainSpec
from teal.runtime.errors import ConfigError, OperationError

DOMAIN = "api.example.com"


def rest_api(cloud: AwsCloud, name: str, stage: str = "live") -> str:
    apigw = cloud.clients.apigateway
    api_id = apigw.create_rest_api(name=name)["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    apigw.create_deployment(restApiId=api_id, stageName=stage)
    return api_id


def domain(cloud: AwsCloud, tags: dict[str, str] | None = None) -> None:
    cloud.clients.apigateway.create_domain_name(
        domainName=DOMAIN,
        regionalCertificateArn="arn:aws:acm:us-east-1:123456789012:certificate/abc",
        endpointConfiguration={"types": ["REGIONAL"]},
        tags=tags or {},
    )


def test_get_domain_reads_its_url_and_tags(moto_cloud: AwsCloud) -> None:  # noqa: F811
    assert moto_cloud.get_domain(DOMAIN) is None
    domain(moto_cloud, {"teal:app": "blog"})
    info = moto_cloud.get_domain(DOMAIN)
    assert info is not None
    assert info.url == "https://api.example.com/"
    assert info.tags["teal:app"] == "blog"


def test_root_mapping_switch_and_rollback(moto_cloud: AwsCloud) -> None:  # noqa: F811
    domain(moto_cloud)
    blue, green = rest_api(moto_cloud, "blog-prod"), rest_api(moto_cloud, "blog-prod-2")
    # (moto answers 500, not 404, for a domain that never had a mapping: not asked here)
    moto_cloud.create_mapping(BasePathMapping(DOMAIN, "", blue, "live"))
    assert moto_cloud.get_mapping(DOMAIN, "") == BasePathMapping(DOMAIN, "", blue, "live")

    moto_cloud.update_mapping(BasePathMapping(DOMAIN, "", green, "live"))
    assert moto_cloud.get_mapping(DOMAIN, "") == BasePathMapping(DOMAIN, "", green, "live")

    moto_cloud.update_mapping(BasePathMapping(DOMAIN, "", blue, "live"))
    assert moto_cloud.get_mapping(DOMAIN, "") == BasePathMapping(DOMAIN, "", blue, "live")

    moto_cloud.delete_mapping(DOMAIN, "")
    assert moto_cloud.get_mapping(DOMAIN, "") is None
    moto_cloud.delete_mapping(DOMAIN, "")  # already gone: nothing to do


def test_mapping_under_a_base_path(moto_cloud: AwsCloud) -> None:  # noqa: F811
    domain(moto_cloud)
    api = rest_api(moto_cloud, "blog-prod", stage="v1stage")
    moto_cloud.create_mapping(BasePathMapping(DOMAIN, "v1", api, "v1stage"))
    assert moto_cloud.get_mapping(DOMAIN, "v1") == BasePathMapping(DOMAIN, "v1", api, "v1stage")
    assert moto_cloud.get_mapping(DOMAIN, "") is None


def test_a_second_mapping_on_the_same_base_path_is_refused(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    domain(moto_cloud)
    api = rest_api(moto_cloud, "blog-prod")
    moto_cloud.create_mapping(BasePathMapping(DOMAIN, "v1", api, "live"))
    with pytest.raises(OperationError, match="Base path already exists for this domain name"):
        moto_cloud.create_mapping(BasePathMapping(DOMAIN, "v1", api, "live"))


def test_switch_to_a_missing_api_is_refused_and_keeps_the_mapping(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    domain(moto_cloud)
    api = rest_api(moto_cloud, "blog-prod")
    moto_cloud.create_mapping(BasePathMapping(DOMAIN, "", api, "live"))
    with pytest.raises(OperationError, match="refused the mapping"):
        moto_cloud.update_mapping(BasePathMapping(DOMAIN, "", "nope123", "live"))
    assert moto_cloud.get_mapping(DOMAIN, "") == BasePathMapping(DOMAIN, "", api, "live")


def test_domain_stack_name_and_template() -> None:
    assert domain_stack_name("api.example.com") == "teal-domain-api-example-com"
    spec = DomainSpec(DOMAIN, certificate_arn="arn:aws:acm:x", hosted_zone="example.com")
    resources = domain_template(spec)["Resources"]
    props = resources["DomainName"]["Properties"]
    assert props["RegionalCertificateArn"] == "arn:aws:acm:x"
    assert props["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    alias = resources["AliasRecord"]["Properties"]
    assert alias["HostedZoneName"] == "example.com."
    assert alias["AliasTarget"]["DNSName"] == {"Fn::GetAtt": ["DomainName", "RegionalDomainName"]}
    assert (
        "AliasRecord" not in domain_template(DomainSpec(DOMAIN, certificate_arn="a"))["Resources"]
    )


def test_a_new_domain_without_certificate_is_a_config_error(
    moto_cloud: AwsCloud,  # noqa: F811
) -> None:
    with pytest.raises(ConfigError, match="needs an ACM certificate"):
        moto_cloud.ensure_domain(DomainSpec(DOMAIN), {"teal:app": "blog"})
