"""Locks as leases that free themselves, and history entries written before and after,
on the local cloud and on S3 (moto server)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aws_fakes import aws_env, moto, moto_clients, moto_cloud, moto_endpoint  # noqa: F401
from e2e import free_port
from teal.cloud.base import Cloud, HistoryEntry, LockHeld, LockOwner
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.paths import LocalPaths
from teal.ops.oplog import Operation, OperationLock, stale_reason, unlock
from teal.processes import start_time
from teal.project.config import Target

HERE = socket.gethostname()


@pytest.fixture(params=["local", "aws"])
def cloud(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cloud]:
    if request.param == "aws":
        yield request.getfixturevalue("moto_cloud")
        return
    monkeypatch.setenv("TEAL_LOCAL_PORT", str(free_port()))
    local = LocalCloud(LocalPaths(tmp_path / "home"))
    yield local
    local.close()


def target(tmp_path: Path) -> Target:
    return Target(tmp_path, "blog", "dev", None, "local", "app:app", "python3.12", 256, 10)


def ended_pid() -> tuple[int, float | None]:
    child = subprocess.Popen(["sleep", "0"])
    started = start_time(child.pid)
    child.wait()
    return child.pid, started


def holder(host: str = HERE, **fields: object) -> LockOwner:
    pid, started = ended_pid()
    values: dict[object, object] = {
        "user": "bob",
        "host": host,
        "pid": pid,
        "operation": "deploy",
        "since": datetime.now(UTC),
        "token": "t-bob",
        "process_started": started,
        "app": "blog",
    }
    values.update(fields)
    return LockOwner(**values)  # type: ignore[arg-type]


def test_a_lock_of_a_process_that_ended_here_breaks_itself_and_says_so(
    cloud: Cloud, tmp_path: Path
) -> None:
    dead_operation = HistoryEntry(
        datetime.now(UTC), "bob", "deploy", "blog-dev", id="op-bob", state="started"
    )
    cloud.record_history("blog", dead_operation)
    cloud.acquire_lock("blog-dev", holder(operation_id="op-bob"))
    said: list[str] = []

    with OperationLock(cloud, "blog-dev", "deploy", "ana", app="blog", progress=said.append):
        [held] = cloud.list_locks()
        assert held.owner.user == "ana"

    assert cloud.list_locks() == []
    assert len(said) == 1 and "no longer runs on this host" in said[0], said
    history = cloud.read_history("blog")
    assert [(e.action, e.state) for e in history] == [("deploy", "interrupted"), ("unlock", "done")]
    assert history[1].details["automatic"] is True
    assert "bob@" in history[1].details["holder"]


def test_a_live_holder_on_this_host_keeps_its_lock(cloud: Cloud) -> None:
    alive = holder(pid=1, process_started=start_time(1))
    cloud.acquire_lock("blog-dev", alive)
    with (
        pytest.raises(LockHeld, match="deploy by bob"),
        OperationLock(cloud, "blog-dev", "deploy", "ana", app="blog"),
    ):
        pass
    assert cloud.list_locks()[0].owner.same_holder(alive)


def test_a_shared_step_waits_for_a_live_holder_instead_of_refusing(cloud: Cloud) -> None:
    """Another app makes the domain they share: the lock is taken once it is given back,
    and only a holder that keeps it past the wait is refused."""
    alive = holder(pid=1, process_started=start_time(1), app="shop")
    key = "domain-itself:api.example.test"
    cloud.acquire_lock(key, alive)
    threading.Timer(0.6, cloud.release_lock, (key, alive)).start()
    said: list[str] = []
    with OperationLock(cloud, key, "deploy", "ana", app="blog", progress=said.append, wait_s=30):
        [held] = cloud.list_locks()
        assert held.owner.user == "ana"
    assert said == [f"waiting for {key}: {alive.describe()}"]

    cloud.acquire_lock(key, alive)
    with (
        pytest.raises(LockHeld, match="deploy by bob"),
        OperationLock(cloud, key, "deploy", "ana", app="blog", wait_s=0.5),
    ):
        pass
    assert cloud.list_locks()[0].owner.same_holder(alive)


def test_a_reused_pid_does_not_keep_a_dead_holders_lock(cloud: Cloud) -> None:
    """pid 1 runs, but not the process that took the lock (its start time differs)."""
    cloud.acquire_lock("blog-dev", holder(pid=1, process_started=12.0))
    with OperationLock(cloud, "blog-dev", "deploy", "ana", app="blog"):
        pass
    assert [e.action for e in cloud.read_history("blog")] == ["unlock"]


def test_another_machines_lock_holds_until_its_lease_expires(cloud: Cloud) -> None:
    fresh = holder(host="ci-runner-7", lease_s=60.0)
    cloud.acquire_lock("blog-dev", fresh)
    with pytest.raises(LockHeld), OperationLock(cloud, "blog-dev", "deploy", "ana", app="blog"):
        pass
    cloud.break_lock("blog-dev")

    cloud.acquire_lock("blog-dev", holder(host="ci-runner-7", lease_s=0.5))
    time.sleep(1.0)
    said: list[str] = []
    with OperationLock(cloud, "blog-dev", "deploy", "ana", app="blog", progress=said.append):
        pass
    assert "lease of 0.5 s expired" in said[0]


def test_a_running_operation_renews_its_lease(cloud: Cloud) -> None:
    """Held twice as long as its lease, it is still held. (The lease is longer than a
    second here: on S3 a lease ages by LastModified and Date, which count whole seconds.)"""
    with OperationLock(cloud, "blog-dev", "deploy", "ana", app="blog", lease_s=2.5):
        time.sleep(5.0)
        [held] = cloud.list_locks()
        assert held.owner.expires() > datetime.now(UTC), "the lease was not renewed"
        # as another machine would judge it: still held
        remote_view = held.owner.__class__(**{**held.owner.__dict__, "host": "elsewhere"})
        assert stale_reason(remote_view, datetime.now(UTC)) is None


def write_the_lock_then_raise(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, raised: Callable[[str, LockOwner], BaseException]
) -> None:
    """The cloud writes the lock asked for, then its caller sees ``raised``."""
    write_the_lock = cloud.acquire_lock

    def written_then_raised(key: str, owner: LockOwner) -> None:
        write_the_lock(key, owner)
        raise raised(key, owner)

    monkeypatch.setattr(cloud, "acquire_lock", written_then_raised)


def test_ctrl_c_just_after_the_lock_is_written_gives_it_back(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signal lands between the lock's write and ``with`` having an exit to call."""
    write_the_lock_then_raise(cloud, monkeypatch, lambda key, owner: KeyboardInterrupt())
    lock = OperationLock(cloud, "blog-dev", "deploy", "ana", app="blog")
    with pytest.raises(KeyboardInterrupt), lock:
        pytest.fail("the body must not run")
    assert cloud.list_locks() == []


