"""The local cloud's state: SQLite metadata and a content-addressed artifact folder.

Every change is one SQLite transaction (WAL mode), so a process killed at any
point leaves either the state before or the state after a change, never half
of one. The stack engine commits the resource operations of a dependency wave
together (each one a savepoint inside, all or nothing on its own) and records
on the stack row what it needs to roll back (the owner pid and the resources
as they were), so the next command can finish or undo an operation whose
process died.

Artifacts are written to a temporary file and renamed into place, so a reader
sees a whole file or none.

``$TEAL_HOME`` holds the apps' ``[app.environment]`` values in plain text, so
it is its owner's alone: the folder 0700, the database (and SQLite's -wal and
-shm files beside it) 0600. :func:`private_home` is the one way the folder is
created; an existing one that is looser is tightened when opened.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from teal.cloud.local.paths import LocalPaths
from teal.runtime.errors import UserError

SCHEMA_VERSION = 9
BUSY_TIMEOUT_S = 30.0

_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE stacks (
    name TEXT PRIMARY KEY,
    stack_id TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    template TEXT NOT NULL,
    parameters TEXT NOT NULL,
    tags TEXT NOT NULL,
    outputs TEXT NOT NULL,
    parent TEXT,
    owner_pid INTEGER,
    owner_start TEXT,
    previous TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE resources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stack TEXT NOT NULL,
    logical_id TEXT NOT NULL,
    type TEXT NOT NULL,
    physical_id TEXT NOT NULL,
    properties TEXT NOT NULL,
    attributes TEXT NOT NULL,
    current INTEGER NOT NULL
);
CREATE INDEX resources_by_stack ON resources (stack, logical_id);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stack TEXT NOT NULL,
    time TEXT NOT NULL,
    logical_id TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    physical_id TEXT
);
CREATE INDEX events_by_stack ON events (stack, seq);
CREATE TABLE named (kind TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
                    PRIMARY KEY (kind, name));
CREATE TABLE rest_apis (id TEXT PRIMARY KEY, name TEXT NOT NULL, model TEXT NOT NULL,
                        model_tag TEXT NOT NULL);
CREATE TABLE deployments (id TEXT PRIMARY KEY, api_id TEXT NOT NULL, routes TEXT NOT NULL);
CREATE TABLE stages (api_id TEXT NOT NULL, name TEXT NOT NULL, deployment_id TEXT NOT NULL,
                     variables TEXT NOT NULL, PRIMARY KEY (api_id, name));
CREATE TABLE functions (name TEXT PRIMARY KEY, arn TEXT NOT NULL UNIQUE, spec TEXT NOT NULL);
CREATE TABLE permissions (id TEXT PRIMARY KEY, function_name TEXT NOT NULL,
                          source_arn TEXT, principal TEXT NOT NULL, action TEXT NOT NULL);
CREATE TABLE domains (name TEXT PRIMARY KEY, port INTEGER NOT NULL UNIQUE, tags TEXT NOT NULL);
CREATE TABLE mappings (domain TEXT NOT NULL, base_path TEXT NOT NULL, api_id TEXT NOT NULL,
                       stage TEXT NOT NULL, PRIMARY KEY (domain, base_path));
CREATE TABLE locks (key TEXT PRIMARY KEY, owner TEXT NOT NULL);
CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL,
                      entry TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('generation', '0');
"""


def _schema_v2(conn: sqlite3.Connection) -> None:
    """Version 2: a RestApi's resources and methods as rows; child stacks by parent.

    Version 1 kept each RestApi's tree in ``rest_apis.model`` as
    ``{"root": id, "resources": {id: {"parent", "part", "methods": {verb: payload}}}}``,
    and rewrote all of it for every change of one resource or method.
    """
    conn.execute("CREATE INDEX stacks_by_parent ON stacks (parent)")
    conn.execute(
        "CREATE TABLE api_resources (api_id TEXT NOT NULL, id TEXT NOT NULL, parent_id TEXT, "
        "part TEXT, PRIMARY KEY (api_id, id))"
    )
    conn.execute(
        "CREATE TABLE api_methods (api_id TEXT NOT NULL, resource_id TEXT NOT NULL, "
        "verb TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (api_id, resource_id, verb))"
    )
    conn.execute(
        "CREATE TABLE rest_apis_v2 (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
        "root_id TEXT NOT NULL, model_tag TEXT NOT NULL)"
    )
    for api_id, name, model, tag in conn.execute(
        "SELECT id, name, model, model_tag FROM rest_apis"
    ).fetchall():
        tree = json.loads(model)
        resources = tree["resources"]
        conn.execute(
            "INSERT INTO rest_apis_v2 (id, name, root_id, model_tag) VALUES (?, ?, ?, ?)",
            (api_id, name, tree["root"], tag),
        )
        conn.executemany(
            "INSERT INTO api_resources (api_id, id, parent_id, part) VALUES (?, ?, ?, ?)",
            [(api_id, rid, item["parent"], item["part"]) for rid, item in resources.items()],
        )
        conn.executemany(
            "INSERT INTO api_methods (api_id, resource_id, verb, payload) VALUES (?, ?, ?, ?)",
            [
                (api_id, rid, verb, to_json(payload))
                for rid, item in resources.items()
                for verb, payload in item["methods"].items()
            ],
        )
    conn.execute("DROP TABLE rest_apis")
    conn.execute("ALTER TABLE rest_apis_v2 RENAME TO rest_apis")


