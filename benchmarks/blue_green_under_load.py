"""Requests through the custom domain while teal moves it, on the local cloud.

    python benchmarks/blue_green_under_load.py

Two scenes with the bundled example app, each in a private TEAL_HOME, each
with steady clients on the domain (``SteadyClient`` of the end-to-end tests,
Python threads: the counts matter here, not the rate):

1. *a resumed replacement*: rename ``{id}`` to ``{post_id}`` while ``/health``
   answers 500, so the replacement stops before the domain moves; then fix
   ``/health`` and deploy again under load. The old API must stay until the
   domain points at the new one: 0 failed requests.
2. *a watched switch to a broken environment*: ``--extra 2`` whose ``/posts``
   raises, ``teal switch --to 2 --watch 60s`` under load on ``/health`` and
   ``/posts``: the watch switches back by itself, ``/health`` loses nothing.

It prints the figures; it asserts nothing (the end-to-end tests do).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from e2e import EXAMPLE_BLOG, LocalCloudEnv, SteadyClient, free_port, rename_id_to_post_id
from test_e2e_guarded import BROKEN_POSTS, deploy_base_and_extra

HEALTHY = 'return {"status": "ok", "version": VERSION}'
FAILING = 'return Response({"status": "broken"}, status=500)'


def new_cloud(root: Path) -> LocalCloudEnv:
    project = root / "blog"
    shutil.copytree(EXAMPLE_BLOG, project)
    return LocalCloudEnv(root / "home", free_port(), project)


def resumed_replacement(cloud: LocalCloudEnv) -> None:
    domain = cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    rename_id_to_post_id(cloud)
    cloud.edit_app(HEALTHY, FAILING)
    stopped = cloud.teal("deploy")
    cloud.edit_app(FAILING, HEALTHY)
    with SteadyClient(domain + "health") as client:
        resumed = cloud.teal("deploy", "--json")
    print("1. resumed replacement")
    print(f"   deploy with a failing health check: exit {stopped.code}")
    print(f"   resumed deploy: exit {resumed.code}, action {resumed.json().get('action')}")
    print(f"   /health through the domain: {client.sent} requests, {len(client.failures)} failed")


def watched_switch(cloud: LocalCloudEnv) -> None:
    domain = deploy_base_and_extra(cloud, BROKEN_POSTS)
    with SteadyClient(domain + "health") as health, SteadyClient(domain + "posts") as posts:
        run = cloud.teal("switch", "--to", "2", "--watch", "60s", "--json")
    live = cloud.teal_ok("status", "--json").json()["domains"][0]["live"]
    print("2. watched switch to an environment whose /posts fails")
    print(f"   exit {run.code}, watch {json.dumps(run.json()['watch'])}")
    print(f"   /health through the domain: {health.sent} requests, {len(health.failures)} failed")
    print(f"   /posts through the domain: {posts.sent} requests, {len(posts.failures)} failed")
    print(f"   the domain serves {live} after it")


def main() -> int:
    for scene in (resumed_replacement, watched_switch):
        with tempfile.TemporaryDirectory() as folder:
            cloud = new_cloud(Path(folder))
            try:
                scene(cloud)
            finally:
                cloud.teal("local", "stop")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
