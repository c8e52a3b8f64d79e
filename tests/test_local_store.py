"""The local cloud's SQLite store and artifact folder, and recovery after kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from teal import processes
from teal.cloud.base import (
    CREATE_COMPLETE,
    ROLLBACK_COMPLETE,
    UPDATE_COMPLETE,
    UPDATE_ROLLBACK_COMPLETE,
    NoUpdates,
    StackFailed,
)
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.gateway import rest_apis
from teal.cloud.local.gateway.serving import StoreServingState
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.store import (
    COMMIT_WATCH_RECHECK_S,
    SCHEMA_VERSION,
    CommitWatch,
    StateError,
    Store,
    bump_generation,
    connect,
    read_generation,
)
from teal.runtime.errors import OperationError, UserError
from test_local_engine_support import Events, blog_request, blog_template, nested_request

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def paths(tmp_path: Path) -> LocalPaths:
    return LocalPaths(tmp_path / "home")


@pytest.fixture
def store(paths: LocalPaths) -> Iterator[Store]:
    opened = Store(paths)
    yield opened
    opened.close()


def test_schema_version_is_recorded_and_wal_is_on(store: Store, paths: LocalPaths) -> None:
    row = store.read_one("SELECT value FROM meta WHERE key = 'schema_version'")
    assert row is not None
    assert int(row[0]) == SCHEMA_VERSION
    assert store.read_one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
    again = Store(paths)  # reopening migrates nothing and keeps the data
    assert again.read_one("SELECT value FROM meta WHERE key = 'schema_version'")[0] == row[0]  # type: ignore[index]
    again.close()


def test_a_state_written_by_a_newer_teal_is_refused(store: Store, paths: LocalPaths) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StateError, match="newer than this teal supports"):
        Store(paths)


def downgrade_to_v1(paths: LocalPaths) -> None:
    """Rewrite the state as schema version 1 kept it.

    Each RestApi's tree is one JSON document, and child stacks are not indexed by parent.
    """
    conn = sqlite3.connect(paths.database, isolation_level=None)
    conn.execute("BEGIN")
    apis = conn.execute("SELECT id, name, root_id, model_tag FROM rest_apis").fetchall()
    conn.execute("DROP TABLE rest_apis")
    conn.execute(
        "CREATE TABLE rest_apis (id TEXT PRIMARY KEY, name TEXT NOT NULL, model TEXT NOT NULL, "
        "model_tag TEXT NOT NULL)"
    )
    for api_id, name, root_id, tag in apis:
        resources = {
            rid: {"parent": parent, "part": part, "methods": {}}
            for rid, parent, part in conn.execute(
                "SELECT id, parent_id, part FROM api_resources WHERE api_id = ?", (api_id,)
            )
        }
        for rid, verb, payload in conn.execute(
            "SELECT resource_id, verb, payload FROM api_methods WHERE api_id = ?", (api_id,)
        ):
            resources[rid]["methods"][verb] = json.loads(payload)
        model = json.dumps({"root": root_id, "resources": resources})
        conn.execute("INSERT INTO rest_apis VALUES (?, ?, ?, ?)", (api_id, name, model, tag))
    conn.execute("DROP TABLE api_resources")
    conn.execute("DROP TABLE api_methods")
    conn.execute("DROP INDEX stacks_by_parent")
    conn.execute("ALTER TABLE deployments DROP COLUMN binary_media_types")
    for table in ("api_authorizers", "api_gateway_responses", "api_keys", "usage_plans"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DROP TABLE usage_plan_keys")
    conn.execute("ALTER TABLE deployments DROP COLUMN authorizers")
    conn.execute("ALTER TABLE deployments DROP COLUMN gateway_responses")
    for table in ("event_rules", "queue_messages", "queues", "event_source_mappings"):
        conn.execute(f"DROP TABLE {table}")  # version 5's
    conn.execute("DROP TABLE routing_rules")  # version 6's
    conn.execute("ALTER TABLE domains DROP COLUMN routing_mode")
    conn.execute("ALTER TABLE domains DROP COLUMN settings")  # version 7's
    conn.execute("DROP TABLE function_versions")  # version 9's
    conn.execute("DROP TABLE aliases")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.execute("COMMIT")
    conn.close()


def test_a_state_of_schema_version_1_is_migrated_and_keeps_serving_and_deploying(
    paths: LocalPaths,
) -> None:
    cloud = LocalCloud(paths)
    api_id = cloud.apply_stack(blog_request(cloud), Events()).outputs["ApiId"]
    cloud.close()
    downgrade_to_v1(paths)

    cloud = LocalCloud(paths)

    version = cloud.store.read_one("SELECT value FROM meta WHERE key = 'schema_version'")
    assert version is not None
    assert int(version[0]) == SCHEMA_VERSION
    assert served_paths(paths, api_id) == {"/posts", "/posts/{id}"}
    # The migrated tree is the one API Gateway's rules see: a second variable sibling fails.
    renamed = [("/posts", ["GET"]), ("/posts/{post_id}", ["GET"])]
    with pytest.raises(StackFailed, match="ResPostsPostId"):
        cloud.apply_stack(blog_request(cloud, routes=renamed), Events())
    updated = cloud.apply_stack(blog_request(cloud, routes=WITH_COMMENTS), Events())
    assert updated.status == UPDATE_COMPLETE
    assert served_paths(paths, api_id) == {"/posts", "/posts/{id}", "/posts/{id}/comments"}
    cloud.close()


def test_a_failed_transaction_changes_nothing(store: Store) -> None:
    def failing_change() -> None:
        with store.transaction() as conn:
            bump_generation(conn)
            conn.execute("INSERT INTO locks (key, owner) VALUES ('k', '{}')")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_change()
    assert store.read("SELECT * FROM locks") == []
    with store.transaction() as conn:
        assert read_generation(conn) == 0
        bump_generation(conn)
        bump_generation(conn)
        assert read_generation(conn) == 2


def test_a_failed_nested_transaction_is_undone_alone(store: Store) -> None:
    def failing_change() -> None:
        with store.transaction() as nested:
            nested.execute("INSERT INTO locks (key, owner) VALUES ('undone', '{}')")
            raise RuntimeError("boom")

    with store.transaction() as conn:
        conn.execute("INSERT INTO locks (key, owner) VALUES ('kept', '{}')")
        with pytest.raises(RuntimeError):
            failing_change()
        with store.transaction() as nested:
            nested.execute("INSERT INTO locks (key, owner) VALUES ('also kept', '{}')")

    assert sorted(row[0] for row in store.read("SELECT key FROM locks")) == ["also kept", "kept"]


def test_artifacts_are_content_files_written_whole(store: Store, paths: LocalPaths) -> None:
    store.put_artifact("code/abc.zip", b"one")
    store.put_artifact("code/abc.zip", b"two")

    assert store.has_artifact("code/abc.zip")
    assert store.read_artifact("code/abc.zip") == b"two"
    assert not store.has_artifact("code/other.zip")
    assert sorted(p.name for p in (paths.artifacts / "code").iterdir()) == ["abc.zip"]
    for bad in ("../escape", "/abs", "a//b", ""):
        with pytest.raises(UserError, match="invalid artifact key"):
            store.put_artifact(bad, b"x")


def test_readers_see_committed_state_while_a_writer_holds_its_transaction(
    store: Store, paths: LocalPaths
) -> None:
    reader = StoreServingState(paths)
    with store.transaction() as conn:
        bump_generation(conn)
        assert reader.generation() == 0  # WAL: the reader is not blocked, sees the old state
    assert reader.generation() == 1
    reader.close()


def test_the_generation_is_queried_only_after_a_commit(store: Store, paths: LocalPaths) -> None:
    reader = StoreServingState(paths)
    statements: list[str] = []
    reader._conn().set_trace_callback(statements.append)
    assert reader.generation() == 0
    queried = len(statements)
    for _ in range(50):
        assert reader.generation() == 0
    assert len(statements) == queried, "no commit: the database is not read again"
    with store.transaction() as conn:
        conn.execute("INSERT INTO locks (key, owner) VALUES ('unrelated', '{}')")
    assert reader.generation() == 0  # a commit that changed no generation: read, same answer
    assert len(statements) > queried
    with store.transaction() as conn:
        bump_generation(conn)
    assert reader.generation() == 1
    reader.close()


def test_a_failed_read_of_the_generation_is_tried_again_at_the_next_look(
    store: Store, paths: LocalPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    from teal.cloud.local.gateway import serving

    reader = StoreServingState(paths)
    assert reader.generation() == 0
    with store.transaction() as conn:
        bump_generation(conn)

    def busy(conn: sqlite3.Connection) -> int:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(serving, "read_generation", busy)
    with pytest.raises(sqlite3.OperationalError):
        reader.generation()
    monkeypatch.setattr(serving, "read_generation", read_generation)
    assert reader.generation() == 1  # at once, not after the watch's recheck time
    reader.close()


def test_a_commit_of_another_process_is_seen_at_the_next_look(paths: LocalPaths) -> None:
    Store(paths).close()
    reader = StoreServingState(paths)
    assert reader.generation() == 0
    bump = (
        "import sys; from pathlib import Path; from teal.cloud.local.store import connect, "
        "bump_generation; c = connect(Path(sys.argv[1])); bump_generation(c); c.commit()"
    )
    for expected in (1, 2):
        subprocess.run([sys.executable, "-c", bump, str(paths.database)], check=True)
        assert reader.generation() == expected
    reader.close()


def test_the_commit_watch_says_maybe_without_its_file_and_after_its_recheck_time(
    tmp_path: Path,
) -> None:
    now = [0.0]
    missing = CommitWatch(tmp_path / "none.db", lambda: now[0])
    assert not missing.quiet_since_last_look()
    assert not missing.quiet_since_last_look()
    database = tmp_path / "state.db"
    conn = connect(database)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    watch = CommitWatch(database, lambda: now[0])
    assert not watch.quiet_since_last_look()  # the first look has nothing to compare with
    assert watch.quiet_since_last_look()
    now[0] += COMMIT_WATCH_RECHECK_S
    assert not watch.quiet_since_last_look()
    assert watch.quiet_since_last_look()
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    assert not watch.quiet_since_last_look()
    watch.forget()  # the read after a look failed
    assert not watch.quiet_since_last_look()
    conn.close()


def test_the_commit_watch_finds_the_index_of_a_symlinked_database(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    conn = connect(tmp_path / "real" / "state.db")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    (tmp_path / "state.db").symlink_to(tmp_path / "real" / "state.db")
    watch = CommitWatch(tmp_path / "state.db", lambda: 0.0)
    assert not watch.quiet_since_last_look()
    assert watch.quiet_since_last_look(), "the index sits beside the real file"
    conn.close()


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="reads Linux's /proc/locks")
def test_closing_a_serving_state_keeps_the_locks_of_the_processes_other_connections(
    store: Store, paths: LocalPaths
) -> None:
    """Closing any descriptor of a file drops all of a process's POSIX locks on it, the
    ones SQLite's other connections hold on the -shm file among them."""
    store.read("SELECT 1")
    shm = Path(f"{paths.database}-shm")

    def locks_held() -> int:
        inode = f":{shm.stat().st_ino} "
        return sum(inode in line for line in Path("/proc/locks").read_text().splitlines())

    before = locks_held()
    assert before > 0
    reader = StoreServingState(paths)
    reader.generation()
    reader.close()
    assert locks_held() == before