# Version 3: a RestApi's BinaryMediaTypes, and the copy each deployment snapshots (a
# stage serves its deployment's list). Older APIs had none, as their templates set none.
_SCHEMA_V3 = """
ALTER TABLE rest_apis ADD COLUMN binary_media_types TEXT NOT NULL DEFAULT '[]';
ALTER TABLE deployments ADD COLUMN binary_media_types TEXT NOT NULL DEFAULT '[]';
"""

# Version 4: who may call an API. A RestApi's authorizers and gateway responses (a
# deployment snapshots both, as it snapshots the methods), and the account's API keys
# and usage plans (a plan lists the stages that accept its keys; they act at once).
_SCHEMA_V4 = """
CREATE TABLE api_authorizers (api_id TEXT NOT NULL, id TEXT NOT NULL, spec TEXT NOT NULL,
                              PRIMARY KEY (api_id, id));
CREATE TABLE api_gateway_responses (api_id TEXT NOT NULL, type TEXT NOT NULL,
                                    spec TEXT NOT NULL, PRIMARY KEY (api_id, type));
CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, value TEXT NOT NULL UNIQUE,
                       enabled INTEGER NOT NULL);
CREATE TABLE usage_plans (id TEXT PRIMARY KEY, name TEXT NOT NULL, stages TEXT NOT NULL);
CREATE TABLE usage_plan_keys (plan_id TEXT NOT NULL, key_id TEXT NOT NULL,
                              PRIMARY KEY (plan_id, key_id));
ALTER TABLE deployments ADD COLUMN authorizers TEXT NOT NULL DEFAULT '{}';
ALTER TABLE deployments ADD COLUMN gateway_responses TEXT NOT NULL DEFAULT '{}';
"""

# Version 5: what runs functions without a request. EventBridge rules (a rate counts
# from ``created_ms``), SQS queues and their messages (visible again at ``visible_ms``),
# and Lambda's event source mappings from a queue to a function. Times in ms since the
# epoch.
_SCHEMA_V5 = """
CREATE TABLE event_rules (name TEXT PRIMARY KEY, arn TEXT NOT NULL UNIQUE,
                          schedule TEXT, state TEXT NOT NULL, targets TEXT NOT NULL,
                          created_ms INTEGER NOT NULL);
CREATE TABLE queues (arn TEXT PRIMARY KEY, url TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
                     attributes TEXT NOT NULL, stand_in INTEGER NOT NULL DEFAULT 0);
CREATE TABLE queue_messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,
                             queue_arn TEXT NOT NULL, body TEXT NOT NULL,
                             sent_ms INTEGER NOT NULL, visible_ms INTEGER NOT NULL,
                             receive_count INTEGER NOT NULL DEFAULT 0,
                             first_receive_ms INTEGER, receipt TEXT);
CREATE INDEX queue_messages_ready ON queue_messages (queue_arn, visible_ms, seq);
CREATE TABLE event_source_mappings (uuid TEXT PRIMARY KEY, function_name TEXT NOT NULL,
                                    function_arn TEXT NOT NULL, source_arn TEXT NOT NULL,
                                    batch_size INTEGER NOT NULL, window_s INTEGER NOT NULL,
                                    enabled INTEGER NOT NULL);
"""

# Version 6: routing rules of custom domains (teal preview), and each domain's routing
# mode, which lets them go before the base path mappings. A rule's conditions are
# {"headers": [[name, glob]...], "base_paths": [...]}; its action
# {"api_id", "stage", "strip_base_path"}.
_SCHEMA_V6 = """
ALTER TABLE domains ADD COLUMN routing_mode TEXT NOT NULL DEFAULT 'BASE_PATH_MAPPING_ONLY';
CREATE TABLE routing_rules (id TEXT PRIMARY KEY, domain TEXT NOT NULL, priority INTEGER NOT NULL,
                            conditions TEXT NOT NULL, action TEXT NOT NULL,
                            UNIQUE (domain, priority));
"""

