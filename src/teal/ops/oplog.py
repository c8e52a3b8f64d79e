"""Operations: the locks they hold and the history they leave, both kept in the cloud.

Both live in the cloud (the local store, or S3 on AWS), so two laptops and a
CI job see the same lock and the same history.

- A lock is a lease (see :class:`~teal.cloud.base.LockOwner`): renewed while
  its operation runs, it frees itself when its holder is gone. The next
  operation breaks a lock whose process ended on this host, or whose lease
  expired, says so in one line, and records it in the history.
- An operation's history entry is written *before* it changes anything
  (``started``) and rewritten at its end (``done`` or ``failed``); a lock
  names the entry of its operation, so breaking the lock of a dead process
  marks that entry ``interrupted``.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from teal.cloud.base import (
    DEFAULT_LEASE_S,
    Action,
    Cloud,
    EntryState,
    HeldLock,
    HistoryEntry,
    LockHeld,
    LockOwner,
    new_id,
)
from teal.ops.settle import settle_interrupted
from teal.processes import is_running, this_process
from teal.progress import Progress, quiet
from teal.project.config import DomainSpec, Target

RENEWALS_PER_LEASE = 5


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return os.environ.get("USER", "unknown")


def now() -> datetime:
    return datetime.now(UTC)


def stale_reason(owner: LockOwner, when: datetime) -> str | None:
    """Why ``owner`` no longer holds its lock, or None while it may still.

    On its own host a holder is gone as soon as its process is; elsewhere it is
    gone once its lease ran out without renewal.
    """
    if owner.host == socket.gethostname():
        if is_running(owner.pid, owner.process_started):
            return None
        return f"pid {owner.pid} no longer runs on this host"
    if when > owner.expires():
        since = owner.last_renewed.isoformat(timespec="seconds")
        return f"its lease of {owner.lease_s:g} s expired (last renewed {since})"
    return None


WAIT_POLL_S = 0.25  # how often a waiting operation tries a live holder's lock again


class OperationLock:
    """Holds ``key``'s lock for the ``with`` block, renewing its lease meanwhile.

    A stale lock (see :func:`stale_reason`) is broken on the way in, with one
    line of progress and a history entry; a live one raises :class:`LockHeld`,
    at once or, with ``wait_s``, once it has been held that long (a step that
    apps share lasts moments: waiting beats refusing).
    """

    def __init__(
        self,
        cloud: Cloud,
        key: str,
        operation: str,
        user: str,
        *,
        app: str,
        progress: Progress = quiet,
        operation_id: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        domain: DomainSpec | None = None,
        wait_s: float = 0.0,
    ) -> None:
        self.cloud = cloud
        self.key = key
        self.wait_s = wait_s
        self.app = app
        self.domain = domain  # what an interrupted entry's effect is read from
        self.progress = progress
        pid, started = this_process()
        self.owner = LockOwner(
            user,
            socket.gethostname(),
            pid,
            operation,
            now(),
            token=new_id(),
            process_started=started,
            lease_s=lease_s,
            operation_id=operation_id,
            app=app,
        )
        self._stop_renewing = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> OperationLock:
        try:
            self._acquire_within(self.wait_s)
            self._renewer = threading.Thread(
                target=self._renew, name=f"lease {self.key}", daemon=True
            )
            self._renewer.start()
        except LockHeld:
            raise
        except BaseException:
            # Ctrl-C can land after the lock is written but before ``with`` has
            # an ``__exit__`` to call: give back what may be ours (a release
            # only removes a lock this owner holds). If that fails too, the
            # lock's holder is a dead pid or its lease runs out: it goes stale.
            self._stop_renewing.set()
            with suppress(Exception):
                self.cloud.release_lock(self.key, self.owner)
            raise
        return self

    def _acquire_within(self, wait_s: float) -> None:
        """Take the lock; while a live holder has it, try again until ``wait_s`` passed."""
        deadline = time.monotonic() + wait_s
        said = False
        while True:
            try:
                self._acquire()
                return
            except LockHeld as held:
                if time.monotonic() >= deadline:
                    raise
                if not said:
                    self.progress(f"waiting for {self.key}: {held.owner.describe()}")
                    said = True
            time.sleep(WAIT_POLL_S)

    def _acquire(self) -> None:
        try:
            self.cloud.acquire_lock(self.key, self.owner)
        except LockHeld as held:
            if held.owner.same_holder(self.owner):
                return  # our own write, retried after its answer was lost: it is ours
            reason = stale_reason(held.owner, now())
            if reason is None:
                held.hint = _wait_hint(held.owner)
                raise
            break_stale_lock(
                self.cloud,
                self.app,
                self.key,
                held.owner,
                reason=reason,
                user=self.owner.user,
                domain=self.domain,
            )
            self.progress(f"released the lock on {self.key} of {held.owner.describe()}: {reason}")
            self.cloud.acquire_lock(self.key, self.owner)  # LockHeld if another was quicker

    def _renew(self) -> None:
        interval = self.owner.lease_s / RENEWALS_PER_LEASE
        while not self._stop_renewing.wait(interval):
            try:
                if not self.cloud.renew_lock(self.key, self.owner):
                    return  # broken by someone: nothing left to renew
            except Exception:  # a failed renewal is retried at the next interval
                continue

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop_renewing.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        self.cloud.release_lock(self.key, self.owner)


def _wait_hint(owner: LockOwner) -> str:
    if owner.host == socket.gethostname():
        return f"pid {owner.pid} still runs on this host: wait for it to finish"
    expires = owner.expires().isoformat(timespec="seconds")
    return (
        f"wait for it to finish; if teal crashed on {owner.host}, its lease frees the lock at "
        f"{expires}, or release it now with `teal unlock`"
    )


def break_stale_lock(
    cloud: Cloud,
    app: str,
    key: str,
    holder: LockOwner,
    *,
    reason: str,
    user: str,
    domain: DomainSpec | None = None,
) -> bool:
    """Break ``holder``'s lock (unless it changed hands meanwhile) and record why."""
    if cloud.break_lock(key, holder) is None:
        return False
    mark_interrupted(cloud, app, holder, domain)
    cloud.record_history(app, unlock_entry(key, holder, reason, user, automatic=True))
    return True


