"""teal's exit codes, decided here alone.

0 done; 1 an operation ran and failed; 2 bad input (nothing was changed
anywhere); 130 stopped by Ctrl-C (a watch, or any command), as a shell reports
an interrupted command. A command never picks a number: it raises teal's errors (a
:class:`UserError` is 2, an :class:`OperationError` 1), or one of the two
signals below, and :func:`teal.cli.main` turns that into the code.
"""

from __future__ import annotations

from teal.runtime.errors import TealError, UserError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class Reported(Exception):
    """The command failed and has said so itself (its JSON answer, its report): exit 1,
    with nothing more printed."""


class Interrupted(Exception):
    """Ctrl-C stopped a watch, and the command said where things stand: exit 130."""


def exit_code_for(error: TealError) -> int:
    return EXIT_BAD_INPUT if isinstance(error, UserError) else EXIT_FAILED