# Crash recovery: a teal process killed with SIGKILL in the middle of an apply.

CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from teal.cloud.local.gateway import rest_apis
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.paths import LocalPaths
from test_local_engine_support import blog_request, nested_request

home, options, stop_logical, stop_status, stop_clock = sys.argv[1:]
calls = 0

def clock():
    global calls
    calls += 1
    if calls == int(stop_clock):  # inside a transaction: the clock stamps events
        print("ready", flush=True)
        time.sleep(600)
    from datetime import UTC, datetime
    return datetime.now(UTC)

def on_event(event):
    is_child_stack = event.stack_name != "blog-dev" and event.logical_id == event.stack_name
    logical = "CHILD_STACK" if is_child_stack else event.logical_id
    if logical == stop_logical and event.status == stop_status:
        print("ready", flush=True)
        time.sleep(600)

cloud = LocalCloud(LocalPaths(Path(home)), clock=clock)
options = __import__("json").loads(options)
if "routes" in options:
    options["routes"] = [tuple(r) for r in options["routes"]]
build = nested_request if options.pop("nested", False) else blog_request
cloud.apply_stack(build(cloud, **options), on_event)
print("finished", flush=True)
"""

WITH_COMMENTS = [
    ["/posts", ["GET"]],
    ["/posts/{id}", ["GET", "DELETE"]],
    ["/posts/{id}/comments", ["GET"]],
]


def kill_mid_apply(
    paths: LocalPaths,
    options: dict[str, object],
    *,
    at_event: tuple[str, str] = ("-", "-"),
    at_clock_call: int = 0,
) -> int:
    """Run an apply in another process, SIGKILL it at the given point; returns its pid."""
    script = CHILD.format(tests=str(TESTS))
    args = [str(paths.home), json.dumps(options), *at_event, str(at_clock_call)]
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    assert line == "ready", f"the child did not stop where asked (said {line!r})"
    return process.pid


def recovery_reasons(cloud: LocalCloud, name: str = "blog-dev") -> list[str]:
    return [e.reason or "" for e in cloud.stack_events(name) if "stopped while" in (e.reason or "")]


def api_ids(cloud: LocalCloud) -> set[str]:
    return {row[0] for row in cloud.store.read("SELECT id FROM rest_apis")}


def test_a_create_killed_midway_is_rolled_back_by_the_next_command(paths: LocalPaths) -> None:
    pid = kill_mid_apply(paths, {}, at_event=("ResPostsId", "CREATE_COMPLETE"))
    cloud = LocalCloud(paths)

    deployed = cloud.describe_stack("blog-dev")

    assert deployed is not None
    assert deployed.status == ROLLBACK_COMPLETE
    assert recovery_reasons(cloud) == [
        f"teal process {pid} stopped while the stack was CREATE_IN_PROGRESS; recovering"
    ]
    assert api_ids(cloud) == set()
    assert cloud.store.read("SELECT * FROM functions") == []
    cloud.delete_stack("blog-dev", Events())
    assert cloud.apply_stack(blog_request(cloud), Events()).status == CREATE_COMPLETE
    cloud.close()


def test_an_update_killed_midway_rolls_back_and_the_old_routes_serve(paths: LocalPaths) -> None:
    cloud = LocalCloud(paths)
    first = cloud.apply_stack(blog_request(cloud), Events())
    api_id = first.outputs["ApiId"]
    serving = StoreServingState(paths)
    before = serving.stage(api_id, "dev")
    options = {"routes": WITH_COMMENTS, "memory": 1024}

    kill_mid_apply(paths, options, at_event=("ResPostsIdComments", "CREATE_COMPLETE"))
    events = Events()
    # The next command recovers the dead process's stack first: the old template is back.
    with pytest.raises(NoUpdates):
        cloud.apply_stack(blog_request(cloud), events)

    assert events.statuses("blog-dev")[:1] == ["UPDATE_ROLLBACK_IN_PROGRESS"]
    assert events.statuses("blog-dev")[-1] == UPDATE_ROLLBACK_COMPLETE
    assert serving.stage(api_id, "dev") == before
    spec = serving.function_by_arn(first.outputs["FunctionArn"])
    assert spec is not None
    assert spec.memory_mb == 256
    assert cloud.apply_stack(blog_request(cloud, memory=1024), Events()).status == UPDATE_COMPLETE
    serving.close()
    cloud.close()


def test_an_update_killed_in_cleanup_is_finished_by_the_next_command(paths: LocalPaths) -> None:
    cloud = LocalCloud(paths)
    first = cloud.apply_stack(blog_request(cloud), Events())
    api_id = first.outputs["ApiId"]

    kill_mid_apply(
        paths,
        {"routes": WITH_COMMENTS},
        at_event=("blog-dev", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
    )
    deployed = cloud.describe_stack("blog-dev")

    assert deployed is not None
    assert deployed.status == UPDATE_COMPLETE
    serving = StoreServingState(paths)
    served = serving.stage(api_id, "dev")
    assert served is not None
    assert ("/posts/{id}/comments", "GET") in {
        (r.resource_path, r.http_method) for r in served.routes
    }
    assert len(cloud.store.read("SELECT id FROM deployments")) == 1
    serving.close()
    cloud.close()


def test_a_replacement_killed_midway_deletes_the_half_built_api(paths: LocalPaths) -> None:
    cloud = LocalCloud(paths)
    first = cloud.apply_stack(blog_request(cloud), Events())

    kill_mid_apply(paths, {"api": "RestApi1"}, at_event=("RestApi1", "CREATE_COMPLETE"))

    deployed = cloud.describe_stack("blog-dev")
    assert deployed is not None
    assert deployed.status == UPDATE_ROLLBACK_COMPLETE
    assert api_ids(cloud) == {first.outputs["ApiId"]}
    cloud.close()


@pytest.mark.parametrize("clock_call", [3, 14, 25])
def test_a_kill_inside_a_transaction_leaves_a_consistent_state(
    paths: LocalPaths, clock_call: int
) -> None:
    kill_mid_apply(paths, {}, at_clock_call=clock_call)
    cloud = LocalCloud(paths)

    deployed = cloud.describe_stack("blog-dev")

    assert deployed is None or deployed.status == ROLLBACK_COMPLETE
    assert api_ids(cloud) == set()
    assert cloud.store.read("SELECT * FROM functions") == []
    assert cloud.store.read("SELECT * FROM resources") == []
    cloud.delete_stack("blog-dev", Events())
    assert cloud.apply_stack(blog_request(cloud), Events()).status == CREATE_COMPLETE
    cloud.close()


def test_an_operation_of_a_live_process_is_not_taken_over(paths: LocalPaths) -> None:
    cloud = LocalCloud(paths)
    cloud.apply_stack(blog_request(cloud), Events())
    with cloud.store.transaction() as conn:
        conn.execute(
            "UPDATE stacks SET status = 'UPDATE_IN_PROGRESS', owner_pid = ? WHERE name = ?",
            (os.getpid(), "blog-dev"),
        )
    assert cloud.recover() == []
    with pytest.raises(OperationError, match="is in UPDATE_IN_PROGRESS state"):
        cloud.apply_stack(blog_request(cloud, memory=512), Events())
    cloud.close()


def test_the_database_file_is_a_plain_sqlite_database(store: Store, paths: LocalPaths) -> None:
    conn = sqlite3.connect(paths.database)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"stacks", "resources", "events", "functions", "domains", "mappings"} <= tables


def served_paths(paths: LocalPaths, api_id: str) -> set[str]:
    serving = StoreServingState(paths)
    stage = serving.stage(api_id, "dev")
    serving.close()
    assert stage is not None
    return {r.resource_path for r in stage.routes}


@pytest.mark.parametrize(
    ("kill_at", "outcome"),
    [
        # inside the child's update: both roll back
        (("ResPostsIdComments", "CREATE_COMPLETE"), UPDATE_ROLLBACK_COMPLETE),
        # child done, its cleanup deferred to the parent, which was not told yet
        (("CHILD_STACK", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"), UPDATE_ROLLBACK_COMPLETE),
        # in the parent's cleanup, which cleans up the child: finished
        (("CHILD_STACK", "UPDATE_COMPLETE"), UPDATE_COMPLETE),
    ],
)
def test_a_nested_update_killed_midway_is_recovered_with_its_child(
    paths: LocalPaths, kill_at: tuple[str, str], outcome: str
) -> None:
    cloud = LocalCloud(paths)
    api_id = cloud.apply_stack(nested_request(cloud), Events()).outputs["ApiId"]
    before = served_paths(paths, api_id)

    kill_mid_apply(paths, {"nested": True, "routes": WITH_COMMENTS}, at_event=kill_at)

    deployed = cloud.describe_stack("blog-dev")
    assert deployed is not None
    assert deployed.status == outcome
    [child] = [s for s in cloud.engine.stacks() if s.parent == "blog-dev"]
    assert child.status == outcome
    if outcome == UPDATE_ROLLBACK_COMPLETE:
        assert child.template == blog_template()
        assert served_paths(paths, api_id) == before
    else:
        assert served_paths(paths, api_id) == before | {"/posts/{id}/comments"}
    assert len(cloud.store.read("SELECT id FROM deployments")) == 1
    cloud.close()


def test_a_nested_create_killed_midway_leaves_no_child(paths: LocalPaths) -> None:
    kill_mid_apply(paths, {"nested": True}, at_event=("ResPostsId", "CREATE_COMPLETE"))
    cloud = LocalCloud(paths)

    deployed = cloud.describe_stack("blog-dev")

    assert deployed is not None
    assert deployed.status == ROLLBACK_COMPLETE
    assert [s.name for s in cloud.engine.stacks()] == ["blog-dev"]
    assert api_ids(cloud) == set()
    cloud.close()


# ---------------------------------------------------------------- whose operation it is


def mark_in_progress(cloud: LocalCloud, owner_pid: int, owner_start: str | None) -> None:
    """The stack as a process that stopped just after starting an update would leave it."""
    with cloud.store.transaction() as conn:
        conn.execute(
            "UPDATE stacks SET status = 'UPDATE_IN_PROGRESS', owner_pid = ?, owner_start = ? "
            "WHERE name = ?",
            (owner_pid, owner_start, "blog-dev"),
        )


def test_a_dead_owner_is_found_through_teal_processes_alone(
    paths: LocalPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether the owner runs is asked of teal.processes, never of /proc: no procfs needed."""
    cloud = LocalCloud(paths)
    cloud.apply_stack(blog_request(cloud), Events())
    pid, started = processes.this_process()
    mark_in_progress(cloud, pid, repr(started))
    asked: list[tuple[int, float | None]] = []

    def no_such_process(pid: int, started: float | None = None) -> bool:
        asked.append((pid, started))
        return False

    monkeypatch.setattr(processes, "is_running", no_such_process)

    assert cloud.recover() == ["blog-dev"]
    assert asked == [(pid, started)]
    deployed = cloud.describe_stack("blog-dev")
    assert deployed is not None
    assert deployed.status == UPDATE_ROLLBACK_COMPLETE
    cloud.close()


