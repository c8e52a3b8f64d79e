"""Which workers the gateway lets go after a switch: the rule of the workers, applied
to what the serving state says is live (served through a custom domain)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from teal.cloud.local.functions.workers import STANDBY_IDLE_S, WorkerManager
from teal.cloud.local.gateway.handler import Gateway, GatewayRequest
from teal.cloud.local.gateway.main import GatewayServer
from teal.cloud.local.model import DomainRoute
from teal.cloud.local.paths import LocalPaths
from test_gateway_support import FakeServingState

MAIN_PORT = 4510
DOMAIN_PORT = 4600


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(path: str, port: int = MAIN_PORT) -> GatewayRequest:
    return GatewayRequest("GET", path, "", (("host", f"127.0.0.1:{port}"),), b"", port)


def map_domain(state: FakeServingState, api_id: str) -> None:
    state.put_domain(DomainRoute("api.example.com", DOMAIN_PORT, {"": (api_id, "dev")}))


def test_after_a_switch_the_old_environments_workers_leave_once_idle(tmp_path: Path) -> None:
    paths = LocalPaths(tmp_path / "home")
    state = FakeServingState()
    state.deploy_app(paths, tmp_path / "blue", api_id="blue", version="v1")
    state.deploy_app(paths, tmp_path / "green", api_id="green", version="v2")
    map_domain(state, "blue")
    clock = Clock()

    async def scenario() -> list[set[str]]:
        workers = WorkerManager(paths, clock=clock)
        gateway = Gateway(state, workers, main_port=MAIN_PORT)
        server = GatewayServer(gateway, workers, MAIN_PORT)
        assert (await gateway.handle(get("/hello", DOMAIN_PORT))).status == 200  # blue, live
        green_url = "/restapis/green/dev/_user_request_/hello"
        assert (await gateway.handle(get(green_url))).status == 200  # green, tried first
        map_domain(state, "green")  # the switch: both stay deployed
        assert (await gateway.handle(get("/hello", DOMAIN_PORT))).json()["version"] == "v2"
        before = {w.function_name for w in workers.workers()}
        clock.now += STANDBY_IDLE_S
        await server.reap()
        after = {w.function_name for w in workers.workers()}
        # the old environment still answers its endpoint, with a cold start
        blue_url = "/restapis/blue/dev/_user_request_/hello"
        assert (await gateway.handle(get(blue_url))).json()["version"] == "v1"
        await workers.close()
        return [before, after]

    before, after = asyncio.run(scenario())
    assert before == {"blue-hello", "green-hello"}
    assert after == {"green-hello"}
