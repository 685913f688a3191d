"""Wrong ids, oversize bodies, per-method counts and a restart on the same port, each observed by a
real client (aiohttp, websockets) through the proxy with real anvil behind it."""

from __future__ import annotations

import asyncio

import aiohttp
import msgspec
import pytest

from console.registry import CommandRegistry
from devnet.anvil import Anvil
from devnet.fault_proxy import DEFAULT_DECLARED_BYTES, FaultProxy, register_fault_commands
from tests.faults.helpers import WsClient, call, post, rpc

pytestmark = pytest.mark.anvil

CAP = 1 << 20  # what a capped reader accepts in these tests


async def read_capped(url: str, body: object, cap: int = CAP) -> tuple[int | None, bytes, bool]:
    """POST and read at most `cap` bytes as they stream in: (declared length, bytes read, over the cap)."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s,
        s.post(url, data=msgspec.json.encode(body), headers={"Content-Type": "application/json"}) as r,
    ):
        got = bytearray()
        async for chunk in r.content.iter_chunked(65536):
            got += chunk
            if len(got) > cap:
                return r.content_length, bytes(got), True
        return r.content_length, bytes(got), False


def test_badid_answers_single_and_batch_calls_with_ids_never_sent(proxy: FaultProxy, anvil: Anvil) -> None:
    from rpc.codec import decode_answer, decode_batch
    from rpc.errors import EndpointFault

    proxy.apply("badid")

    async def go() -> None:
        truth = await rpc(anvil.http_url, "eth_chainId")
        _, _, body = await post(proxy.url, call("eth_chainId", id=41))
        single = msgspec.json.decode(body)
        assert single["id"] != 41 and single["result"] == truth  # anvil's answer, under a wrong id
        with pytest.raises(EndpointFault) as fault:
            decode_answer(body, 41)
        assert fault.value.kind.value == "mismatched_id"
        _, _, body = await post(proxy.url, [call("eth_chainId", id=1), call("eth_blockNumber", id=2)])
        batch = msgspec.json.decode(body)
        assert len(batch) == 2 and not {a["id"] for a in batch} & {1, 2}
        assert {a["result"] for a in batch} >= {truth}
        with pytest.raises(EndpointFault) as fault:
            decode_batch(body, 1, 2)
        assert fault.value.kind.value == "mismatched_id"
        string_id = {"jsonrpc": "2.0", "id": "abc", "method": "eth_chainId", "params": []}
        _, _, body = await post(proxy.url, string_id)
        assert msgspec.json.decode(body)["id"] not in ("abc", None)
        proxy.apply("badid=off")
        _, _, body = await post(proxy.url, call("eth_chainId", id=41))
        assert decode_answer(body, 41).result == truth

    asyncio.run(go())
    assert proxy.stats()["bad_id"] == 3


def test_oversize_streams_a_valid_answer_of_exactly_that_size(proxy: FaultProxy) -> None:
    proxy.apply("oversize=256kb")

    async def go() -> None:
        declared, body, over = await read_capped(proxy.url, call("eth_chainId", id=9))
        assert declared is None and not over  # chunked: no Content-Length to refuse it by
        assert len(body) == 256 * 1024
        answer = msgspec.json.decode(body)
        assert answer["id"] == 9 and answer["result"].startswith("0x000")
        _, body, _ = await read_capped(proxy.url, [call("eth_chainId", id=1), call("eth_blockNumber", id=2)])
        assert len(body) == 256 * 1024 and [a["id"] for a in msgspec.json.decode(body)] == [1, 2]

    asyncio.run(go())
    assert proxy.stats()["oversize"] == 2


def test_default_oversize_is_stopped_only_by_a_capped_reader_and_the_proxy_carries_on(proxy: FaultProxy) -> None:
    proxy.apply("oversize")

    async def go() -> None:
        declared, body, over = await read_capped(proxy.url, call("eth_getBalance", "0x" + "00" * 20, "latest"))
        assert declared is None and over and body.startswith(b'{"jsonrpc":"2.0","id":1,"result":"0x0000')
        proxy.clear()
        assert await rpc(proxy.url, "eth_chainId")  # the abandoned stream did not wedge the proxy

    asyncio.run(go())


def test_declared_oversize_announces_a_huge_length_then_closes(proxy: FaultProxy) -> None:
    async def go() -> None:
        proxy.apply("oversize=declared")
        async with aiohttp.ClientSession() as s, s.post(proxy.url, json=call("eth_chainId")) as r:
            assert r.status == 200 and r.content_length == DEFAULT_DECLARED_BYTES
            first = await r.content.read(10)
            assert first == b'{"jsonrpc"'
            with pytest.raises(aiohttp.ClientPayloadError):  # a reader that ignores the header sees it cut
                await r.read()
        proxy.apply("oversize=declared:2mb")
        async with aiohttp.ClientSession() as s, s.post(proxy.url, json=call("eth_chainId")) as r:
            assert r.content_length == 2 * 1024 * 1024  # a capped reader refuses it here, reading nothing

    asyncio.run(go())
    assert proxy.stats()["oversize"] == 2


def test_stats_count_calls_per_method_over_http_and_ws_faulted_or_not(proxy: FaultProxy) -> None:
    async def go() -> None:
        await rpc(proxy.url, "eth_chainId")
        await post(proxy.url, [call("eth_blockNumber", id=1), call("eth_chainId", id=2)])
        ws = await WsClient.connect(proxy.ws_url)
        try:
            assert (await ws.request("eth_chainId"))["result"]
        finally:
            await ws.close()
        proxy.apply("error=500")
        status, _, _ = await post(proxy.url, call("eth_getBalance", "0x" + "00" * 20, "latest"))
        assert status == 500

    asyncio.run(go())
    stats = proxy.stats()
    assert stats["method:eth_chainId"] == 3 and stats["method:eth_blockNumber"] == 1
    assert stats["method:eth_getBalance"] == 1  # counted before the fault answered it
    assert proxy.calls("eth_chainId", "eth_blockNumber") == 4 and proxy.calls("eth_call") == 0


def test_a_stopped_proxy_restarts_on_the_same_port_with_its_faults_and_counts(
    proxy: FaultProxy, anvil: Anvil
) -> None:
    port = proxy.port
    proxy.apply("chainid=5")

    async def go() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s:
            async with s.post(proxy.url, json=call("eth_chainId")) as r:  # a pooled keep-alive connection
                assert (await r.json())["result"] == "0x5"
            ws = await WsClient.connect(proxy.ws_url)
            await asyncio.to_thread(proxy.stop)
            assert not proxy.running
            await asyncio.wait_for(ws.closed.wait(), 5)  # open sockets are closed by the stop
            with pytest.raises(aiohttp.ClientConnectionError):  # refused, or the pooled connection is gone
                async with s.post(proxy.url, json=call("eth_chainId")) as r:
                    await r.read()
            with pytest.raises(aiohttp.ClientConnectorError):  # a fresh connection is refused
                await post(proxy.url, call("eth_chainId"))
            await asyncio.to_thread(proxy.start)
            assert proxy.running and proxy.port == port
            async with s.post(proxy.url, json=call("eth_chainId")) as r:
                assert (await r.json())["result"] == "0x5"  # the faults survived the restart
            ws = await WsClient.connect(proxy.ws_url)
            try:
                assert (await ws.request("eth_blockNumber"))["result"] == await rpc(anvil.http_url, "eth_blockNumber")
            finally:
                await ws.close()

    asyncio.run(go())
    assert proxy.start().port == port  # starting a running proxy is a no-op
    assert proxy.calls("eth_chainId") >= 2 and proxy.stats()["ws_connect"] == 2


def test_console_help_documents_the_new_faults(proxy: FaultProxy) -> None:
    registry = CommandRegistry()
    register_fault_commands(registry, {"rpc:primary": proxy})
    help_text = registry.run(["fault", "--help"]).body or ""
    assert "badid" in help_text and "oversize=declared" in help_text
    answer = registry.run(["fault", "primary", "badid@50%", "oversize=declared:2mb@10%"])
    assert answer.ok and answer.body == "rpc:primary: badid@50% oversize=declared:2mb@10%"
