"""Each HTTP fault, observed by a real aiohttp client through the proxy with real anvil behind it."""

from __future__ import annotations

import asyncio
import threading
import time

import aiohttp
import msgspec
import pytest

from console.registry import CommandRegistry
from devnet.anvil import Anvil
from devnet.fault_proxy import FaultProxy, FaultSpec, register_fault_commands
from tests.faults.helpers import call, post, rpc
from tests.waiting import wait_until_async

pytestmark = pytest.mark.anvil


def test_without_faults_the_proxy_is_transparent(proxy: FaultProxy, anvil: Anvil) -> None:
    async def go() -> None:
        assert int(await rpc(proxy.url, "eth_chainId"), 16) == anvil.chain_id
        status, _, body = await post(proxy.url, [call("eth_chainId", id=1), call("eth_blockNumber", id=2)])
        answers = msgspec.json.decode(body)
        assert status == 200 and [a["id"] for a in answers] == [1, 2]
        assert await rpc(proxy.url, "eth_blockNumber") == await rpc(anvil.http_url, "eth_blockNumber")

    asyncio.run(go())
    assert proxy.stats()["http"] == 3


def test_fixed_latency_delays_every_answer(proxy: FaultProxy) -> None:
    proxy.apply("latency=300ms")

    async def go() -> float:
        started = time.monotonic()
        await rpc(proxy.url, "eth_chainId")
        return time.monotonic() - started

    assert asyncio.run(go()) >= 0.3  # a lower bound: sleep never returns early
    assert proxy.stats()["latency"] == 1


def test_latency_on_a_fraction_of_calls_hits_about_that_fraction(proxy: FaultProxy) -> None:
    delay_s = 0.01
    proxy.apply(f"latency={delay_s * 1000:g}ms@10%")

    async def go() -> list[float]:
        took = []
        async with aiohttp.ClientSession() as s:
            for i in range(300):
                started = time.monotonic()
                async with s.post(proxy.url, json=call("eth_chainId", id=i)) as r:
                    assert r.status == 200
                took.append(time.monotonic() - started)
        return took

    took = asyncio.run(go())
    delayed = proxy.stats()["latency"]
    assert 15 <= delayed <= 50  # Binomial(300, 0.1): mean 30, sd 5.2
    # Each delayed answer waited the delay (a lower bound: sleep never returns early), so at least that
    # many answers took that long; without the fault a loopback answer takes about a millisecond.
    assert sum(t >= delay_s for t in took) >= delayed


def test_heavy_tailed_latency_delays_every_answer_and_some_far_more(proxy: FaultProxy) -> None:
    scale_s = 0.01
    proxy.apply(f"latency=pareto:{scale_s * 1000:g}ms:1.5")

    async def go() -> list[float]:
        took = []
        for _ in range(20):
            started = time.monotonic()
            await rpc(proxy.url, "eth_chainId")
            took.append(time.monotonic() - started)
        return took

    took = sorted(asyncio.run(go()))
    assert proxy.stats()["latency"] == 20
    # Lower bounds only (a sleep never returns early): a Pareto delay is never below its scale, so every
    # answer waited at least that long; and its tail is heavy, so some answer waited far longer. The
    # proxy's seed fixes the samples (the slowest is 7.2x the scale); a fixed 10 ms delay, or none,
    # fails here, since loopback answers without the fault take about a millisecond.
    assert took[0] >= scale_s, took
    assert took[-1] >= 5 * scale_s, took


def test_http_error_and_throttle_answers(proxy: FaultProxy) -> None:
    async def go() -> None:
        proxy.apply("error=503")
        status, _, _ = await post(proxy.url, call("eth_chainId"))
        assert status == 503
        proxy.apply("clear 429=2s")
        status, headers, _ = await post(proxy.url, call("eth_chainId"))
        assert status == 429 and headers["Retry-After"] == "2"
        proxy.clear()
        assert await rpc(proxy.url, "eth_chainId")

    asyncio.run(go())
    assert proxy.stats()["http_503"] == 1 and proxy.stats()["http_429"] == 1


