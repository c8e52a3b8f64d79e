"""Progress output on stderr: steps, stack events and warnings, live on a terminal."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from teal.cloud.base import StackEvent

HEARTBEAT_S = 15.0  # piped output: a line at least this often while a stack changes
SHOWN_RESOURCES = 8  # live table rows: the resources that moved last

_DONE = ("_COMPLETE", "_FAILED", "_SKIPPED")


@dataclass
class _Stack:
    """What the events said of one stack's resources so far."""

    statuses: dict[str, str] = field(default_factory=dict)  # logical id -> last status
    types: dict[str, str] = field(default_factory=dict)

    def done(self) -> int:
        return sum(1 for status in self.statuses.values() if status.endswith(_DONE))


class Activity:
    """What a command is doing, on stderr.

    Every step, every failed event and every stack-level event is a line. On a
    terminal a live footer under those lines shows the current step and how
    long it has taken, and during a stack operation the resources done so
    far with the latest of them, as CloudFormation's console shows its
    events; a nested stack (a page of API resources) is one row. Piped, as in
    CI logs, a summary line at least every ``HEARTBEAT_S`` seconds says a
    long stack operation is still going. ``verbose`` prints every event.
    """

    def __init__(
        self,
        console: Console,
        *,
        verbose: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.verbose = verbose
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self._current = ""
        self._since = clock()
        self._stacks: dict[str, _Stack] = {}
        self._top: str | None = None
        self._recent: list[tuple[str, str]] = []  # (stack, logical id), newest last
        self._last_line = clock()
        self._live: Live | None = None
        self._updated = False  # the current step's figures were shown once already

    def __enter__(self) -> Activity:
        if self.console.is_terminal:
            self._live = Live(self, console=self.console, transient=True, refresh_per_second=4)
            self._live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # What commands call ---------------------------------------------------------

    def ask(self, question: str) -> bool:
        """A yes/no question on the terminal, with the live footer out of its way."""
        import click

        if self._live is not None:
            self._live.stop()
        try:
            return click.confirm(question, default=False, err=True)
        finally:
            if self._live is not None:
                self._live.start()

    def step(self, message: str) -> None:
        self._line(f"[bold]»[/] {escape(message)}")
        self._current = message
        self._since = self.clock()
        self._updated = False

    def update(self, message: str) -> None:
        """Figures that change as the step goes on (a watch's): the live footer on a
        terminal; piped, a line for the first and then one at most every ``HEARTBEAT_S``."""
        self._current = message
        if self._live is None and (
            not self._updated or self.clock() - self._last_line >= HEARTBEAT_S
        ):
            self._line(f"  [dim]{escape(message)}[/]")
        self._updated = True

    def event(self, event: StackEvent) -> None:
        self.counts[event.status] += 1
        self._top = self._top or event.stack_name
        stack = self._stacks.setdefault(event.stack_name, _Stack())
        is_stack = event.logical_id == event.stack_name
        if not is_stack:
            stack.statuses[event.logical_id] = event.status
            stack.types[event.logical_id] = event.resource_type
            self._remember(event.stack_name, event.logical_id)
        if self.verbose or event.failed or (is_stack and event.stack_name == self._top):
            self._line(_event_line(event, is_stack, reason=event.failed or self.verbose))
        elif self._live is None and self.clock() - self._last_line >= HEARTBEAT_S:
            self._line(f"  [dim]{escape(self._summary())}[/]")

    __call__ = event  # an Activity is the EventSink of the stack operations it shows

    # The live footer ------------------------------------------------------------

    def __rich__(self) -> RenderableType:
        elapsed = self.clock() - self._since
        header = Text(f"… {self._current} ({elapsed:.0f} s)", style="bold")
        if not self._stacks:
            return header
        return Group(header, Text(f"  {self._summary()}", style="dim"), self._table())

    def _table(self) -> Table:
        table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
        for stack_name, logical_id in self._recent[-SHOWN_RESOURCES:]:
            stack = self._stacks[stack_name]
            status = stack.statuses[logical_id]
            style = "red" if status.endswith("_FAILED") else "dim"
            table.add_row(
                Text(status, style=style), Text(stack.types[logical_id]), Text(logical_id)
            )
        for name, child in self._children():
            table.add_row(
                Text("nested stack", style="cyan"),
                Text(name),
                Text(f"{child.done()}/{len(child.statuses)} resources done"),
            )
        return table

    def _summary(self) -> str:
        total = sum(len(s.statuses) for s in self._stacks.values())
        done = sum(s.done() for s in self._stacks.values())
        elapsed = self.clock() - self._since
        return f"{done}/{total} resource operations done ({elapsed:.0f} s)"

    def _children(self) -> list[tuple[str, _Stack]]:
        return [(name, stack) for name, stack in self._stacks.items() if name != self._top]

    def _remember(self, stack: str, logical_id: str) -> None:
        if stack != self._top:
            return  # a nested stack is one row of its own, not one per resource
        key = (stack, logical_id)
        if key in self._recent:
            self._recent.remove(key)
        self._recent.append(key)
        del self._recent[: -SHOWN_RESOURCES * 4]

    def _line(self, markup: str) -> None:
        self.console.print(markup)
        self._last_line = self.clock()


def _event_line(event: StackEvent, is_stack: bool, *, reason: bool) -> str:
    style = "red" if event.failed else ("cyan" if is_stack else "dim")
    why = f"  {escape(event.reason)}" if event.reason and reason else ""
    return (
        f"  [{style}]{event.timestamp:%H:%M:%S} {event.status:<38}[/] "
        f"{escape(event.resource_type)} {escape(event.logical_id)}{why}"
    )


def step(console: Console, message: str) -> None:
    console.print(f"[bold]»[/] {escape(message)}")


def warn(console: Console, message: str) -> None:
    console.print(f"[bold yellow]warning:[/] {escape(message)}")
