"""Progress output on stderr: stack events, steps and warnings."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.markup import escape

from teal.cloud.base import StackEvent


class EventPrinter:
    """Prints stack events as they come: failures always, the rest when verbose.

    Without ``verbose`` a stack-level line is printed per phase, so a deploy of
    a thousand routes stays readable.
    """

    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        self.counts: Counter[str] = Counter()

    def __call__(self, event: StackEvent) -> None:
        self.counts[event.status] += 1
        is_stack = event.resource_type == "AWS::CloudFormation::Stack" and (
            event.logical_id == event.stack_name
        )
        if not (self.verbose or event.failed or is_stack):
            return
        style = "red" if event.failed else ("cyan" if is_stack else "dim")
        reason = (
            f"  {escape(event.reason)}" if event.reason and (event.failed or self.verbose) else ""
        )
        self.console.print(
            f"  [{style}]{event.timestamp:%H:%M:%S} {event.status:<38}[/] "
            f"{escape(event.resource_type)} {escape(event.logical_id)}{reason}"
        )


def step(console: Console, message: str) -> None:
    console.print(f"[bold]»[/] {escape(message)}")


def warn(console: Console, message: str) -> None:
    console.print(f"[bold yellow]warning:[/] {escape(message)}")
