"""Issue 13 items 4 and 6 on a real devnet: a revert is explained from its block, counted, logged and
outbid; malformed node answers end a trade with a reason (or are not taken for a receipt), and the
executor lives on and keeps trading."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger
from prometheus_client import REGISTRY

from adapters.executor_chain import revert_evidence
from devnet.accounts import BOT, MARKET_TRADER
from devnet.session import Devnet
from execution.transaction import EXECUTE_SELECTOR
from protocol.execution import GetTrades, RevertProbe, SubmitMode, TradeRecord, TradeStage
from supervision import Handle, introspect
from supervision.io_loop import io_loop
from tests.e2e.conftest import EXECUTOR, STRATEGY, manual_mining, start_bot
from tests.execution.garbage_node import KEEP, GarbageNode
from tests.execution.helpers import COMPETITOR_MAX_FEE, market_swap
from tests.waiting import wait_until

LATE = "late_to_market_swap"


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


def records() -> tuple[TradeRecord, ...]:
    answer: tuple[TradeRecord, ...] = Handle(EXECUTOR).ask(GetTrades(limit=1000), timeout=2.0)
    return answer


def reverts_counted(cause: str) -> float:
    return REGISTRY.get_sample_value("arbiter_trade_reverts_total", {"cause": cause}) or 0.0


def test_a_trade_behind_a_market_swap_is_explained_counted_logged_and_outbid(
        isolated: Devnet, warnings: list[str]) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PUBLIC)
    pool = devnet.world.pool("sushiswap", "WETH", "USDC")
    counted = reverts_counted(LATE)
    with manual_mining(devnet):
        market_swap(devnet.w3, devnet.world, pool.address, True, 20_000, mine=lambda: devnet.node.mine(1))
        bot.wait_executor(lambda s: s.in_flight >= 1, "our trade in the mempool")
        # a competitor swaps back in the block our trade lands in; its max fee, above ours (which the rival
        # read already raised over the market's 100 gwei), orders it first on anvil
        block = market_swap(devnet.w3, devnet.world, pool.address, False, 20_000, mine=lambda: devnet.node.mine(1),
                            max_fee_wei=COMPETITOR_MAX_FEE)
        snap = bot.wait_executor(lambda s: s.reverts_by_cause.get(LATE, 0) >= 1, "the revert explained")
    reverted = next(r for r in records() if r.stage is TradeStage.REVERTED)
    assert reverted.included_block == block and reverted.tx_hash is not None
    assert reverts_counted(LATE) == counted + 1
    status = introspect.find(EXECUTOR)
    assert status is not None and status.extra["reverts_by_cause"].get(LATE) == 1
    line = next(w for w in warnings if reverted.tx_hash in w and "cause" in w)
    for part in (f"block {block}", LATE, f"gas lost {reverted.gas_used} gas", f"{reverted.gas_cost_wei} wei", "ETH",
                 MARKET_TRADER.address.lower()):
        assert part in line, (part, line)
    # the rival's max fee (what anvil orders by) is outbid from now on; the tip, which costs, stays
    assert snap.max_fee_floor_wei > COMPETITOR_MAX_FEE and snap.priority_fee_wei == 10**9
    # the evidence as read from the chain: the market's Sync first, and the node's revert reason
    receipt = devnet.w3.eth.get_transaction_receipt(reverted.tx_hash)  # type: ignore[arg-type]
    probe = RevertProbe(trade_id=reverted.opportunity_id, tx_hash=reverted.tx_hash, block=block,
                        tx_index=receipt["transactionIndex"], account=BOT.address, gas_used=reverted.gas_used,
                        gas_limit=reverted.gas_limit, gas_cost_wei=reverted.gas_cost_wei, deadline_block=None,
                        sized_on={pool.address.lower(): (0, 0)})
    evidence = io_loop().submit(revert_evidence(bot.client, probe)).result(10.0)
    assert any(t.sender.lower() == MARKET_TRADER.address.lower() and t.tx_index < probe.tx_index
               for t in evidence.touches), evidence
    assert evidence.reason == "Executor: profit below minimum"


#: eth_call / eth_estimateGas results a broken endpoint may send in place of the real ones
GARBAGE: list[tuple[Any, Any]] = [
    ("0xzz", KEEP), ("0x" + "00" * 31, KEEP), (12345, KEEP), ({"profit": 1}, KEEP), (None, KEEP),
    (KEEP, "not a quantity"), (KEEP, ["0x5208"]), (KEEP, "0x" + "f" * 80),
]


def executes(params: list[Any]) -> bool:
    call = params[0] if params else None
    return isinstance(call, dict) and str(call.get("data", "")).startswith("0x" + EXECUTE_SELECTOR.hex())


def test_garbage_simulation_answers_end_the_trade_and_the_executor_lives_on(isolated: Devnet) -> None:
    devnet = isolated
    current: list[tuple[Any, Any]] = [(KEEP, KEEP)]

    def garble(method: str, params: list[Any]) -> Any:
        call_result, estimate_result = current[0]
        if method == "eth_call" and executes(params):
            return call_result
        if method == "eth_estimateGas" and executes(params):
            return estimate_result
        return KEEP

    pool = devnet.world.pool("sushiswap", "WETH", "USDC")
    with GarbageNode(devnet.node.http_url, garble) as node:
        bot = start_bot(devnet, SubmitMode.PUBLIC, rpc_url=node.url)
        for n, garbage in enumerate(GARBAGE, start=1):
            current[0] = garbage
            market_swap(devnet.w3, devnet.world, pool.address, True, 5_000)  # the gap widens; automine
            wait_until(lambda n=n: sum("unreadable answer" in r.reason for r in records()) >= n,
                       what=f"a trade ended by garbage {garbage}")
        skipped = [r for r in records() if "unreadable answer" in r.reason]
        assert all(r.stage is TradeStage.SKIPPED and r.tx_hash is None for r in skipped)
        current[0] = (KEEP, KEEP)
        market_swap(devnet.w3, devnet.world, pool.address, True, 5_000)
        snap = bot.wait_executor(lambda s: s.mined >= 1 and s.deciding == 0 and s.in_flight == 0,
                                 "a trade mined once the answers are sane again")
    assert snap.incarnation == 1  # the executor never crashed, and so never restarted the strategy either
    for path in (EXECUTOR, STRATEGY):
        info = introspect.find(path)
        assert info is not None and info.restarts_total == 0 and info.state == "running", info
    # none lost: every opportunity received has exactly one record. The bot keeps trading residual gaps,
    # so the count and the records are read together, snapshot first, until a quiet moment agrees.
    def counted() -> tuple[int, tuple[TradeRecord, ...]]:
        received = bot.wait_executor(lambda s: s.deciding == 0 and s.in_flight == 0, "the executor idle").received
        return received, records()

    received, _ = wait_until(counted, what="one record for each opportunity received",
                                 until=lambda seen: len(seen[1]) == seen[0] == len({r.opportunity_id for r in seen[1]}))
    assert received >= len(GARBAGE) + 1


def test_garbage_receipts_are_not_taken_for_a_settlement(isolated: Devnet, warnings: list[str]) -> None:
    devnet = isolated
    junk = iter(["0xnotareceipt", {"status": "0x1"}, {"status": "0x1", "gasUsed": "zz", "blockNumber": "0x1"}])

    def garble(method: str, params: list[Any]) -> Any:
        if method == "eth_getTransactionReceipt":
            return next(junk, KEEP)
        return KEEP

    pool = devnet.world.pool("sushiswap", "WETH", "USDC")
    with GarbageNode(devnet.node.http_url, garble) as node:
        bot = start_bot(devnet, SubmitMode.PUBLIC, rpc_url=node.url)
        market_swap(devnet.w3, devnet.world, pool.address, True, 20_000)
        snap = bot.wait_executor(lambda s: s.mined >= 1, "the trade settled on its real receipt")
    assert node.garbled.count("eth_getTransactionReceipt") == 3
    mined = next(r for r in records() if r.stage is TradeStage.MINED)
    assert mined.realized_profit == mined.simulated_profit and mined.gas_used > 0
    assert sum("unreadable receipt" in w for w in warnings) >= 1
    assert snap.incarnation == 1

