"""The README's Quick start, as the guide for a first hour asks: two shell blocks, the
first installing only what deploying needs, the second the tests' tools and the tests."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def quick_start_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


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