def boot_ticks(started: float) -> str:
    """A start time as an older teal recorded it: the kernel's clock ticks since boot."""
    return str(round((started - psutil.boot_time()) * os.sysconf("SC_CLK_TCK")))


@pytest.mark.skipif(not hasattr(os, "sysconf"), reason="clock ticks are a POSIX notion")
def test_an_owner_recorded_by_an_older_teal_is_judged_by_its_start(paths: LocalPaths) -> None:
    cloud = LocalCloud(paths)
    cloud.apply_stack(blog_request(cloud), Events())
    pid, started = processes.this_process()
    assert started is not None

    mark_in_progress(cloud, pid, boot_ticks(started))
    assert cloud.recover() == []  # this very process: alive

    earlier = (psutil.boot_time() + started) / 2  # between boot and this process's start
    mark_in_progress(cloud, pid, boot_ticks(earlier))
    assert cloud.recover() == ["blog-dev"]  # another process that had this pid: dead
    cloud.close()


def test_an_owner_whose_pid_another_process_took_is_dead(paths: LocalPaths) -> None:
    cloud = LocalCloud(paths)
    cloud.apply_stack(blog_request(cloud), Events())
    pid, started = processes.this_process()
    assert started is not None

    mark_in_progress(cloud, pid, repr(started - 3600))

    assert cloud.recover() == ["blog-dev"]
    cloud.close()


