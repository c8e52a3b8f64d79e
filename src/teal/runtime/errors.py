"""teal's error hierarchy.

Every error says *what* went wrong, *where* (a file, a route, a resource) and
*what to try*. Exit codes are decided in the CLI alone, from the two branches
below: a :class:`UserError` means nothing was changed anywhere (exit 2), an
:class:`OperationError` means an operation ran and failed (exit 1).
"""

from __future__ import annotations


class TealError(Exception):
    """Base of every error teal reports to its user."""

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.where = where
        self.hint = hint

    def render(self) -> str:
        """The message as the CLI prints it: where, what, then what to try."""
        lines = [f"{self.where}: {self.what}" if self.where else self.what]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class UserError(TealError):
    """Bad input (config, routes, arguments, handler code): nothing was changed.

    Bad input always says where it is (a file and line, a key of teal.toml, a
    route and its handler, a flag or variable) and what to do about it: both
    are required, so an error that lacks one does not type-check.
    """

    def __init__(self, what: str, *, where: str, hint: str) -> None:
        super().__init__(what, where=where, hint=hint)


class ConfigError(UserError):
    """teal.toml, environment variables or flags are invalid."""


class RouteError(UserError):
    """The app's route table breaks a rule; carries every problem found, and is where the
    first one is (its route and handler, at the handler's file and line when known)."""

    def __init__(
        self,
        problems: list[str],
        *,
        where: str,
        hint: str = "fix the @app.route declarations listed above",
    ) -> None:
        what = "invalid routes:\n" + "\n".join(f"  - {p}" for p in problems)
        super().__init__(what, where=where, hint=hint)
        self.problems = problems


class AppLoadError(UserError):
    """The user's app module could not be imported or has no App."""


class PackageError(UserError):
    """The project cannot be packaged (a symlink escapes it, a file is unreadable...)."""


class OperationError(TealError):
    """An operation ran against a cloud and failed."""
