"""Folders built once and shared: installed requirements, links, teal's shim.

A folder is built in a staging folder beside its final place, marked complete,
then renamed into place, so a reader sees a whole folder or none; when two
processes build the same folder at once, the first rename wins and the other
discards its copy. A folder left half-made by a killed builder (no marker) is
built again.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

MARKER = ".teal-complete"


def built_once(final: Path, build: Callable[[Path], None], *, marker: str = MARKER) -> Path:
    """``final``, made by ``build`` (which fills the empty folder it is given) unless
    it is there already."""
    if (final / marker).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        build(staging)
        (staging / marker).write_text("")
        _publish(staging, final, marker)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _publish(staging: Path, final: Path, marker: str) -> None:
    if (final / marker).is_file():  # another process was quicker
        return
    if final.exists():  # left half-made by an interrupted run
        shutil.rmtree(final, ignore_errors=True)
    try:
        staging.rename(final)
    except OSError:
        if not (final / marker).is_file():
            raise
