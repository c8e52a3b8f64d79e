"""Lambda's limits on what a function carries, checked before anything is uploaded.

- **250 MB unzipped**: a function's code and all its layers together (the
  dependency layer counted by its installed files; a layer of your own, given
  by ARN, is not teal's to measure);
- **5 layers** a function: the dependency layer and those of ``[functions.NAME]
  layers``;
- 50 MB zipped holds for a direct upload only: teal always hands Lambda its
  code and layers through the artifact bucket, where the unzipped limit is
  the one that counts.

Past one, teal exits 2 with the total, the limit, and the five largest
packages with their sizes, so the fix is plain.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from teal.project import config
from teal.project.config import FunctionSettings
from teal.project.vendor import folder_size
from teal.runtime.errors import PackageError

UNZIPPED_LIMIT = 250 * 1024 * 1024
LAYERS_LIMIT = config.LAYERS_LIMIT  # the dependency layer and [functions.NAME] layers
SHOWN = 5  # the largest packages an error names
_MB = 1024 * 1024
YOUR_CODE = "your code"


@dataclass(frozen=True)
class Part:
    """One package (or the app's own code) and the bytes it takes unzipped."""

    name: str
    size: int


def parts_of(folder: Path) -> list[Part]:
    """The packages of an installed folder, by the top-level entry they install
    (``numpy/``, ``numpy.libs/``, ``six.py``): what it holds, file by file."""
    parts: list[Part] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue  # the installer's lock, teal's marker: not a package
            if entry.is_dir(follow_symlinks=False):
                parts.append(Part(entry.name + "/", folder_size(Path(entry.path))))
            elif entry.is_file():
                parts.append(Part(entry.name, entry.stat().st_size))
    return parts


def check_unzipped(code_size: int, dependency_parts: Sequence[Part], *, where: str) -> None:
    """A function's code and its dependency layer fit in Lambda's 250 MB."""
    parts = [Part(YOUR_CODE, code_size), *dependency_parts]
    total = sum(part.size for part in parts)
    if total <= UNZIPPED_LIMIT:
        return
    largest = sorted(parts, key=lambda part: (-part.size, part.name))[:SHOWN]
    named = ", ".join(f"{part.name} {part.size / _MB:.1f} MB" for part in largest)
    raise PackageError(
        f"the function and its layers would be {total / _MB:.1f} MB unzipped, over "
        f"Lambda's limit of {UNZIPPED_LIMIT // _MB} MB; the largest: {named}",
        where=where,
        hint="drop or replace the largest dependencies, or keep large data in S3; teal "
        "already leaves out __pycache__, *.pyc and tests/ folders, and what is left "
        "of your own files can go too: [app] exclude (docs, fixtures, notebooks)",
    )


def check_layer_count(
    functions: Mapping[str, FunctionSettings], dependency_layer: bool, *, where: str
) -> None:
    """No function has more than Lambda's 5 layers, the dependency layer counted."""
    ours = 1 if dependency_layer else 0
    for name, settings in sorted(functions.items()):
        count = len(settings.layers) + ours
        if count > LAYERS_LIMIT:
            raise PackageError(
                f"function {name} would have {count} layers ({len(settings.layers)} of "
                f"[functions.{name}] layers and teal's dependency layer), over Lambda's "
                f"limit of {LAYERS_LIMIT}",
                where=where.format(name=name),
                hint=f"list at most {LAYERS_LIMIT - ours} layers there, or move one "
                "layer's packages into the project's dependencies",
            )
