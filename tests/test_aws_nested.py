"""The bundle of a stack's nested templates, in the artifacts bucket on a moto server."""

from __future__ import annotations

from typing import Any

from aws_fakes import aws_env, moto, moto_clients, moto_endpoint  # noqa: F401
from teal.cloud.aws.artifacts import ArtifactBucket, bucket_name
from teal.cloud.aws.nested import NestedBundles, bundle_key
from teal.cloud.aws.retry import Retrier
from teal.cloud.aws.session import AwsClients
from teal.template.combine import template_bytes

PAGE_A: dict[str, Any] = {"Resources": {"A": {"Type": "AWS::ApiGateway::Resource"}}}
PAGE_B: dict[str, Any] = {"Resources": {"B": {"Type": "AWS::ApiGateway::Method"}}}


def main_template(**pages: str) -> dict[str, Any]:
    url = "https://${ArtifactBucket}.s3.${AWS::Region}.amazonaws.com/"
    return {
        "Resources": {
            logical_id: {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": {"Fn::Sub": url + key}},
            }
            for logical_id, key in pages.items()
        }
    }


def bundles(clients: AwsClients) -> tuple[NestedBundles, ArtifactBucket]:
    retry = Retrier()
    bucket = ArtifactBucket(
        clients.s3,
        bucket_name(clients.account_id, clients.region),
        clients.region,
        clients.endpoint_url,
        retry,
    )
    return NestedBundles(clients.s3, bucket, retry), bucket


def test_a_bundle_holds_uploaded_and_earlier_pages_by_logical_id(
    moto: str,  # noqa: F811
    moto_clients: AwsClients,  # noqa: F811
) -> None:
    nested, bucket = bundles(moto_clients)
    bucket.put("templates/b.json", template_bytes(PAGE_B))  # from an earlier deploy
    nested.remember("templates/a.json", template_bytes(PAGE_A))  # uploaded by this one
    bucket.put("templates/a.json", template_bytes(PAGE_A))
    template = main_template(PageA="templates/a.json", PageB="templates/b.json")

    assert nested.read(template) is None
    nested.write(template)

    assert nested.read(template) == {"PageA": PAGE_A, "PageB": PAGE_B}
    assert bucket.has(str(bundle_key(template)))


def test_no_bundle_is_written_while_a_page_is_missing(
    moto: str,  # noqa: F811
    moto_clients: AwsClients,  # noqa: F811
) -> None:
    nested, _ = bundles(moto_clients)
    template = main_template(PageA="templates/missing.json")
    nested.write(template)
    assert nested.read(template) is None


def test_the_bundle_key_follows_the_page_keys() -> None:
    one = main_template(PageA="templates/a.json")
    assert bundle_key(one) == bundle_key(main_template(PageA="templates/a.json"))
    assert bundle_key(one) != bundle_key(main_template(PageA="templates/b.json"))
    assert bundle_key({"Resources": {}}) is None
    foreign = {"Resources": {"X": {"Type": "AWS::CloudFormation::Stack", "Properties": {}}}}
    assert bundle_key(foreign) is None
