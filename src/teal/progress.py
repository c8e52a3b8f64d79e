"""How long operations tell their user what they are doing: one line at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable

Progress = Callable[[str], None]

# What the layers below the CLI tell the user once, without being asked and without it
# being a warning (the local gateway started in the background): the CLI prints these.
notices = logging.getLogger("teal.notices")


def quiet(_message: str) -> None:
    """Progress nobody listens to."""
