"""The gateway's read side of the store: stages, functions, domains and a generation.

Each table is read through the module that owns it (:mod:`teal.cloud.local.gateway.rest_apis`,
:mod:`teal.cloud.local.functions.catalog`); neither loads the stack engine, which the
gateway does not need.

The gateway polls :meth:`StoreServingState.generation` for every request and
re-reads the rest only when it moved; every change that affects serving bumps
it in the same transaction as the change. The generation itself is read only
when the database may have changed (:class:`teal.cloud.local.store.CommitWatch`:
one 48-byte read where a query cost 3 µs, 8 % of the gateway's time under
load). Each thread gets its own connection, since the gateway may read from
several.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time

from teal.cloud.local.functions import catalog
from teal.cloud.local.gateway import rest_apis
from teal.cloud.local.model import DomainRoute, FunctionSpec, ServedStage
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.store import CommitWatch, connect, migrate, read_generation


class StoreServingState:
    """:class:`teal.cloud.local.model.ServingState` over the local cloud's SQLite state."""

    def __init__(self, paths: LocalPaths) -> None:
        self.paths = paths
        self._local = threading.local()
        migrate(self._conn(), paths.database)
        # the index's file exists while a connection of this process is open
        self._commits = CommitWatch(paths.database, time.monotonic)
        self._generation = 0
        self._watch_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.paths.database)
            self._local.conn = conn
        return conn

    def generation(self) -> int:
        with self._watch_lock:  # one look and its read at a time: the watch has one memory
            if not self._commits.quiet_since_last_look():
                try:
                    self._generation = read_generation(self._conn())
                except BaseException:
                    self._commits.forget()
                    raise
            return self._generation

    def stage(self, api_id: str, stage_name: str) -> ServedStage | None:
        return rest_apis.served_stage(self._conn(), api_id, stage_name)

    def function_by_arn(self, arn: str) -> FunctionSpec | None:
        conn = self._conn()
        spec = catalog.function_by_arn(conn, arn)
        if spec is None:
            return None
        arns = catalog.gateway_source_arns(conn, spec.name)
        canary = spec.canary and dataclasses.replace(spec.canary, invoke_source_arns=arns)
        return dataclasses.replace(spec, invoke_source_arns=arns, canary=canary)

    def function_named(self, name: str) -> FunctionSpec | None:
        spec = catalog.function_named(self._conn(), name)
        return None if spec is None else self.function_by_arn(spec.arn)

    def domains(self) -> list[DomainRoute]:
        return rest_apis.domain_routes(self._conn())

    def api_key(self, api_id: str, stage_name: str, value: str) -> str | None:
        return rest_apis.accepted_api_key(self._conn(), api_id, stage_name, value)

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
