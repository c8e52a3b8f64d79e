"""The web console in a real headless Chromium (Debian's, driven by Playwright), against a
private local cloud with the blog deployed twice: blog-dev and blog-dev-2."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from e2e import EXAMPLE_BLOG, LocalCloudEnv, free_port, get

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000

# CI sets TEAL_BROWSER_TESTS=required: there a missing chromium fails the run, never skips it
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("TEAL_BROWSER_TESTS") != "required",
    reason="Debian's chromium is not installed (apt-get install chromium); .ci/run installs it",
)

FAILING_ROUTE = """

@app.route("/boom")
def boom(request):
    raise RuntimeError("the console shows this traceback")
"""


@pytest.fixture(scope="module")
def blog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudEnv]:
    """blog-dev (version 1, live) and blog-dev-2 (version 2), one failed request."""
    root = tmp_path_factory.mktemp("console")
    project = root / "blog"
    shutil.copytree(EXAMPLE_BLOG, project)
    with (project / "app.py").open("a") as app:
        app.write(FAILING_ROUTE)
    cloud = LocalCloudEnv(root / "teal-home", free_port(), project)
    try:
        cloud.teal_ok("deploy")
        cloud.edit_app('VERSION = "1"', 'VERSION = "2"')
        cloud.teal_ok("deploy", "--extra", "2")
        yield cloud
    finally:
        cloud.teal("local", "stop")


@pytest.fixture(scope="module")
def console_url(blog: LocalCloudEnv) -> str:
    return str(blog.teal_ok("console", "--json").json()["url"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, console_url: str) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    opened.goto(console_url)
    yield opened
    context.close()


def status_of(blog: LocalCloudEnv) -> dict[str, Any]:
    answer: dict[str, Any] = blog.teal_ok("status", "--json").json()
    return answer


def live_and_other(blog: LocalCloudEnv) -> tuple[str, str, str]:
    """(the live environment, the other one, the domain's URL)."""
    [domain] = status_of(blog)["domains"]
    other = "blog-dev-2" if domain["live"] == "blog-dev" else "blog-dev"
    return domain["live"], other, domain["url"]


def served_by(url: str, headers: dict[str, str] | None = None) -> str:
    """The environment that answers the domain (every function stamps its answers)."""
    request = urllib.request.Request(url + "health", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["X-Teal-Environment"])


def open_app(page: Page) -> None:
    page.get_by_role("link", name="blog", exact=True).first.click()
    page.wait_for_selector("table.environments")


def test_the_page_lists_the_environments_and_the_live_one(blog: LocalCloudEnv, page: Page) -> None:
    assert "token=" not in page.url  # the token went into a cookie
    open_app(page)
    rows = page.locator("table.environments tbody tr")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.environment)") == [
        "blog-dev",
        "blog-dev-2",
    ]
    live, other, _ = live_and_other(blog)
    live_row = page.locator(f'tr[data-environment="{live}"]')
    assert live_row.locator(".badge.live").inner_text() == "live on blog.example.com"
    assert page.locator(f'tr[data-environment="{other}"] .badge.live').count() == 0
    assert page.locator('tr[data-domain="blog.example.com"] .serves').inner_text() == live


def test_a_switch_done_in_the_cli_appears_without_reload(blog: LocalCloudEnv, page: Page) -> None:
    open_app(page)
    page.evaluate("window.sameDocument = true")
    _, other, _ = live_and_other(blog)
    blog.teal_ok("switch", "--to", other)
    page.locator(f'tr[data-environment="{other}"] .badge.live').wait_for()
    serves = page.locator('tr[data-domain="blog.example.com"] .serves')
    assert serves.inner_text() == other
    assert page.evaluate("window.sameDocument") is True  # no reload happened


def test_a_switch_done_on_the_page_changes_the_domain(blog: LocalCloudEnv, page: Page) -> None:
    open_app(page)
    live, other, url = live_and_other(blog)
    assert served_by(url) == live
    row = page.locator(f'tr[data-environment="{other}"]')
    row.get_by_role("link", name="Switch blog.example.com here").click()
    assert f"at {other}" in page.locator("p.sentence").inner_text()
    page.get_by_role("button", name="Confirm: switch").click()
    page.locator("[data-final]").wait_for()  # the action ended
    job = page.locator("#job-live").inner_text()
    assert page.locator("p.state").inner_text() == "done", job
    assert f"blog.example.com → {other}" in page.locator("p.result").inner_text()
    assert served_by(url) == other  # checked through HTTP, at the domain
    history = status_of(blog)["history"][-1]
    assert (history["action"], history["from"], history["to"], history["state"]) == (
        "switch",
        live,
        other,
        "done",
    )