def test_rpc_error_objects_answer_every_request_of_a_batch(proxy: FaultProxy) -> None:
    proxy.apply("rpcerror=-32005")

    async def go() -> None:
        status, _, body = await post(proxy.url, call("eth_chainId", id=41))
        single = msgspec.json.decode(body)
        assert status == 200 and single["id"] == 41 and single["error"]["code"] == -32005
        _, _, body = await post(proxy.url, [call("eth_chainId", id=5)])
        assert msgspec.json.decode(body)[0]["id"] == 5  # a batch of one is answered as a batch
        status, _, body = await post(proxy.url, [call("eth_chainId", id=1), call("eth_blockNumber", id=2)])
        batch = msgspec.json.decode(body)
        assert [a["id"] for a in batch] == [1, 2] and all(a["error"]["code"] == -32005 for a in batch)

    asyncio.run(go())


def test_garbage_html_and_truncated_bodies(proxy: FaultProxy) -> None:
    async def go() -> None:
        proxy.apply("garbage")
        status, _, body = await post(proxy.url, call("eth_chainId"))
        assert status == 200
        with pytest.raises(msgspec.DecodeError):
            msgspec.json.decode(body)
        proxy.apply("clear html")
        status, headers, body = await post(proxy.url, call("eth_chainId"))
        assert status == 200 and headers["Content-Type"].startswith("text/html") and body.startswith(b"<html>")
        proxy.apply("clear truncate")
        with pytest.raises(aiohttp.ClientPayloadError):
            await post(proxy.url, call("eth_getBlockByNumber", "latest", False))

    asyncio.run(go())
    assert {"garbage", "html", "truncate"} <= proxy.stats().keys()


def test_drop_closes_the_connection_without_an_answer(proxy: FaultProxy) -> None:
    proxy.apply("drop")

    async def go() -> None:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await post(proxy.url, call("eth_chainId"))

    asyncio.run(go())
    assert proxy.stats()["drop"] == 1


def test_stall_never_answers_until_cleared(proxy: FaultProxy) -> None:
    proxy.apply("stall")

    async def go() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await post(proxy.url, call("eth_chainId"), timeout=0.3)
        # a stalled request is still pending when the fault is cleared: it is then dropped, unanswered
        pending = asyncio.ensure_future(post(proxy.url, call("eth_chainId"), timeout=10))
        await wait_until_async(lambda: proxy.stats().get("stall", 0) >= 2, what="the second request stalled")
        await asyncio.to_thread(proxy.clear)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await pending
        assert await rpc(proxy.url, "eth_chainId")

    asyncio.run(go())


def test_wrong_chain_id_is_rewritten_in_single_and_batch_answers(proxy: FaultProxy) -> None:
    proxy.apply("chainid=1")

    async def go() -> None:
        assert await rpc(proxy.url, "eth_chainId") == "0x1"
        _, _, body = await post(proxy.url, [call("eth_blockNumber", id=1), call("eth_chainId", id=2)])
        answers = {a["id"]: a["result"] for a in msgspec.json.decode(body)}
        assert answers[2] == "0x1"
        assert answers[1] == await rpc(proxy.url, "eth_blockNumber")  # other answers untouched

    asyncio.run(go())


def test_stale_head_freezes_block_number_and_latest(proxy: FaultProxy, anvil: Anvil) -> None:
    async def go() -> None:
        await asyncio.to_thread(proxy.apply, "stale")
        frozen = proxy.faults.stale_at
        assert frozen is not None
        await rpc(anvil.http_url, "evm_mine")
        await rpc(anvil.http_url, "evm_mine")
        assert int(await rpc(anvil.http_url, "eth_blockNumber"), 16) == frozen + 2
        assert int(await rpc(proxy.url, "eth_blockNumber"), 16) == frozen
        latest = await rpc(proxy.url, "eth_getBlockByNumber", "latest", False)
        assert int(latest["number"], 16) == frozen
        assert await rpc(proxy.url, "eth_getBlockByNumber", hex(frozen + 1), False) is None  # not there yet
        _, _, body = await post(proxy.url, [call("eth_blockNumber", id=7)])  # a batch of one stays a batch
        assert msgspec.json.decode(body) == [{"jsonrpc": "2.0", "id": 7, "result": hex(frozen)}]
        await asyncio.to_thread(proxy.apply, "stale=off")
        assert int(await rpc(proxy.url, "eth_blockNumber"), 16) == frozen + 2

    asyncio.run(go())