@dataclass(frozen=True)
class Unlocked:
    """One lock ``teal unlock`` found: released, or left because its holder still runs."""

    key: str
    holder: LockOwner
    released: bool
    why: str

    def to_json(self) -> dict[str, Any]:
        return {
            "lock": self.key,
            "holder": self.holder.describe(),
            "released": self.released,
            "why": self.why,
        }


def locks_of(cloud: Cloud, app: str, keys: Collection[str], *, exact: bool) -> list[HeldLock]:
    """The locks under ``keys``, and (unless ``exact``) any other the app's operations took."""
    return [
        held
        for held in cloud.list_locks()
        if held.key in keys or (held.owner.app == app and not exact)
    ]


def unlock(
    cloud: Cloud,
    app: str,
    keys: Collection[str],
    *,
    user: str,
    force: bool,
    exact: bool,
    domain: DomainSpec | None = None,
) -> list[Unlocked]:
    """Release the app's locks, each with a history entry; a holder running on this host
    keeps its lock unless ``force`` (breaking a live operation's lock invites collisions)."""
    found: list[Unlocked] = []
    for held in locks_of(cloud, app, keys, exact=exact):
        reason = stale_reason(held.owner, now())
        if reason is None and held.owner.host == socket.gethostname() and not force:
            found.append(Unlocked(held.key, held.owner, False, "its process still runs"))
            continue
        why = reason or "released by hand"
        if cloud.break_lock(held.key, held.owner) is not None:
            mark_interrupted(cloud, app, held.owner, domain)
            cloud.record_history(
                app, unlock_entry(held.key, held.owner, why, user, automatic=False)
            )
            found.append(Unlocked(held.key, held.owner, True, why))
    return found


