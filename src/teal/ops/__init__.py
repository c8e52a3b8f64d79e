"""Operations on deployed environments, through the ``Cloud`` seam.

Deploy (prepare, decide, apply, re-point the domain), the manual blue-green
commands (check, switch and its watch, rollback, preview, delete, status),
logs and invoke, and what every operation holds: its locks and its history.
"""
