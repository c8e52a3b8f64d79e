"""One operation at a time per environment, and the history of operations.

Both live in the cloud (the local store, or S3 on AWS), so two laptops and a
CI job see the same lock and the same history.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from teal.cloud.base import Cloud, HistoryEntry, LockHeld, LockOwner
from teal.config import Target

Action = Literal["deploy", "switch", "rollback", "delete"]


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return os.environ.get("USER", "unknown")


def now() -> datetime:
    return datetime.now(UTC)


class OperationLock:
    """Holds ``key``'s lock for the ``with`` block, and releases it on every exit path."""

    def __init__(self, cloud: Cloud, key: str, operation: str, user: str) -> None:
        self.cloud = cloud
        self.key = key
        self.owner = LockOwner(user, socket.gethostname(), os.getpid(), operation, now())

    def __enter__(self) -> OperationLock:
        try:
            self.cloud.acquire_lock(self.key, self.owner)
        except LockHeld as held:
            if _gone(held.owner):
                held.hint = (
                    f"pid {held.owner.pid} no longer runs on this host: the lock is stale; "
                    "release it with `teal unlock`"
                    + (" --domain" if self.key.startswith("domain:") else "")
                )
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.cloud.release_lock(self.key, self.owner)


def _gone(owner: LockOwner) -> bool:
    """Whether the lock's owner was a process on this host that has ended."""
    if owner.host != socket.gethostname():
        return False
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def record(
    cloud: Cloud, target: Target, action: Action, user: str, details: Mapping[str, Any]
) -> HistoryEntry:
    """Append one history entry (``from``/``to`` come out of ``details``)."""
    rest = {k: v for k, v in details.items() if k not in ("from", "to")}
    entry = HistoryEntry(
        time=now(),
        user=user,
        action=action,
        environment=target.environment,
        from_=details.get("from"),
        to=details.get("to"),
        details=rest,
    )
    cloud.append_history(target.app, entry)
    return entry