def test_upstream_down_is_a_502_not_a_hang() -> None:
    with FaultProxy("http://127.0.0.1:9", name="nowhere") as p:
        status, _, body = asyncio.run(post(p.url, call("eth_chainId")))
        assert p.stats()["upstream_down"] == 1  # the proxy's own answer, naming the cause
    assert status == 502 and b"upstream unreachable" in body


def test_many_proxies_share_one_loop_thread(anvil: Anvil) -> None:
    with FaultProxy(anvil.http_url, name="first"):
        before = threading.active_count()
        proxies = [FaultProxy(anvil.http_url, name=f"p{i}").start() for i in range(8)]
        try:
            assert threading.active_count() == before
            assert len({p.port for p in proxies}) == 8
            assert all(asyncio.run(rpc(p.url, "eth_chainId")) for p in proxies[:2])
        finally:
            for p in proxies:
                p.stop()


def test_console_fault_command_changes_the_running_proxy(proxy: FaultProxy) -> None:
    registry = CommandRegistry()
    register_fault_commands(registry, {"rpc:secondary": proxy})
    answer = registry.run(["fault", "rpc:secondary", "error=500@20%", "latency=300ms"])
    assert (answer.ok, answer.body) == (True, "rpc:secondary: latency=300ms error=500@20%")
    assert proxy.faults.http_error == (500, 0.2)
    assert registry.run(["faults"]).body == "rpc:secondary: latency=300ms error=500@20%"
    assert registry.run(["fault", "secondary"]).body == "rpc:secondary: latency=300ms error=500@20%"
    assert registry.run(["fault", "ws:secondary", "clear"]).body == "rpc:secondary: clear"
    assert proxy.faults == FaultSpec()
    bad = registry.run(["fault", "rpc:secondary", "latency=fast"])
    assert not bad.ok and "latency=fast" in (bad.error or "") and proxy.faults == FaultSpec()
    missing = registry.run(["fault", "rpc:nope", "drop"])
    assert not missing.ok and "no fault proxy in front of 'rpc:nope'" in (missing.error or "")
    assert "wsstall" in (registry.run(["fault", "--help"]).body or "")


def test_only_scopes_the_http_faults_to_the_methods_named(proxy: FaultProxy, anvil: Anvil) -> None:
    """`only=eth_sendRawTransaction error=503`: the send path is down, reads are still served."""
    proxy.apply("only=eth_sendRawTransaction error=503")

    async def go() -> None:
        assert await rpc(proxy.url, "eth_blockNumber") == await rpc(anvil.http_url, "eth_blockNumber")
        status, _, _ = await post(proxy.url, call("eth_sendRawTransaction", "0x00"))
        assert status == 503
        status, _, _ = await post(proxy.url, [call("eth_chainId", id=1), call("eth_sendRawTransaction", "0x00", id=2)])
        assert status == 503  # a batch that sends is refused whole, as the fault says
        proxy.apply("only=off")
        status, _, _ = await post(proxy.url, call("eth_chainId"))
        assert status == 503  # unscoped again: every request

    asyncio.run(go())
    assert proxy.stats()["http_503"] == 3


def test_console_fault_down_refuses_connections_and_up_brings_the_endpoint_back(proxy: FaultProxy) -> None:
    registry = CommandRegistry()
    register_fault_commands(registry, {"rpc:secondary": proxy})
    port = proxy.port
    answer = registry.run(["fault", "rpc:secondary", "down"])
    assert answer.ok and "down (connections refused)" in answer.body and not proxy.running
    assert registry.run(["faults"]).body == "rpc:secondary: clear (down)"

    async def refused() -> bool:
        try:
            await post(proxy.url, call("eth_chainId"), timeout=2.0)
        except aiohttp.ClientConnectorError:
            return True
        return False

    assert asyncio.run(refused())
    answer = registry.run(["fault", "rpc:secondary", "up"])
    assert answer.ok and answer.body == "rpc:secondary: up; clear" and proxy.port == port
    assert asyncio.run(rpc(proxy.url, "eth_chainId"))