# Version 7: what each domain was made with ({"certificate_arn", "hosted_zone",
# "endpoint_type"}), which an app that shares the domain must not contradict.
_SCHEMA_V7 = """
ALTER TABLE domains ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
"""

# Version 8: the region a RestApi lives in (its stack's), which the ARNs API Gateway
# evaluates permissions and authorizer policies against carry. Older APIs were made
# when every local stack was in us-east-1.
_SCHEMA_V8 = """
ALTER TABLE rest_apis ADD COLUMN region TEXT NOT NULL DEFAULT 'us-east-1';
"""

# Version 9: Lambda's published versions (a function's spec as published, by number)
# and its aliases (the version they point at, and the weights of others:
# {"<version>": share}).
_SCHEMA_V9 = """
CREATE TABLE function_versions (function_name TEXT NOT NULL, version INTEGER NOT NULL,
                                spec TEXT NOT NULL, PRIMARY KEY (function_name, version));
CREATE TABLE aliases (function_name TEXT NOT NULL, name TEXT NOT NULL,
                      version INTEGER NOT NULL, weights TEXT NOT NULL DEFAULT '{}',
                      PRIMARY KEY (function_name, name));
"""

# Schema migrations by the version they produce; version 0 is an empty database.
# A migration is a script of statements, or a function for one that reshapes data.
Migration = str | Callable[[sqlite3.Connection], None]
MIGRATIONS: dict[int, Migration] = {
    1: _SCHEMA_V1,
    2: _schema_v2,
    3: _SCHEMA_V3,
    4: _SCHEMA_V4,
    5: _SCHEMA_V5,
    6: _SCHEMA_V6,
    7: _SCHEMA_V7,
    8: _SCHEMA_V8,
    9: _SCHEMA_V9,
}


class StateError(UserError):
    """The local cloud's state cannot be used (written by a newer teal, unreadable...)."""


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def private_home(home: Path) -> Path:
    """``$TEAL_HOME``, created readable by its owner only, or tightened if it is looser."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if home.resolve() not in (Path("/"), Path.home().resolve()):  # never someone's whole home
        _owner_only(home)
    return home


def _owner_only(path: Path) -> None:
    """Take every permission from group and others, if we own the file and they have any."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid == os.getuid() and mode & 0o077:
        path.chmod(mode & 0o700)


def _private_database(path: Path) -> None:
    """Create the database file 0600 (SQLite gives its -wal and -shm files the same mode).

    An existing file is never opened here: closing a descriptor of it would drop every
    POSIX lock this process holds on it, those of its open SQLite connections too, and
    another process could then take itself for the last user and delete the WAL under
    them (they would read a stale state from then on).
    """
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        _owner_only(file)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode that waits for writers instead of failing."""
    private_home(path.parent)
    _private_database(path)
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def migrate(conn: sqlite3.Connection, where: Path) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION`, one transaction per migration."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _schema_version(conn)
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state schema version {version} is newer than this teal supports "
                f"({SCHEMA_VERSION})",
                where=str(where),
                hint="upgrade teal, or reset the local cloud with `teal local reset`",
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            _run_migration(conn, MIGRATIONS[target])
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(target),),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _run_migration(conn: sqlite3.Connection, migration: Migration) -> None:
    if callable(migration):
        migration(conn)
        return
    for statement in _statements(migration):
        conn.execute(statement)


def _schema_version(conn: sqlite3.Connection) -> int:
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into statements (ours have no ';' inside literals)."""
    for statement in script.split(";"):
        if statement.strip():
            yield statement


