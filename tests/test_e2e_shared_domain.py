"""Apps sharing one custom domain by base path on the local cloud: a taken base path and
contradicting settings are refused before anything is created, every app sees who serves
what, and one app's watched switch never blocks another's deploy."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e import EXAMPLE_BLOG, LocalCloudEnv, SteadyClient, free_port, get, rename_id_to_post_id

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
    shop.teal_ok("deploy", "--extra", "2")
    shop.teal_ok("preview", "--to", "2")
    before = shop.teal_ok("status", "--json").json()
    _sees_who_serves_what(blog)

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


def _sees_who_serves_what(blog: LocalCloudEnv) -> None:
    """Each app's status lists every base path of its domain; teal domains lists them all."""
    (domain,) = blog.teal_ok("status", "--json").json()["domains"]
    rows = [(m["base_path"], m["app"], m["environment"], m["preview"]) for m in domain["mappings"]]
    assert rows == [
        ("/blog", "blog", "blog-dev", None),
        ("/shop", "shop", "shop-dev", "shop-dev-2"),  # shop previews its copy
    ]
    assert all(m["api_id"] and m["stage"] == "dev" for m in domain["mappings"])
    text = blog.teal_ok("status").out
    assert "/shop → shop-dev (app shop, API" in text and "/blog → blog-dev (app blog" in text
    assert "previews shop-dev-2" in text
    (listed,) = blog.teal_ok("domains", "--json").json()["domains"]
    assert listed["name"] == DOMAIN and listed["apps"] == ["blog", "shop"]
    assert listed["mappings"] == domain["mappings"]
    assert "(apps: blog, shop)" in blog.teal_ok("domains").out


def test_a_replacement_in_one_app_during_a_watched_switch_in_another(
    apps: dict[str, LocalCloudEnv],
) -> None:
    """shop watches its switch for 40 s while blog's deploy replaces blog's API: both
    succeed, and steady clients of both base paths see no failed request."""
    blog, shop = apps["blog"], apps["shop"]
    url = blog.teal_ok("deploy", "--json").json()["domain"]["url"].removesuffix("blog/")
    shop.teal_ok("deploy")
    shop.edit_app('VERSION = "1"', 'VERSION = "2"')
    shop.teal_ok("deploy", "--extra", "2")
    with (
        SteadyClient(url + "blog/health") as blog_client,
        SteadyClient(url + "shop/health") as shop_client,
    ):
        command = [sys.executable, "-m", "teal", "switch", "--to", "2", "--watch", "40s"]
        watching = subprocess.Popen(
            [*command, "--json", "--project", str(shop.project)],
            env=shop.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for_lock(shop, f"domain:{DOMAIN}%", watching)  # the watch holds it
            rename_id_to_post_id(blog)  # an API replacement, automated ("auto")
            replaced = blog.teal("deploy", "--json")
            assert watching.poll() is None, "shop's watch must still be running"
        finally:
            out, err = watching.communicate(timeout=120)
    assert replaced.code == 0, replaced.err
    assert replaced.json()["api_replaced"] is True
    assert watching.returncode == 0, err
    assert json.loads(out)["watch"]["verdict"] == "held"
    print(f"blog: {blog_client.sent} requests, shop: {shop_client.sent} requests")
    assert blog_client.sent > 20 and shop_client.sent > 20
    assert blog_client.failures == [] and shop_client.failures == []
    versions = {json.loads(body)["version"] for body in blog_client.bodies}
    assert versions == {"1", "2"}  # blog's clients moved to the new API without a gap


def _wait_for_lock(cloud: LocalCloudEnv, key: str, process: subprocess.Popen[str]) -> None:
    """Until a lock whose key is like ``key`` is held."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with sqlite3.connect(f"file:{cloud.home / 'state.db'}?mode=ro", uri=True) as conn:
            if conn.execute("SELECT 1 FROM locks WHERE key LIKE ?", (key,)).fetchone():
                return
        time.sleep(0.05)
    raise AssertionError(f"{key} was never locked: {process.poll()}")


def test_deleting_an_apps_last_environment_removes_its_mapping_only(
    apps: dict[str, LocalCloudEnv],
) -> None:
    blog, shop = apps["blog"], apps["shop"]
    url = blog.teal_ok("deploy", "--json").json()["domain"]["url"].removesuffix("blog/")
    shop.teal_ok("deploy")
    shop.teal_ok("delete", "--force", "--yes")  # shop's last environment, live
    (domain,) = blog.teal_ok("domains", "--json").json()["domains"]
    assert [(m["base_path"], m["app"]) for m in domain["mappings"]] == [("/blog", "blog")]
    assert get(url + "blog/health")[0] == 200
    gone = get(url + "shop/health")
    assert gone[0] == 403, gone  # nobody maps it: API Gateway's answer

    refused = blog.teal("domain", "delete", DOMAIN, "--yes", "--json")
    assert refused.code == 1, refused.err
    error = refused.json()["error"]
    assert "still maps /blog (app blog, environment blog-dev)" in error["what"]
    assert get(url + "blog/health")[0] == 200

    blog.teal_ok("delete", "--force", "--yes")
    assert blog.teal_ok("domain", "delete", DOMAIN, "--yes", "--json").json()["deleted"] is True
    assert blog.teal_ok("domains", "--json").json()["domains"] == []
    missing = blog.teal("domain", "delete", DOMAIN, "--yes", "--json")
    assert missing.code == 2 and "no custom domain" in missing.json()["error"]["what"]
    # the next deploy makes the domain again
    again = blog.teal_ok("deploy", "--json").json()["domain"]
    assert again["live"] == "blog-dev"
    status, body = get(again["url"] + "health")
    assert status == 200 and '"ok"' in body