def mark_interrupted(
    cloud: Cloud, app: str, holder: LockOwner, domain: DomainSpec | None = None
) -> None:
    """The history entry of the operation that held the lock, if it never ended: marked
    ``interrupted``, then settled against the cloud (see :mod:`teal.ops.settle`) so that
    the command about to run reads what really happened."""
    if holder.operation_id is None:
        return
    for entry in cloud.read_history(app):
        if entry.id == holder.operation_id and entry.state == "started":
            cloud.record_history(app, entry.ended("interrupted"))
    settle_interrupted(cloud, app, domain)


def unlock_entry(
    key: str, holder: LockOwner, reason: str, user: str, *, automatic: bool
) -> HistoryEntry:
    return HistoryEntry(
        time=now(),
        user=user,
        action="unlock",
        environment=key,
        details={
            "lock": key,
            "holder": holder.describe(),
            "reason": reason,
            "automatic": automatic,
        },
    )


class Operation:
    """One deploy, switch, rollback or delete: the locks it takes and its history entry."""

    def __init__(
        self, cloud: Cloud, target: Target, action: Action, user: str, progress: Progress = quiet
    ) -> None:
        self.cloud = cloud
        self.target = target
        self.action = action
        self.user = user
        self.progress = progress
        self.id = new_id()
        self.entry: HistoryEntry | None = None

    def lock(self, key: str, *, wait_s: float = 0.0) -> OperationLock:
        """``key``'s lock for this operation (``wait_s``: how long a live holder is
        waited for before :class:`LockHeld`)."""
        return OperationLock(
            self.cloud,
            key,
            self.action,
            self.user,
            app=self.target.app,
            progress=self.progress,
            operation_id=self.id,
            domain=self.target.domain,
            wait_s=wait_s,
        )

    @contextmanager
    def recorded(
        self, from_: str | None, to: str | None, details: Mapping[str, Any]
    ) -> Iterator[Operation]:
        """Write the entry ``started`` now, and ``done`` or ``failed`` at the end.

        Inside, :meth:`end` may set the final state and details itself.
        """
        self.entry = HistoryEntry(
            time=now(),
            user=self.user,
            action=self.action,
            environment=self.target.environment,
            from_=from_,
            to=to,
            details=dict(details),
            id=self.id,
            state="started",
        )
        self.cloud.record_history(self.target.app, self.entry)
        try:
            yield self
        except KeyboardInterrupt:
            self.end("interrupted", {"error": "interrupted (Ctrl-C)"})
            raise
        except Exception as error:
            self.end("failed", {"failed": True, "error": str(error).splitlines()[0]})
            raise
        self.end("done", {})

    def end(
        self,
        state: EntryState,
        details: Mapping[str, Any],
        *,
        from_: str | None = None,
        to: str | None = None,
    ) -> None:
        """Rewrite the entry with its end; the first end wins."""
        if self.entry is None or self.entry.state != "started":
            return
        changes: dict[str, Any] = {"details": {**self.entry.details, **details}}
        if from_ is not None:
            changes["from_"] = from_
        if to is not None:
            changes["to"] = to
        self.entry = self.entry.ended(state, **changes)
        self.cloud.record_history(self.target.app, self.entry)

    def amend(self, details: Mapping[str, Any]) -> None:
        """Add to the entry's details after its end (what a watch after a switch saw)."""
        if self.entry is None:
            return
        self.entry = replace(self.entry, details={**self.entry.details, **details})
        self.cloud.record_history(self.target.app, self.entry)


def record(
    cloud: Cloud, target: Target, action: Action, user: str, details: Mapping[str, Any]
) -> HistoryEntry:
    """Append one finished history entry (``from``/``to`` come out of ``details``)."""
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
    cloud.record_history(target.app, entry)
    return entry
