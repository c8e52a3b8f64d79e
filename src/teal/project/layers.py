"""The dependency layer: a project's dependencies as a Lambda layer of their own.

One layer per (dependency pins, runtime, architecture): its artifact key
(``layers/<sha256>.zip``) is made of those three alone, so a deploy that
changes only code finds the layer already uploaded, leaves its
``AWS::Lambda::LayerVersion`` as it is, and uploads the code zip alone. Lambda
unpacks a layer in ``/opt`` and puts ``/opt/python`` on the path, so the
vendored folder goes under ``python/``.

Locally the layer is the folder the local cloud installs the dependencies in
for the runtime's Python (:func:`teal.project.runtimes.dependencies`), the
same key naming it in the template; on AWS it is the folder
:mod:`teal.project.vendor` installed for Lambda's platform, zipped here,
after a check that every compiled extension in it is built for the
architecture (an ELF header's machine field says which).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from teal.runtime.errors import PackageError

LAYER_PREFIX = "python/"  # where Lambda's Python runtimes import a layer's packages from
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
ELF_MAGIC = b"\x7fELF"
# e_machine of the ELF header, by Lambda's architecture names
ELF_MACHINES = {"x86_64": 62, "arm64": 183}
MACHINE_NAMES = {62: "x86-64", 183: "AArch64", 3: "x86", 40: "ARM"}


@dataclass(frozen=True)
class LayerPackage:
    """The dependency layer of one architecture: its key, and (on AWS) its zip."""

    architecture: str
    key: str
    data: bytes | None  # None locally: the installed folder is the layer there
    unzipped_size: int
    folder: Path  # the installed dependencies: for sizes and the report


def layer_key(pins_digest: str, runtime: str, architecture: str) -> str:
    """The layer's artifact key, from what makes it what it is (and nothing else)."""
    identity = f"{pins_digest}\0{runtime}\0{architecture}".encode()
    return f"layers/{hashlib.sha256(identity).hexdigest()}.zip"


def layer_logical_id(architecture: str, gen: str = "") -> str:
    """``DependencyLayer`` (x86_64) or ``DependencyLayerArm64``, with the API generation's
    suffix, so the functions of a retiring API keep the layer they were deployed with."""
    return f"DependencyLayer{'Arm64' if architecture == 'arm64' else ''}{gen}"


def layer_zip(entries: dict[str, Path]) -> bytes:
    """The dependencies' files (archive name -> file) under ``python/``, zipped the same
    way every time."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, path in sorted(entries.items()):
            if name.rsplit("/", 1)[-1].startswith(".teal-"):
                continue  # teal's marker of a finished install
            info = zipfile.ZipInfo(LAYER_PREFIX + name, FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def cached_zip(path: Path, build: Callable[[], bytes]) -> bytes:
    """The zip at ``path``, built and kept there the first time: zipping a layer of
    tens of MB took a second of every deploy, although its key says it is the same."""
    if path.is_file():
        return path.read_bytes()
    data = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_bytes(data)
    staging.replace(path)  # whole or not at all, for a reader in another process
    return data


def check_architecture(folder: Path, architecture: str) -> None:
    """Every ELF file under ``folder`` is built for ``architecture``: PackageError
    (exit 2) naming the first package holding one that is not."""
    wanted = ELF_MACHINES[architecture]
    for name, path in sorted(_files(folder, folder)):
        machine = elf_machine(path)
        if machine is not None and machine != wanted:
            built_for = MACHINE_NAMES.get(machine, f"machine {machine}")
            package = name.split("/", 1)[0]
            raise PackageError(
                f"{package} holds a compiled extension built for {built_for}, not for "
                f"{architecture}: {name}",
                where=package,
                hint=f"pin a version of {package} that publishes wheels for {architecture} "
                "Linux (manylinux), or leave [app] architecture at the other value",
            )


def elf_machine(path: Path) -> int | None:
    """The ELF header's machine field, None for a file that is not ELF."""
    with path.open("rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or not header.startswith(ELF_MAGIC):
        return None
    if header[5] == 1:  # EI_DATA: 1 little-endian, 2 big-endian
        return int.from_bytes(header[18:20], "little")
    return int.from_bytes(header[18:20], "big")


def _files(root: Path, folder: Path) -> Iterator[tuple[str, Path]]:
    """Archive name -> file, for every file under ``folder`` but teal's own markers."""
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            yield from _files(root, path)
        elif entry.is_file() and not entry.name.startswith(".teal-"):
            yield path.relative_to(root).as_posix(), path
