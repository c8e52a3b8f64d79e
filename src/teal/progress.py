"""How long operations tell their user what they are doing: one line at a time."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


def quiet(_message: str) -> None:
    """Progress nobody listens to."""
