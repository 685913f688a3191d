"""The feed against real anvil.

A real reorg (anvil_reorg) under a live subscription: the subscriber is told Reorg(depth), then the new
branch, and its view with the reorg applied is anvil's final chain, heads and logs. Subscribing twice is
one subscription; unsubscribing stops delivery.
"""

from __future__ import annotations

from typing import Any

import pytest

from devnet.fault_proxy import FaultProxy
from protocol.chain import LogEvent, LogFilter, NewHead, Reorg, Subscribe, SubscriptionKind, Unsubscribe
from supervision import Handle
from tests.network_ws.conftest import TRANSFER_TOPIC, Chain, Network

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(60)]

MANAGER = Handle("/network/subscriptions")


def view(inbox: list[Any]) -> tuple[list[NewHead], list[LogEvent], list[Reorg]]:
    """The subscriber's view of the chain: reorgs cut back heads and logs above the fork."""
    hs: list[NewHead] = []
    logs: list[LogEvent] = []
    reorgs: list[Reorg] = []
    for m in inbox:
        if isinstance(m, NewHead):
            assert not hs or (m.number, m.parent_hash) == (hs[-1].number + 1, hs[-1].hash)
            hs.append(m)
        elif isinstance(m, LogEvent):
            assert hs and m.log.block_hash == hs[-1].hash
            assert not logs or logs[-1].log.key < m.log.key
            logs.append(m)
        elif isinstance(m, Reorg):
            assert hs[-1].hash == m.old_head_hash and hs[-1].number - m.depth == m.fork_number
            reorgs.append(m)
            hs = [h for h in hs if h.number <= m.fork_number]
            logs = [x for x in logs if x.log.block_number <= m.fork_number]
    return hs, logs, reorgs


@pytest.mark.parametrize("chain", [None], indirect=True)  # automine: blocks only when we say so
def test_reorg_is_announced_and_the_new_branch_delivered(
    chain: Chain, proxies: dict[str, FaultProxy], network: Network
) -> None:
    flt = LogFilter(addresses=(chain.token,), topics=((TRANSFER_TOPIC,),))
    MANAGER.ask(Subscribe(SubscriptionKind.NEW_HEADS, "/collector"))
    MANAGER.ask(Subscribe(SubscriptionKind.LOGS, "/collector", flt))
    network.wait_status(lambda st: st["streaming"], 10, "a subscribed stream")
    chain.anvil.rpc("evm_mine")
    network.wait(lambda ib: any(isinstance(m, NewHead) for m in ib), 10, "the first head")
    for i in range(4):
        tip = chain.transfer_mined(i)  # automine: one block with one Transfer each
    network.wait(lambda ib: any(isinstance(m, NewHead) and m.number == tip for m in ib), 10, f"head {tip}")

    chain.anvil.rpc("anvil_reorg", 2, [[chain.transfer_tx(100), 0], [chain.transfer_tx(101), 1]])
    chain.anvil.rpc("evm_mine")
    network.wait(lambda ib: any(isinstance(m, Reorg) for m in ib), 10, "the reorg")
    network.wait(lambda ib: view(ib)[0][-1].number == tip + 1, 10, f"the new branch up to {tip + 1}")

    hs, logs, reorgs = view(network.snapshot())
    assert [(r.depth, r.fork_number) for r in reorgs] == [(2, tip - 2)]
    first = hs[0].number
    for h in hs:
        assert h.hash == chain.anvil.rpc("eth_getBlockByNumber", hex(h.number), False)["hash"]
    query = {"address": chain.token, "topics": [TRANSFER_TOPIC], "fromBlock": hex(first), "toBlock": hex(tip + 1)}
    expected = chain.anvil.rpc("eth_getLogs", query)
    assert [(x.log.block_hash, x.log.log_index) for x in logs] == [
        (e["blockHash"], int(e["logIndex"], 16)) for e in expected
    ]
    assert any(x.log.block_number > tip - 2 for x in logs), "the new branch's logs were delivered"


@pytest.mark.parametrize("chain", [None], indirect=True)
def test_subscribe_is_idempotent_and_unsubscribe_stops_delivery(
    chain: Chain, proxies: dict[str, FaultProxy], network: Network
) -> None:
    flt = LogFilter(addresses=(chain.token,), topics=((TRANSFER_TOPIC,),))
    heads_sub = MANAGER.ask(Subscribe(SubscriptionKind.NEW_HEADS, "/collector"))
    assert MANAGER.ask(Subscribe(SubscriptionKind.NEW_HEADS, "/collector")) == heads_sub
    logs_sub = MANAGER.ask(Subscribe(SubscriptionKind.LOGS, "/collector", flt))
    same = LogFilter(addresses=(chain.token,), topics=((TRANSFER_TOPIC,),))
    assert MANAGER.ask(Subscribe(SubscriptionKind.LOGS, "/collector", same)) == logs_sub
    network.wait_status(lambda st: st["streaming"] and st["subscriptions"] == 2, 10, "two subscriptions")

    block = chain.transfer_mined(1)
    network.wait(lambda ib: any(isinstance(m, LogEvent) and m.log.block_number == block for m in ib), 10, "a log")
    assert [m.number for m in network.snapshot() if isinstance(m, NewHead)][-1] == block

    MANAGER.ask(Unsubscribe(heads_sub.subscription_id))
    block = chain.transfer_mined(2)  # its block, not eth_blockNumber: that can still be the one before
    network.wait(lambda ib: any(isinstance(m, LogEvent) and m.log.block_number == block for m in ib), 10, "a log")
    # the block's head would have been told before its log: it was not, the subscription is gone
    assert all(m.number < block for m in network.snapshot() if isinstance(m, NewHead))
