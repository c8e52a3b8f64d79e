"""Apps sharing one custom domain by base path on the local cloud: a taken base path and
contradicting settings are refused before anything is created, every app sees who serves
what, and one app's watched switch never blocks another's deploy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e import EXAMPLE_BLOG, LocalCloudEnv, free_port, get

DOMAIN = "api.example.test"


def app_project(root: Path, app: str, base_path: str, domain_extra: str = "") -> Path:
    """The blog example as app ``app``, mapped under ``base_path`` of the shared domain."""
    project = root / app
    shutil.copytree(EXAMPLE_BLOG, project)
    toml = project / "teal.toml"
    text = toml.read_text().replace('name = "blog"', f'name = "{app}"', 1)
    domain = f'name = "{DOMAIN}"\nbase_path = "{base_path}"\n{domain_extra}'
    toml.write_text(text.replace('name = "blog.example.com"\n', domain, 1))
    return project


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[dict[str, LocalCloudEnv]]:
    """Three apps in one private local cloud: blog and shop share the domain."""
    home, port = tmp_path / "teal-home", free_port()
    clouds = {
        name: LocalCloudEnv(home, port, app_project(tmp_path, name, name))
        for name in ("blog", "shop")
    }
    yield clouds
    clouds["blog"].teal("local", "stop")


def test_a_taken_base_path_is_refused_and_the_holder_is_unchanged(
    apps: dict[str, LocalCloudEnv], tmp_path: Path
) -> None:
    blog, shop = apps["blog"], apps["shop"]
    blog.teal_ok("deploy")
    shop.teal_ok("deploy")
    before = shop.teal_ok("status", "--json").json()

    thief = LocalCloudEnv(blog.home, blog.port, app_project(tmp_path, "thief", "shop"))
    refused = thief.teal("deploy", "--json")
    assert refused.code == 2, refused.err
    error = refused.json()["error"]
    assert "base path /shop" in error["what"] and "app shop (environment shop-dev)" in error["what"]
    assert "base_path" in error["hint"]
    planned = thief.teal("plan", "--json")  # plan refuses it as deploy does
    assert planned.code == 2 and "app shop" in planned.json()["error"]["what"]
    # nothing was created for the refused app, and the holder is as it was
    assert thief.teal_ok("status", "--json").json()["environments"] == []
    after = shop.teal_ok("status", "--json").json()
    assert after["environments"] == before["environments"]
    assert after["domains"] == before["domains"]
    status, body = get(before["domains"][0]["url"] + "health")
    assert status == 200 and '"ok"' in body


def test_contradicting_domain_settings_are_refused(
    apps: dict[str, LocalCloudEnv], tmp_path: Path
) -> None:
    blog = apps["blog"]
    cert = 'certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/one"\n'
    other_cert = 'certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/two"\n'
    first = LocalCloudEnv(blog.home, blog.port, app_project(tmp_path, "first", "first", cert))
    first.teal_ok("deploy")
    second = LocalCloudEnv(
        blog.home, blog.port, app_project(tmp_path, "second", "second", other_cert)
    )
    refused = second.teal("deploy", "--json")
    assert refused.code == 2, refused.err
    error = refused.json()["error"]
    assert "made by app first" in error["what"] and "certificate/one" in error["what"]
    assert "certificate_arn" in error["where"]
    assert second.teal_ok("status", "--json").json()["environments"] == []
    # the same certificate (or none at all) shares the domain
    zone = 'hosted_zone = "example.test"\n'
    third = LocalCloudEnv(blog.home, blog.port, app_project(tmp_path, "third", "third", zone))
    third.teal_ok("deploy")
    other_zone = 'hosted_zone = "other.test"\n'
    fourth = LocalCloudEnv(
        blog.home, blog.port, app_project(tmp_path, "fourth", "fourth", other_zone)
    )
    zoned = fourth.teal("deploy", "--json")
    assert zoned.code == 2 and "hosted zone example.test" in zoned.json()["error"]["what"]
