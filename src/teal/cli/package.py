"""``teal package``: what goes into the code zip, and a folder a pipeline can deploy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
from rich.markup import escape

from teal.cli.common import console, emit_json, load_target, progress, target_options
from teal.ops.export import export
from teal.project.exclusions import Exclusion
from teal.project.package import select_files
from teal.project.settings import teal_home


@click.command(name="package")
@target_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write template.json, the nested templates, the code zip, the dependency layer's "
    "zip and manifest.json here "
    "(default: teal-package/ in the project, which is never packaged itself).",
)
@click.option(
    "--list",
    "list_files",
    is_flag=True,
    help="Only list the project files that go into the code zip, and those left out "
    "(teal.toml, .gitignore, teal's defaults, .tealignore, [app] exclude), and write nothing.",
)
def package_command(
    *,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    out: Path | None,
    list_files: bool,
) -> None:
    """Write the environment's CloudFormation templates, code zip and a manifest, ready for
    `aws cloudformation package` and `aws cloudformation deploy` (no teal needed there).

    The dependencies are vendored for Lambda's platform into the dependency layer's
    zip, as a deploy to AWS does. Both forms say what of the project was left out of
    the code zip, and by which rule.
    """
    _, target = load_target(project, env, extra, cloud)
    if list_files:
        selected = select_files(target.project_dir, (teal_home(),), target.exclude)
        sizes = {name: path.stat().st_size for name, path in selected.files.items()}
        if as_json:
            files = [{"path": n, "bytes": b} for n, b in sorted(sizes.items())]
            excluded = [item.to_json() for item in selected.excluded]
            emit_json({"files": files, "excluded": excluded})
            return
        for name, size in sorted(sizes.items()):
            console.print(f"{size:>10,}  {escape(name)}")
        console.print(f"{len(sizes)} files, {sum(sizes.values()):,} bytes")
        _print_excluded(selected.excluded)
        return
    exported = export(target, out or target.project_dir / "teal-package", progress)
    if as_json:
        emit_json(exported.to_json())
        return
    console.print(f"[bold green]✔[/] {exported.stack}: wrote {escape(str(exported.out))}")
    for relative in (*exported.templates, *exported.artifacts, "manifest.json"):
        console.print(f"  {escape(relative)}")
    _print_excluded(exported.excluded)
    console.print("deploy it without teal:")
    for command in exported.manifest["deploy"]:
        console.print(f"  (cd {escape(str(exported.out))} && {escape(command)})")


def _print_excluded(excluded: Sequence[Exclusion]) -> None:
    """What the zip leaves out, a folder once, with the rule that decided."""
    if not excluded:
        return
    console.print(f"left out of the code zip ({len(excluded)}):")
    width = max(len(item.path) for item in excluded)
    for item in excluded:
        console.print(f"  {escape(item.path.ljust(width))}  {escape(item.describe())}")


def register(group: click.Group) -> None:
    group.add_command(package_command)
