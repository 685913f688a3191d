"""The soak's alert-channel fault: a fake service that goes down refuses connections, kept-alive ones
included, and comes back on the same port."""

from __future__ import annotations

import asyncio

import aiohttp

from devnet.fake_services import FakeServices


def test_a_fake_service_down_refuses_even_a_kept_alive_connection_and_up_serves_again() -> None:
    async def post(session: aiohttp.ClientSession, url: str) -> int | str:
        try:
            async with session.post(url + "?wait=true", json={"content": "hello ref 1"}) as answer:
                return answer.status
        except aiohttp.ClientConnectionError as exc:
            return type(exc).__name__

    async def go(fake: FakeServices) -> list[int | str]:
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as session:  # one session: its connection is kept alive
            seen = [await post(session, fake.discord_url)]
            await loop.run_in_executor(None, fake.down)
            seen.append(await post(session, fake.discord_url))
            await loop.run_in_executor(None, fake.up)
            seen.append(await post(session, fake.discord_url))
        return seen

    with FakeServices() as fake:
        port = fake.port
        seen = asyncio.run(go(fake))
        assert seen[0] == 200 and seen[2] == 200, seen
        assert seen[1] in ("ClientConnectorError", "ServerDisconnectedError", "ClientOSError"), seen
        assert fake.port == port and fake.serving
        assert len(fake.accepted("discord")) == 2