class Store:
    """SQLite state of one local cloud; one instance per process and ``$TEAL_HOME``.

    Use :meth:`transaction` for every change; it serializes writers across
    processes (``BEGIN IMMEDIATE``) and commits or rolls back as a whole.
    """

    def __init__(self, paths: LocalPaths) -> None:
        self.paths = paths
        self._conn = connect(paths.database)
        self._lock = threading.RLock()
        self._depth = 0
        migrate(self._conn, paths.database)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic change; nested use is a savepoint of the outer transaction.

        A nested change that fails is undone alone and the outer one goes on,
        so many changes can share one commit and still each be all or nothing.
        """
        with self._lock:
            if self._depth:
                savepoint = f"nested_{self._depth}"
                self._conn.execute(f"SAVEPOINT {savepoint}")
                self._depth += 1
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute(f"ROLLBACK TO {savepoint}")
                    raise
                finally:
                    self._depth -= 1
                    self._conn.execute(f"RELEASE {savepoint}")
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for reads outside a transaction (same thread only)."""
        return self._conn

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads outside a transaction, from any thread.

        The reads of a table's owning module take a connection, as its writes do;
        this lends them the store's, held by this process's lock as :meth:`read`
        holds it, so another thread's statements do not interleave with theirs.
        """
        with self._lock:
            yield self._conn

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self.reading() as conn:
            return conn.execute(sql, args).fetchall()

    def read_one(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, args).fetchone()
            return row

    # Artifacts --------------------------------------------------------------

    def artifact_path(self, key: str) -> Path:
        check_artifact_key(key)
        return self.paths.artifact(key)

    def has_artifact(self, key: str) -> bool:
        return self.artifact_path(key).is_file()

    def put_artifact(self, key: str, data: bytes) -> None:
        """Write atomically: a temporary file in the same folder, then a rename."""
        target = self.artifact_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete_artifact(self, key: str) -> None:
        self.artifact_path(key).unlink(missing_ok=True)

    def read_artifact(self, key: str) -> bytes:
        return self.artifact_path(key).read_bytes()


def bump_generation(conn: sqlite3.Connection) -> None:
    """Tell the gateway that something it serves changed (same transaction as the change)."""
    conn.execute(
        "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'generation'"
    )


def read_generation(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    return int(row[0]) if row else 0


class CommitWatch:
    """Whether anyone may have committed to a WAL-mode database since the last look,
    for one 48-byte read instead of a query.

    Every commit rewrites the WAL index header at the start of the database's
    ``-shm`` file (a change counter, the last frame, checksums: SQLite's
    "WAL-mode file format"), so the same 48 bytes as at the last look mean no
    commit came in between. Only a hint: without the file, after a short read,
    and at least every :data:`COMMIT_WATCH_RECHECK_S` the answer is "maybe", and
    the caller reads the database itself. A read (``pread``), not a memory map:
    a file cut short under a map would end the process with SIGBUS.
    """

    HEADER_BYTES = 48

    def __init__(self, database: Path, clock: Callable[[], float]) -> None:
        real = database.resolve()  # SQLite follows a symlinked database to name its -shm
        self._shm = str(real.with_name(real.name + "-shm"))
        self._clock = clock
        self._seen = b""
        self._looked_at = float("-inf")

    def quiet_since_last_look(self) -> bool:
        """True when nothing was committed since the previous call that returned False.

        A False answer starts the next interval at this call: the caller reads
        the database after it (and calls :meth:`forget` if that read fails), so
        a commit between the two is seen next time.
        """
        now = self._clock()
        recheck = now - self._looked_at >= COMMIT_WATCH_RECHECK_S
        header = _shm_header(self._shm, reopen=recheck)
        if len(header) == self.HEADER_BYTES and header == self._seen and not recheck:
            return True
        self._seen, self._looked_at = header, now
        return False

    def forget(self) -> None:
        """The read after the last look failed: the next look says "maybe"."""
        self._seen, self._looked_at = b"", float("-inf")


COMMIT_WATCH_RECHECK_S = 1.0  # a safety net: the database is read at least this often

# -shm path -> a read-only descriptor, opened once per process and never closed: closing
# any descriptor of a file drops every POSIX lock the process holds on it, SQLite's own
# (its connections lock the -shm file) included; SQLite keeps its descriptors for that
# reason too. One per database a process watches.
_SHM_DESCRIPTORS: dict[str, int] = {}
_SHM_LOCK = threading.Lock()


def _shm_header(path: str, *, reopen: bool) -> bytes:
    """The first bytes of a -shm file; b"" without one. ``reopen``: first make sure the
    descriptor is of the file now at ``path`` (a new one if it was replaced)."""
    if not _CAN_PREAD:  # Windows: every look says "maybe"
        return b""
    with _SHM_LOCK:
        fd = _SHM_DESCRIPTORS.get(path)
        try:
            if fd is None or (reopen and os.stat(path).st_ino != os.fstat(fd).st_ino):
                fd = _SHM_DESCRIPTORS[path] = os.open(path, os.O_RDONLY | _CLOEXEC)
            return os.pread(fd, CommitWatch.HEADER_BYTES, 0)
        except OSError:
            return b""


_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_CAN_PREAD = hasattr(os, "pread")


def check_artifact_key(key: str) -> None:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise UserError(
            f"invalid artifact key {key!r}",
            where="local artifact store",
            hint="keys are relative paths such as code/<sha256>.zip",
        )
