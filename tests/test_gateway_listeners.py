"""The gateway process's listeners follow the serving state's domains: a domain gone
loses its port without holding up the gateway while that port's requests finish."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from teal.cloud.local.functions.workers import WorkerManager
from teal.cloud.local.gateway.handler import Gateway
from teal.cloud.local.gateway.main import GatewayServer
from teal.cloud.local.model import DomainRoute
from teal.cloud.local.paths import LocalPaths
from test_gateway_support import FakeServingState, free_port


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


def test_a_domain_gone_stops_listening_at_once_and_health_does_not_wait(
    tmp_path: Path,
) -> None:
    state = FakeServingState()
    main_port, domain_port = free_port(), free_port()
    state.put_domain(DomainRoute("api.example.com", domain_port, {"": ("api", "dev")}))

    async def scenario() -> None:
        workers = WorkerManager(LocalPaths(tmp_path / "home"))
        server = GatewayServer(Gateway(state, workers, main_port=main_port), workers, main_port)
        ready = asyncio.Event()
        running = asyncio.create_task(server.run(ready.set))
        await ready.wait()
        # a request the domain's port took and is still receiving: answered once whole
        reader, writer = await connect(domain_port)
        writer.write(b"GET / HTTP/1.1\r\nHost: api.example.com\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        del state.domain_routes["api.example.com"]
        state.counter += 1
        details = await asyncio.wait_for(server.health_details(), 3)
        assert details["unbound_domains"] == []
        with pytest.raises(ConnectionRefusedError):
            await connect(domain_port)
        writer.write(b"\r\n")  # the request ends: answered, then the connection closes
        answer = await asyncio.wait_for(reader.read(), 3)
        assert answer.startswith(b"HTTP/1.1 403 ")
        assert b"\r\nConnection: close\r\n" in answer
        writer.close()
        server.stop()
        await asyncio.wait_for(running, 5)

    asyncio.run(scenario())
