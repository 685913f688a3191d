"""WebSocket failover against real anvil behind three fault proxies: whatever happens to the active
endpoint (socket dropped, notifications stalled, head frozen, junk notifications, its actor crashed,
proxy killed) or to the
manager itself (crashed and restarted), the subscriber gets every head and every Transfer log exactly
once and in order, checked against anvil's own chain. Run with standby streams (lag detection) and
without (stall timeout only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devnet.fault_proxy import FaultProxy
from protocol.chain import FeedStatus, LogEvent, LogFilter, NewHead, Reorg, Subscribe, Subscribed, SubscriptionKind
from protocol.supervision import Crash
from supervision import Handle
from tests.network_ws.conftest import TRANSFER_TOPIC, Chain, Network

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(90)]

MANAGER = Handle("/network/subscriptions")


def heads(inbox: list[Any]) -> list[NewHead]:
    return [m for m in inbox if isinstance(m, NewHead)]


def status() -> dict[str, Any]:
    answer: dict[str, Any] = MANAGER.ask(FeedStatus(), timeout=5.0, wait_s=5.0)
    return answer


def break_active(network: Network, fault: Callable[[str], object]) -> str:
    """Break the active endpoint with `fault(name)`, wait for the failover and a few heads after it."""
    before = network.wait_status(lambda st: st["streaming"], 20, "a live stream")
    victim = before["active"]
    fault(victim)
    seen = len(heads(network.snapshot()))
    network.wait(lambda ib: len(heads(ib)) >= seen + 1, 20, "the first head")
    network.wait_status(lambda st: st["failovers"] > before["failovers"], 20, f"a failover away from {victim}")
    seen = len(heads(network.snapshot()))
    network.wait(lambda ib: len(heads(ib)) >= seen + 4, 20, f"heads after breaking {victim}")
    return str(victim)


@pytest.mark.parametrize("network", [True, False], indirect=True, ids=["standby", "stall-timeout-only"])
def test_every_head_and_log_once_in_order_across_ws_failures(
    chain: Chain, proxies: dict[str, FaultProxy], network: Network, request: pytest.FixtureRequest
) -> None:
    flt = LogFilter(addresses=(chain.token,), topics=((TRANSFER_TOPIC,),))
    heads_sub: Subscribed = MANAGER.ask(Subscribe(SubscriptionKind.NEW_HEADS, "/collector"))
    logs_sub: Subscribed = MANAGER.ask(Subscribe(SubscriptionKind.LOGS, "/collector", flt))
    chain.start_traffic()
    network.wait(lambda ib: len(heads(ib)) >= 4, 20, "the first heads")

    # the manager itself crashes: its next incarnation resumes from its published checkpoint
    MANAGER.tell(Crash("test: manager crash"))
    seen = len(heads(network.snapshot()))
    network.wait(lambda ib: len(heads(ib)) >= seen + 6, 20, "heads after the manager's restart")

    dropped = break_active(network, lambda n: proxies[n].apply("wsdrop"))  # socket closed, reconnects refused
    proxies[dropped].clear()
    stalled = break_active(network, lambda n: proxies[n].apply("wsstall"))  # socket up, notifications gone
    proxies[stalled].clear()
    frozen = break_active(network, lambda n: proxies[n].apply("stale"))  # newHeads frozen at a block
    proxies[frozen].clear()
    lying = break_active(network, lambda n: proxies[n].apply("wsgarbage"))  # junk notifications
    proxies[lying].clear()
    break_active(network, lambda n: Handle(f"/network/ws:{n}").tell(Crash("test")))  # its actor crashes
    killed = break_active(network, lambda n: proxies[n].stop())  # the endpoint is gone, HTTP included

    chain.stop_traffic()
    target = int(chain.anvil.rpc("eth_blockNumber"), 16) + 2
    network.wait(lambda ib: bool(heads(ib)) and heads(ib)[-1].number >= target, 20, f"head {target}")
    inbox = network.snapshot()

    # heads: consecutive, each once, exactly anvil's blocks
    hs = heads(inbox)
    first, last = hs[0].number, hs[-1].number
    assert [h.number for h in hs] == list(range(first, last + 1))
    for h in hs:
        block = chain.anvil.rpc("eth_getBlockByNumber", hex(h.number), False)
        assert (h.hash, h.parent_hash) == (block["hash"], block["parentHash"]), f"block {h.number}"
    assert heads_sub.from_block in (None, first)

    # logs: exactly anvil's Transfer logs for the range, in order, each after its block's head
    start = logs_sub.from_block if logs_sub.from_block is not None else first
    query = {"address": chain.token, "topics": [TRANSFER_TOPIC], "fromBlock": hex(start), "toBlock": hex(last)}
    expected = chain.anvil.rpc("eth_getLogs", query)
    got, current = [], None
    for m in inbox:
        if isinstance(m, NewHead):
            current = m
        elif isinstance(m, LogEvent):
            assert current is not None and m.log.block_hash == current.hash, "a log outside its block"
            assert m.subscription_id == logs_sub.subscription_id
            got.append((m.log.block_number, m.log.log_index, m.log.transaction_hash, m.log.data))
    want = [(int(x["blockNumber"], 16), int(x["logIndex"], 16), x["transactionHash"], x["data"]) for x in expected]
    assert len(want) > 20, "the traffic made too few logs to test anything"
    assert got == want
    assert not [m for m in inbox if isinstance(m, Reorg)]

    # and the faults really happened, and the gaps really were backfilled
    final = status()
    assert final["failovers"] >= 6, final
    if request.node.callspec.params["network"]:  # standby heads see a silent active stream fall behind
        assert final["lagging"] >= 1, final
    else:  # only the stall timeout can tell
        assert final["stalls"] >= 3 and final["lagging"] == 0, final
    assert proxies[lying].stats().get("ws_garbage", 0) > 0
    assert final["backfilled_heads"] > 0, final
    assert proxies[stalled].stats().get("ws_stalled", 0) > 0
    assert proxies[frozen].stats().get("ws_stale", 0) > 0
    assert final["active"] != killed
