"""The README's Quick start, as the guide for a first hour asks: two shell blocks, the
first installing only what deploying needs, the second the tests' tools and the tests.
And the README stays a front page: what teal is, the Quick start, the blue-green story
and where to read on, with the rest in the documentation site (docs/, tests/test_docs.py)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MOST_LINES = 250


def quick_start_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def relative_links(text: str) -> list[str]:
    """The targets of the Markdown links that point into the repository."""
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_the_quick_start_has_two_shell_blocks() -> None:
    assert len(quick_start_blocks()) == 2


def test_the_first_block_installs_teal_without_the_development_tools() -> None:
    first, _ = quick_start_blocks()
    assert re.findall(r"pip install .*", first) == ["pip install -e ."]
    assert "teal deploy --project examples/blog" in first


def test_the_second_block_installs_the_test_tools_and_runs_the_tests() -> None:
    _, second = quick_start_blocks()
    assert "pip install -e '.[dev]'" in second
    assert "python -m pytest" in second


def test_the_readme_stays_a_front_page() -> None:
    """Past a few screens a newcomer loses the path from "what is it" to "my app is live":
    a topic of its own goes to a page of the documentation site."""
    count = len(README.read_text().splitlines())
    assert count <= MOST_LINES, f"README.md has {count} lines; move a topic into docs/"


def test_every_link_of_the_readme_reaches_a_file() -> None:
    targets = [t.partition("#")[0] for t in relative_links(README.read_text())]
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert missing == []


def test_the_readme_says_where_to_read_on_about_every_page() -> None:
    linked = {
        Path(t.partition("#")[0]).name
        for t in relative_links(README.read_text())
        if t.startswith("docs/")
    }
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    assert pages - linked == set()
