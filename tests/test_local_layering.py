"""The local cloud's modules import one another in layers: no circle, the engine on top.

Every import counts, wherever it is written: at the top of a module, inside
a function, or under ``TYPE_CHECKING``, since any of them ties the two
modules together as much as the others.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import teal

SOURCE = Path(teal.__file__).resolve().parent.parent
LOCAL = "teal.cloud.local"


def module_files() -> dict[str, Path]:
    """Every module of the local cloud, by its dotted name (a package by its own)."""
    found = {}
    for path in (SOURCE / LOCAL.replace(".", "/")).rglob("*.py"):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, modules: set[str]) -> Iterator[str]:
    """The modules ``name`` imports anywhere in its file; ``from a import b`` is ``a.b``
    when that is a module, else ``a``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                inner = f"{base}.{alias.name}"
                yield inner if inner in modules else base


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    names = set(files)
    return {
        name: {target for target in imported(name, path, names) if target in names} - {name}
        for name, path in files.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as the path that closes it."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(name: str, path: list[str]) -> None:
        for target in sorted(graph[name]):
            if target in path:
                circle = path[path.index(target) :]
                if not any(set(circle) == set(known) for known in found):
                    found.append([*circle, target])
            elif target not in done:
                walk(target, [*path, target])
        done.add(name)

    for start in sorted(graph):
        if start not in done:
            walk(start, [start])
    return found


def test_the_local_cloud_has_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_only_the_layer_above_imports_the_engine() -> None:
    """Nested stacks reach the engine through the ChildStacks it is, passed in: no import."""
    graph = import_graph()
    importers = {name for name, targets in graph.items() if f"{LOCAL}.engine" in targets}
    assert importers == {f"{LOCAL}.cloud"}


def test_a_circle_is_found_wherever_its_imports_are_written(tmp_path: Path) -> None:
    """The check itself: a circle closed inside a function and under TYPE_CHECKING is seen."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c", "a"]]
    late = tmp_path / "late.py"
    late.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from teal.cloud.local import engine\n"
        "def f():\n    from teal.cloud.local.ledger import Ledger\n"
    )
    modules = {f"{LOCAL}.engine", f"{LOCAL}.ledger"}
    assert set(imported(f"{LOCAL}.late", late, modules)) == {"typing", *modules}