def test_a_rollback_done_on_the_page_goes_back(blog: LocalCloudEnv, page: Page) -> None:
    live, other, url = live_and_other(blog)
    blog.teal_ok("switch", "--to", other)
    open_app(page)
    page.get_by_role("link", name=f"Roll back to {live}").click()
    page.get_by_role("button", name="Confirm: roll back").click()
    page.locator("[data-final]").wait_for()
    assert page.locator("p.state").inner_text() == "done", page.locator("#job-live").inner_text()
    assert served_by(url) == live
    assert status_of(blog)["history"][-1]["action"] == "rollback"


def test_a_preview_set_and_ended_on_the_page_routes_only_header_requests(
    blog: LocalCloudEnv, page: Page
) -> None:
    live, other, url = live_and_other(blog)
    open_app(page)
    row = page.locator(f'tr[data-environment="{other}"]')
    row.get_by_role("link", name="Preview on blog.example.com").click()
    page.get_by_role("button", name="Confirm: preview").click()
    page.locator("[data-final]").wait_for()
    assert page.locator("p.state").inner_text() == "done", page.locator("#job-live").inner_text()
    [domain] = status_of(blog)["domains"]
    name, _, value = domain["preview"]["header"].partition(": ")  # teal-preview: <extra>
    header = {name: value}
    assert domain["preview"]["environment"] == other
    assert served_by(url, header) == other  # checked through HTTP, at the domain
    assert served_by(url) == live
    open_app(page)
    assert page.locator('tr[data-domain="blog.example.com"] td.preview').inner_text() == other
    page.get_by_role("link", name="End the preview").click()
    page.get_by_role("button", name="Confirm: end the preview").click()
    page.locator("[data-final]").wait_for()
    assert page.locator("p.state").inner_text() == "done", page.locator("#job-live").inner_text()
    assert served_by(url, header) == live
    assert status_of(blog)["domains"][0]["preview"] is None


def test_a_failed_requests_traceback_is_reachable(blog: LocalCloudEnv, page: Page) -> None:
    endpoint = next(
        e["endpoint"] for e in status_of(blog)["environments"] if e["name"] == "blog-dev"
    )
    status, _ = get(endpoint + "boom")
    assert status >= 500
    open_app(page)
    page.get_by_role("link", name="blog-dev", exact=True).click()
    page.get_by_role("link", name="boom").first.click()
    failure = page.locator("a.failure").first
    assert "RuntimeError: the console shows this traceback" in failure.inner_text()
    traceback = page.locator("details.request.failed pre").first
    assert not traceback.is_visible()
    failure.click()  # one click away: the page opens it on the hash change, a moment later
    traceback.wait_for(state="visible", timeout=WAIT_MS)
    text = traceback.inner_text()
    assert "Traceback (most recent call last):" in text
    assert 'raise RuntimeError("the console shows this traceback")' in text


def test_a_request_without_the_token_is_refused(browser: Browser, console_url: str) -> None:
    bare = console_url.split("?", 1)[0]
    context = browser.new_context()
    try:
        answer = context.new_page().goto(bare)
        assert answer is not None and answer.status == 403
        assert "teal console" in answer.text()
    finally:
        context.close()
    status, _ = get(bare)
    assert status == 403
    form = b"app=blog&domain=blog.example.com&to=blog-dev"
    request = urllib.request.Request(bare + "actions/switch", data=form, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


def test_the_route_table_and_the_history_have_pages_of_their_own(page: Page) -> None:
    open_app(page)
    page.get_by_role("link", name="route table").click()
    boom = page.locator("table.routes tbody tr", has_text="/boom")
    assert boom.locator("td").all_inner_texts() == ["/boom", "GET", "boom", "boom"]
    assert page.locator("table.routes thead").inner_text().count("blog-dev") == 2
    said = page.locator("section#plan-blog-dev").inner_text()  # what teal deploy acted on
    assert "teal deploy" in said and "action" in said
    page.go_back()
    page.get_by_role("link", name="whole history").click()
    actions = page.locator("table.history tbody tr td:nth-child(3)").all_inner_texts()
    assert actions.count("deploy") == 2