def test_a_lock_refused_as_held_by_ourselves_is_ours(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3 put retried after its answer was lost finds the lock it wrote itself."""
    write_the_lock_then_raise(cloud, monkeypatch, LockHeld)
    with OperationLock(cloud, "blog-dev", "deploy", "ana", app="blog") as lock:
        [held] = cloud.list_locks()
        assert held.owner.same_holder(lock.owner)
    assert cloud.list_locks() == []


def test_a_lock_held_by_another_stays_theirs_when_ours_is_refused(cloud: Cloud) -> None:
    theirs = holder(host="laptop", token="t-cy", user="cy")
    cloud.acquire_lock("blog-dev", theirs)
    lock = OperationLock(cloud, "blog-dev", "deploy", "ana", app="blog")
    with pytest.raises(LockHeld), lock:
        pytest.fail("the body must not run")
    [held] = cloud.list_locks()
    assert held.owner.same_holder(theirs)


def test_renewal_never_revives_a_broken_lock(cloud: Cloud) -> None:
    mine = holder(host="ci-runner-7")
    cloud.acquire_lock("blog-dev", mine)
    assert cloud.renew_lock("blog-dev", mine)
    cloud.break_lock("blog-dev")
    theirs = holder(host="laptop", token="t-cy", user="cy")
    cloud.acquire_lock("blog-dev", theirs)
    assert not cloud.renew_lock("blog-dev", mine)
    assert cloud.list_locks()[0].owner.user == "cy"


def test_break_lock_with_a_holder_is_compare_and_set(cloud: Cloud) -> None:
    first = holder(token="t-1")
    cloud.acquire_lock("blog-dev", first)
    assert cloud.break_lock("blog-dev", holder(token="t-2")) is None
    broken = cloud.break_lock("blog-dev", first)
    assert broken is not None and broken.same_holder(first)


def test_an_operation_writes_its_entry_before_and_after(cloud: Cloud, tmp_path: Path) -> None:
    operation = Operation(cloud, target(tmp_path), "switch", "ana")
    seen: list[list[tuple[str, str]]] = []
    with operation.recorded("blog-dev", "blog-dev-2", {"domain": "api.example.com"}):
        seen.append([(e.action, e.state) for e in cloud.read_history("blog")])
    [entry] = cloud.read_history("blog")
    assert seen == [[("switch", "started")]]
    assert (entry.state, entry.from_, entry.to, entry.id) == (
        "done",
        "blog-dev",
        "blog-dev-2",
        operation.id,
    )
    assert entry.details == {"domain": "api.example.com"}


def test_an_operation_that_raises_is_recorded_failed(cloud: Cloud, tmp_path: Path) -> None:
    operation = Operation(cloud, target(tmp_path), "delete", "ana")
    with pytest.raises(RuntimeError), operation.recorded("blog-dev", None, {}):
        raise RuntimeError("stack would not go\nsecond line")
    [entry] = cloud.read_history("blog")
    assert entry.state == "failed"
    assert entry.details["error"] == "stack would not go"


def test_unlock_releases_the_apps_locks_but_not_a_live_one_here(cloud: Cloud) -> None:
    cloud.acquire_lock("blog-dev", holder(host="ci-runner-7", token="t-ci"))
    cloud.acquire_lock("domain:api.example.com", holder(token="t-dead"))
    cloud.acquire_lock("blog-dev-2", holder(pid=1, process_started=start_time(1), token="t-live"))
    cloud.acquire_lock("other-dev", holder(app="other", token="t-other"))

    found = unlock(cloud, "blog", ["blog-dev"], user="ana", force=False, exact=False)

    outcome = {u.key: u.released for u in found}
    assert outcome == {"blog-dev": True, "domain:api.example.com": True, "blog-dev-2": False}
    assert sorted(h.key for h in cloud.list_locks()) == ["blog-dev-2", "other-dev"]
    unlocks = [e for e in cloud.read_history("blog") if e.action == "unlock"]
    assert {e.details["lock"] for e in unlocks} == {"blog-dev", "domain:api.example.com"}
    assert all(e.details["automatic"] is False for e in unlocks)

    forced = unlock(cloud, "blog", [], user="ana", force=True, exact=False)
    assert [(u.key, u.released) for u in forced] == [("blog-dev-2", True)]


def test_history_entries_of_an_older_local_shape_still_read(tmp_path: Path) -> None:
    local = LocalCloud(LocalPaths(tmp_path / "home"))
    with local.store.transaction() as conn:
        conn.execute(
            "INSERT INTO history (app, entry) VALUES (?, ?)",
            (
                "blog",
                '{"action":"deploy","details":{"status":"CREATE_COMPLETE"},'
                '"environment":"blog-dev","from":null,"time":"2026-01-02T03:04:05+00:00",'
                '"to":"http://x/","user":"ana"}',
            ),
        )
    [entry] = local.read_history("blog")
    assert (entry.state, entry.details, entry.to) == (
        "done",
        {"status": "CREATE_COMPLETE"},
        "http://x/",
    )
    assert entry.time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    local.close()
