"""The local cloud's work grows linearly with a stack's size: counted, not timed.

Each apply is traced at the SQLite connection (every statement, with its
values), so a change that writes the whole API again for each of its
resources shows as SQL per resource growing with the API.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from teal.cloud.base import CREATE_COMPLETE
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.paths import LocalPaths
from test_local_engine_support import Events, blog_request


@dataclass
class SqlTally:
    """Statements run and characters of SQL sent (values included)."""

    statements: int = 0
    characters: int = 0
    commits: int = 0

    def __call__(self, sql: str) -> None:
        self.statements += 1
        self.characters += len(sql)
        self.commits += sql == "COMMIT"

    def per(self, resources: int) -> tuple[float, float]:
        return self.statements / resources, self.characters / resources


def traced_create(home: Path, routes: int) -> tuple[SqlTally, int]:
    """Create a stack of ``routes`` routes (two methods each); its SQL and resource count."""
    cloud = LocalCloud(LocalPaths(home))
    request = blog_request(cloud, routes=[(f"/items{i}", ("GET", "POST")) for i in range(routes)])
    tally = SqlTally()
    cloud.store.connection.set_trace_callback(tally)
    assert cloud.apply_stack(request, Events()).status == CREATE_COMPLETE
    cloud.store.connection.set_trace_callback(None)
    cloud.close()
    return tally, len(request.template["Resources"])


def test_sql_per_resource_stays_the_same_as_the_api_grows(tmp_path: Path) -> None:
    small, small_resources = traced_create(tmp_path / "small", 25)
    large, large_resources = traced_create(tmp_path / "large", 400)

    small_statements, small_characters = small.per(small_resources)
    large_statements, large_characters = large.per(large_resources)

    assert large_resources > 10 * small_resources
    assert large_statements <= small_statements
    assert large_statements <= 11
    assert large_characters < 1.2 * small_characters


def test_commits_are_per_wave_of_resources_not_per_resource(tmp_path: Path) -> None:
    small, _ = traced_create(tmp_path / "small", 25)
    large, large_resources = traced_create(tmp_path / "large", 400)

    assert large.commits == small.commits  # the same waves, sixteen times the resources
    assert large.commits < large_resources / 50


def test_the_api_gateway_service_does_not_import_the_resource_providers() -> None:
    """The providers build on the service, never the other way round."""
    probe = (
        "import sys, teal.cloud.local.apigateway; "
        "print('teal.cloud.local.resources' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