# ---------------------------------------------------------------- who may read the state


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def database_files(paths: LocalPaths) -> list[Path]:
    db = paths.database
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def test_a_new_home_and_its_database_are_the_owners_alone(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, whatever this process has
    try:
        paths = LocalPaths(tmp_path / "nested" / "home")
        store = Store(paths)
        with store.transaction() as conn:  # a write: SQLite creates its -wal and -shm
            bump_generation(conn)
        assert mode_of(paths.home) == 0o700
        assert [mode_of(f) for f in database_files(paths)] == [0o600] * 3
        store.close()
    finally:
        os.umask(old)


def test_an_existing_home_open_to_others_is_tightened_when_opened(tmp_path: Path) -> None:
    paths = LocalPaths(tmp_path / "home")
    paths.home.mkdir(mode=0o755)
    paths.home.chmod(0o755)
    with sqlite3.connect(paths.database) as conn:  # as an earlier teal left it
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
    for file in [*database_files(paths), paths.home]:
        if file.exists():
            file.chmod(0o755 if file.is_dir() else 0o644)
    StoreServingState(paths).close()  # the gateway's way in goes through the same door
    assert mode_of(paths.home) == 0o700
    assert all(mode_of(f) == 0o600 for f in database_files(paths) if f.exists())


def test_every_way_of_creating_the_home_makes_it_private(tmp_path: Path) -> None:
    from teal.cloud.local.gateway.lifecycle import ensure_gateway, stop_gateway
    from test_gateway_support import free_port

    paths = LocalPaths(tmp_path / "started-by-the-gateway")
    ensure_gateway(paths, free_port())
    try:
        assert mode_of(paths.home) == 0o700
        assert mode_of(paths.database) == 0o600
    finally:
        stop_gateway(paths)


# A kill -9 anywhere in a larger apply, whose resources are written a batch per
# transaction: the next command always finds the state before a batch or after
# it, and recovers to the old stack or the new one, never to a mix.

MANY_BEFORE = [[f"/old{i}", ["GET"]] for i in range(10)] + [["/posts", ["GET"]]]
MANY_AFTER = (
    MANY_BEFORE[:5] + [[f"/new{i}", ["GET", "POST"]] for i in range(10)] + [["/posts", ["GET"]]]
)
KILL_POINTS = (0.02, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 0.99)


def deploy_routes(paths: LocalPaths, routes: list[list[Any]], clock: Any = None) -> None:
    cloud = LocalCloud(paths, clock=clock) if clock else LocalCloud(paths)
    cloud.apply_stack(blog_request(cloud, routes=routes), Events())
    cloud.close()


def clock_calls(paths: LocalPaths, routes: list[list[Any]], *, updating: bool) -> int:
    """How often an apply of ``routes`` reads the clock (it stamps every event)."""
    if updating:
        deploy_routes(paths, MANY_BEFORE)
    calls = 0

    def clock() -> datetime:
        nonlocal calls
        calls += 1
        return datetime.now(UTC)

    deploy_routes(paths, routes, clock)
    return calls


def api_routes(cloud: LocalCloud) -> set[tuple[str, str]]:
    """Every method of every RestApi, as the local API Gateway holds them."""
    with cloud.store.transaction() as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM rest_apis")]
        return {
            (path, verb)
            for api_id in ids
            for path, verb, _ in rest_apis.load_api(conn, api_id).endpoints()
        }


def expected_routes(routes: list[list[Any]]) -> set[tuple[str, str]]:
    return {(path, verb) for path, verbs in routes for verb in verbs}


@pytest.mark.parametrize("updating", [False, True], ids=["create", "update"])
def test_a_kill_anywhere_in_a_batched_apply_recovers_to_the_old_or_the_new_stack(
    tmp_path: Path, updating: bool
) -> None:
    routes = MANY_AFTER if updating else MANY_BEFORE
    total = clock_calls(LocalPaths(tmp_path / "dry-run"), routes, updating=updating)
    # Each status the next command may find, and what the API then holds: the old
    # routes (none for a create) or, once the update got to its cleanup, the new ones.
    old = expected_routes(MANY_BEFORE) if updating else set()
    outcomes: dict[str | None, set[tuple[str, str]]] = (
        {
            CREATE_COMPLETE: old,  # killed before the update was recorded
            UPDATE_ROLLBACK_COMPLETE: old,
            UPDATE_COMPLETE: expected_routes(routes),
        }
        if updating
        else {None: old, ROLLBACK_COMPLETE: old}  # None: killed before the create was recorded
    )

    seen: set[str | None] = set()
    for point in KILL_POINTS:
        paths = LocalPaths(tmp_path / f"killed-at-{point}")
        if updating:
            deploy_routes(paths, MANY_BEFORE)
        kill_mid_apply(paths, {"routes": routes}, at_clock_call=max(1, round(total * point)))
        cloud = LocalCloud(paths)
        cloud.recover()

        stack = cloud.describe_stack("blog-dev")
        status = stack.status if stack is not None else None
        assert status in outcomes, point
        assert api_routes(cloud) == outcomes[status], point
        rows = cloud.engine.ledger.rows("blog-dev")
        deployed = status in (CREATE_COMPLETE, UPDATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE)
        wanted = (
            set(cloud.engine.ledger.require("blog-dev").template["Resources"])
            if deployed
            else set()
        )
        assert all(row.current for row in rows), point
        assert {row.logical_id for row in rows} == wanted, point
        one_if_deployed = 1 if deployed else 0
        assert len(cloud.store.read("SELECT id FROM deployments")) == one_if_deployed, point
        assert len(cloud.store.read("SELECT name FROM functions")) == one_if_deployed, point
        seen.add(status)
        cloud.close()
    assert seen == set(outcomes)  # the kills fell before, inside and after forward progress


def test_a_second_connection_in_a_process_keeps_the_first_ones_view_current(
    tmp_path: Path,
) -> None:
    """Opening the database file outside SQLite and closing it drops every POSIX lock the
    process holds on it, SQLite's included: another process that wrote and closed then
    took itself for the last user, and deleted the WAL under the first connection, which
    read a stale state from then on (the gateway's queue poller missed messages so)."""
    paths = LocalPaths(tmp_path / "home")
    Store(paths).close()
    first = connect(paths.database)
    second = connect(paths.database)  # as the gateway opens one per part and thread

    def entries() -> int:
        first.execute("BEGIN IMMEDIATE")
        found = int(first.execute("SELECT COUNT(*) FROM history").fetchone()[0])
        first.execute("COMMIT")
        return found

    seen = []
    for entry in range(3):
        write = (
            "from pathlib import Path\n"
            "from teal.cloud.local.paths import LocalPaths\n"
            "from teal.cloud.local.store import Store\n"
            f"store = Store(LocalPaths(Path({str(paths.home)!r})))\n"
            "with store.transaction() as conn:\n"
            f"    conn.execute(\"INSERT INTO history (app, entry) VALUES ('a', '{entry}')\")\n"
            "store.close()\n"
        )
        subprocess.run([sys.executable, "-c", write], check=True, timeout=60)
        seen.append(entries())
    assert seen == [1, 2, 3]
    assert paths.database.with_name("state.db-wal").exists()  # ours: nobody else removes it
    first.close()
    second.close()
