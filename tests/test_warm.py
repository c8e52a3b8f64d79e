"""Warm before traffic, end to end on the local cloud: a switch readies the target's
workers before the mapping moves, to [functions.NAME] warm or to the live peak;
``--no-warm`` does not; a warm-up reaches no handler; an app that fails to start
stops the switch while the live environment keeps serving."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from e2e import LocalCloudEnv, get, rename_id_to_post_id

KILLED = -9  # the CLI killed itself at a crash point, as kill -9 would
SLOW_ROUTE = """

@app.route("/slow", function="posts")
def slow(request):
    import time

    time.sleep(1.0)
    return {"slow": True}
"""
COUNTING_HOME = """

HOME_CALLS = []


@app.route("/", function="home")
def home(request):
    HOME_CALLS.append(1)
    return {"calls": len(HOME_CALLS), "pid": os.getpid()}
"""


def workers_of(cloud: LocalCloudEnv) -> Counter[str]:
    """The gateway's workers, counted by Lambda function."""
    status = cloud.teal_ok("local", "status", "--json").json()
    return Counter(str(w["function"]) for w in status["workers"])


def lambda_versions_of(cloud: LocalCloudEnv, function: str) -> set[str]:
    """The Lambda versions the function's workers run ("1", or "$LATEST")."""
    status = cloud.teal_ok("local", "status", "--json").json()
    return {str(w["lambda_version"]) for w in status["workers"] if w["function"] == function}


def serving_version(url: str) -> str:
    code, body = get(url + "health")
    assert code == 200, body
    return str(json.loads(body)["version"])


def fix_warm(cloud: LocalCloudEnv, function: str, n: int) -> None:
    toml = cloud.project / "teal.toml"
    toml.write_text(toml.read_text() + f"\n[functions.{function}]\nwarm = {n}\n")


def switch_until_pointing(cloud: LocalCloudEnv, *flags: str) -> Any:
    """``teal switch --to 2``, killed just before it moves the mapping (after warming)."""
    args = ("switch", "--to", "2", "--skip-checks", *flags)
    killed = cloud.teal(*args, env={"TEAL_CRASH_AT": "switch:recorded"})
    assert killed.code == KILLED, killed
    return killed


def test_a_switch_warms_the_target_to_its_warm_setting_before_the_mapping_moves(
    local_cloud: LocalCloudEnv,
) -> None:
    fix_warm(local_cloud, "posts", 3)
    domain = local_cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    local_cloud.edit_app('VERSION = "1"', 'VERSION = "2"')
    local_cloud.teal_ok("deploy", "--extra", "2")
    assert not any(name.startswith("blog-dev-2-") for name in workers_of(local_cloud))

    killed = switch_until_pointing(local_cloud)

    assert "warming blog-dev-2 before traffic" in killed.err
    workers = workers_of(local_cloud)
    assert workers["blog-dev-2-posts"] == 3  # [functions.posts] warm = 3
    assert workers["blog-dev-2-home"] == 1  # nothing ran live: at least one each
    # the workers of the version the alias points at, which the requests will reach
    assert lambda_versions_of(local_cloud, "blog-dev-2-posts") == {"1"}
    assert serving_version(domain) == "1"  # the mapping had not moved yet


def test_no_warm_moves_traffic_to_a_cold_target(local_cloud: LocalCloudEnv) -> None:
    fix_warm(local_cloud, "posts", 3)
    local_cloud.teal_ok("deploy")
    local_cloud.teal_ok("deploy", "--extra", "2")

    killed = switch_until_pointing(local_cloud, "--no-warm")

    assert "warming" not in killed.err
    assert not any(name.startswith("blog-dev-2-") for name in workers_of(local_cloud))


def test_the_target_is_warmed_to_the_peak_the_live_environment_reached(
    local_cloud: LocalCloudEnv,
) -> None:
    (local_cloud.project / "app.py").write_text(
        (local_cloud.project / "app.py").read_text() + SLOW_ROUTE
    )
    domain = local_cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    local_cloud.teal_ok("deploy", "--extra", "2")
    answers: list[int] = []
    burst = [
        threading.Thread(target=lambda: answers.append(get(domain + "slow")[0])) for _ in range(4)
    ]
    for thread in burst:
        thread.start()
    for thread in burst:
        thread.join()
    assert answers == [200] * 4

    switch_until_pointing(local_cloud)  # the gateway wrote its peaks within a second

    assert workers_of(local_cloud)["blog-dev-2-posts"] == 4


def test_a_warm_up_runs_the_import_but_no_handler(local_cloud: LocalCloudEnv) -> None:
    app = local_cloud.project / "app.py"
    text = app.read_text()
    start = text.index('@app.route("/")\n')
    end = text.index("# The post handlers")
    app.write_text(text[:start] + text[end:] + COUNTING_HOME)
    fix_warm(local_cloud, "home", 2)
    domain = local_cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    local_cloud.teal_ok("deploy", "--extra", "2")

    # the checks and the verification request through the domain ask /health, not /
    switched = local_cloud.teal_ok("switch", "--to", "2", "--json").json()

    assert switched["warmed"]["home"] == 2 and switched["warm_seconds"] >= 0
    assert workers_of(local_cloud)["blog-dev-2-home"] == 2
    code, body = get(domain)
    assert code == 200, body
    assert json.loads(body)["calls"] == 1  # the warm-ups before it called no handler


def test_an_app_that_fails_to_start_stops_the_switch_and_live_keeps_serving(
    local_cloud: LocalCloudEnv,
) -> None:
    domain = local_cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    # imports fine where teal reads the routes; fails in the functions of blog-dev-2 only
    local_cloud.edit_app(
        'VERSION = "1"\n',
        'VERSION = "2"\nif os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "").startswith('
        '"blog-dev-2-"):\n    raise RuntimeError("DATABASE_URL is not set")\n',
    )
    local_cloud.teal_ok("deploy", "--extra", "2")

    failed = local_cloud.teal("switch", "--to", "2", "--skip-checks", "--json")

    assert failed.code == 1, failed
    error = failed.json()["error"]
    assert error["kind"] == "failed" and error["where"] == "blog-dev-2"
    assert "failed to start while warming" in error["what"]
    assert "RuntimeError: DATABASE_URL is not set" in error["what"]
    assert "teal logs --extra 2" in error["hint"]
    assert serving_version(domain) == "1"
    status = local_cloud.teal_ok("status", "--json").json()
    assert status["domains"][0]["live"] == "blog-dev"
    assert [h["action"] for h in status["history"]] == ["deploy", "deploy"]


def test_a_replacements_re_point_warms_the_new_functions_first(
    local_cloud: LocalCloudEnv,
) -> None:
    fix_warm(local_cloud, "posts", 2)
    local_cloud.teal_ok("deploy")
    rename_id_to_post_id(local_cloud)  # an update in place would fail: the API is replaced

    replaced = local_cloud.teal_ok("deploy", "--json").json()

    assert replaced["api_replaced"] is True
    assert replaced["warmed"]["posts"] == 2
    new_posts = [name for name in workers_of(local_cloud) if name.startswith("blog-dev-posts-")]
    assert [workers_of(local_cloud)[name] for name in new_posts] == [2]


def test_no_warm_re_points_a_replacement_cold(local_cloud: LocalCloudEnv) -> None:
    local_cloud.teal_ok("deploy")
    rename_id_to_post_id(local_cloud)

    replaced = local_cloud.teal_ok("deploy", "--no-warm", "--json").json()

    assert replaced["api_replaced"] is True
    assert (replaced["warmed"], replaced["warm_seconds"]) == (None, None)
