"""The local cloud's work grows linearly with a stack's size: counted, not timed.

Each apply is traced at the SQLite connection (every statement, with its
values), so a change that writes the whole API again for each of its
resources shows as SQL per resource growing with the API.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from teal.cloud.base import CREATE_COMPLETE, StackRequest
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.model import LOCAL_ARTIFACT_BUCKET
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.stacks.provisioner import BATCH_SIZE
from test_local_engine_support import Events, blog_request


@dataclass
class SqlTally:
    """Statements run and characters of SQL sent (values included)."""

    statements: int = 0
    characters: int = 0
    commits: int = 0
    recorded_in_one_commit: int = 0  # the most resources recorded by one transaction
    _recorded: int = field(default=0, repr=False)

    def __call__(self, sql: str) -> None:
        self.statements += 1
        self.characters += len(sql)
        if sql.startswith("INSERT INTO resources"):
            self._recorded += 1
        elif sql == "COMMIT":
            self.commits += 1
            self.recorded_in_one_commit = max(self.recorded_in_one_commit, self._recorded)
            self._recorded = 0

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

    # The same waves with sixteen times the resources: a few more batches, not more commits
    # per resource.
    assert small.commits <= large.commits <= small.commits + large_resources / BATCH_SIZE
    assert large.commits < large_resources / 50
    # 800 methods in one wave, in batches: other writers never wait for all of it.
    assert large.recorded_in_one_commit == BATCH_SIZE


def nested_request(cloud: LocalCloud, children: int) -> StackRequest:
    """A parent of ``children`` nested stacks, each a log group."""
    child = json.dumps({"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup"}}}).encode()
    key = f"templates/{hashlib.sha256(child).hexdigest()}.json"
    cloud.put_artifact(key, child)
    url = f"https://{LOCAL_ARTIFACT_BUCKET}.s3.us-east-1.amazonaws.com/{key}"
    page = {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": url}}
    return StackRequest(
        "parent", {"Resources": {f"Page{i}": page for i in range(children)}}, {}, {}
    )


def sqlite_work_of_delete(home: Path, children: int) -> int:
    """SQLite's work (in steps of its virtual machine) to delete a parent and its children."""
    cloud = LocalCloud(LocalPaths(home))
    cloud.apply_stack(nested_request(cloud, children), Events())
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    cloud.store.connection.set_progress_handler(count, 100)
    cloud.delete_stack("parent", Events())
    cloud.close()
    return steps


def test_deleting_each_nested_stack_costs_the_same_however_many_siblings_it_has(
    tmp_path: Path,
) -> None:
    few = sqlite_work_of_delete(tmp_path / "few", 12) / 12
    many = sqlite_work_of_delete(tmp_path / "many", 48) / 48

    assert many < 1.05 * few
