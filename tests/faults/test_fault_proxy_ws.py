"""Each WebSocket fault, observed by a real websockets client through the proxy with real anvil behind it.

Blocks are mined straight on anvil (not through the proxy), so what the client sees is only what
the proxy chose to forward.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets

from devnet.anvil import Anvil
from devnet.fault_proxy import FaultProxy
from tests.faults.helpers import WsClient, rpc
from tests.waiting import wait_until_async

pytestmark = pytest.mark.anvil


async def _subscribed(url: str) -> WsClient:
    client = await WsClient.connect(url)
    answer = await client.request("eth_subscribe", "newHeads")
    assert answer["result"].startswith("0x")
    return client


def test_notifications_and_answers_flow_through(proxy: FaultProxy, anvil: Anvil) -> None:
    async def go() -> None:
        client = await _subscribed(proxy.ws_url)
        await rpc(anvil.http_url, "evm_mine")
        head = await asyncio.wait_for(client.notifications.get(), 5)
        assert head["number"] == await rpc(anvil.http_url, "eth_blockNumber")
        await client.close()

    asyncio.run(go())


def test_wsstall_swallows_notifications_but_answers_requests(proxy: FaultProxy, anvil: Anvil) -> None:
    async def go() -> None:
        client = await _subscribed(proxy.ws_url)
        proxy.apply("wsstall")
        await rpc(anvil.http_url, "evm_mine")
        await rpc(anvil.http_url, "evm_mine")
        await wait_until_async(lambda: proxy.stats().get("ws_stalled", 0) == 2, what="two swallowed heads")
        assert int((await client.request("eth_chainId"))["result"], 16) == anvil.chain_id
        proxy.clear()
        await rpc(anvil.http_url, "evm_mine")
        head = await asyncio.wait_for(client.notifications.get(), 5)
        assert head["number"] == await rpc(anvil.http_url, "eth_blockNumber")  # the two before never came
        assert client.notifications.empty()
        await client.close()

    asyncio.run(go())


def test_stale_freezes_new_heads_and_chainid_rewrites_ws_answers(proxy: FaultProxy, anvil: Anvil) -> None:
    async def go() -> None:
        client = await _subscribed(proxy.ws_url)
        await asyncio.to_thread(proxy.apply, "stale chainid=5")
        frozen = proxy.faults.stale_at
        assert frozen is not None
        await rpc(anvil.http_url, "evm_mine")
        await wait_until_async(lambda: proxy.stats().get("ws_stale", 0) == 1, what="a head above the frozen one")
        assert (await client.request("eth_chainId"))["result"] == "0x5"
        assert int((await client.request("eth_blockNumber"))["result"], 16) == frozen
        await asyncio.to_thread(proxy.clear)
        await rpc(anvil.http_url, "evm_mine")
        head = await asyncio.wait_for(client.notifications.get(), 5)
        assert int(head["number"], 16) == frozen + 2
        await client.close()

    asyncio.run(go())


def test_wsdelay_holds_notifications_back(proxy: FaultProxy, anvil: Anvil) -> None:
    async def go() -> None:
        client = await _subscribed(proxy.ws_url)
        proxy.apply("wsdelay=300ms")
        started = time.monotonic()
        await rpc(anvil.http_url, "evm_mine")
        await asyncio.wait_for(client.notifications.get(), 5)
        assert time.monotonic() - started >= 0.3  # a lower bound: sleep never returns early
        await client.close()

    asyncio.run(go())
    assert proxy.stats()["ws_delayed"] == 1


def test_wsdrop_closes_open_sockets_and_refuses_new_ones_until_cleared(proxy: FaultProxy) -> None:
    async def go() -> None:
        client = await _subscribed(proxy.ws_url)
        await asyncio.to_thread(proxy.apply, "wsdrop")
        await asyncio.wait_for(client.closed.wait(), 5)
        with pytest.raises(websockets.InvalidStatus):
            await WsClient.connect(proxy.ws_url)
        await asyncio.to_thread(proxy.clear)
        again = await _subscribed(proxy.ws_url)
        await again.close()

    asyncio.run(go())
    assert proxy.stats()["ws_dropped"] == 1 and proxy.stats()["ws_refused"] == 1


def test_drop_websockets_is_a_one_off(proxy: FaultProxy, anvil: Anvil) -> None:
    async def go() -> None:
        client = await _subscribed(proxy.ws_url)
        assert await asyncio.to_thread(proxy.drop_websockets) == 1
        await asyncio.wait_for(client.closed.wait(), 5)
        again = await _subscribed(proxy.ws_url)
        await rpc(anvil.http_url, "evm_mine")
        head = await asyncio.wait_for(again.notifications.get(), 5)
        assert head["number"] == await rpc(anvil.http_url, "eth_blockNumber")  # the new socket is subscribed
        await again.close()

    asyncio.run(go())


def test_wsgarbage_corrupts_notifications_on_the_same_subscription(proxy: FaultProxy, anvil: Anvil) -> None:
    async def go() -> None:
        client = await _subscribed(proxy.ws_url)
        proxy.apply("wsgarbage")
        await rpc(anvil.http_url, "evm_mine")
        junk = await asyncio.wait_for(client.notifications.get(), 5)
        assert junk["number"] == "0xnotanumber" and "hash" not in junk
        await client.close()

    asyncio.run(go())
    assert proxy.stats()["ws_garbage"] == 1
