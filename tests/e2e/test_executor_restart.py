"""An executor crash with a trade in flight: the next incarnation follows it, and the risk book hears its
outcome exactly once (real anvil, real supervision tree, the approve-all book keeping what it was told).

Mining is paused so the trade is still in the mempool when the executor crashes; the block holding it is
mined only once the restarted executor has taken it over.
"""

from __future__ import annotations

from functools import partial

from amm.gas import PriceBook
from devnet.accounts import BOT
from devnet.session import Devnet
from execution.ledger import pnl_value
from protocol.execution import ExecutorSnapshot, GetTrades, SubmitMode, TradeRecord, TradeStage
from protocol.trading import TradeOutcome, TradeStatus
from supervision import Handle, introspect
from tests.e2e.conftest import EXECUTOR, RISK, Bot, manual_mining, start_bot
from tests.execution.helpers import COMPETITOR_MAX_FEE, checksum, market_swap
from tests.waiting import wait_until

ETH_USD = 3000.0  # a valuation, so the outcome's PnL in the risk numeraire is not zero


def booked(opportunity_id: str) -> list[TradeOutcome]:
    """Every RecordOutcome the approve-all book was told for this opportunity."""
    return [o for o in Handle(RISK).snapshot() or () if o.opportunity_id == opportunity_id]


def record_of(opportunity_id: str) -> TradeRecord | None:
    records: tuple[TradeRecord, ...] = Handle(EXECUTOR).ask(GetTrades(), timeout=2.0)
    return next((r for r in records if r.opportunity_id == opportunity_id), None)


def taken_over(opportunity_id: str, snap: ExecutorSnapshot) -> bool:
    return snap.incarnation == 2 and any(t.record.opportunity_id == opportunity_id for t in snap.in_flight_trades)


def crash_with_trade_in_flight(bot: Bot, devnet: Devnet) -> tuple[ExecutorSnapshot, str]:
    """Open a gap (mining paused), wait for our transaction in the mempool, crash the executor, wait for the
    restarted one to have taken the trade over. Returns the snapshot the crashed one left, and the trade's id."""
    w3, world = devnet.w3, devnet.world
    market_swap(w3, world, world.pool("sushiswap", "WETH", "USDC").address, True, 20_000, mine=devnet.node.mine)
    before = bot.wait_executor(lambda s: s.in_flight == 1, "our transaction in the mempool")
    [trade] = before.in_flight_trades
    assert trade.record.stage is TradeStage.SUBMITTED and trade.record.tx_hash == trade.hashes[0]
    assert w3.eth.get_transaction(trade.hashes[0])["blockNumber"] is None  # type: ignore[arg-type]
    introspect.kill(EXECUTOR, "test: crash with a trade in flight")
    oid = trade.record.opportunity_id
    after = bot.wait_executor(partial(taken_over, oid), "the restarted executor taking the trade over")
    assert after.version > before.version and after.received >= before.received  # counters carried on
    assert booked(oid) == []  # nothing reported yet: the trade is not mined
    return before, oid


def settle_and_recheck(bot: Bot, devnet: Devnet, oid: str) -> TradeOutcome:
    """The one outcome booked for `oid`; re-checked after the executor has followed one more block."""
    [outcome] = wait_until(lambda: booked(oid), what="the outcome booked")
    devnet.node.mine(1)
    head = devnet.w3.eth.block_number
    bot.wait_executor(lambda s: s.last_head >= head, f"executor at block {head}")
    assert booked(oid) == [outcome]  # exactly once
    return outcome


def test_a_trade_in_flight_at_a_crash_is_recorded_by_the_next_incarnation(isolated: Devnet) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PUBLIC, prices=PriceBook(eth_value=ETH_USD))
    with manual_mining(devnet):
        before, oid = crash_with_trade_in_flight(bot, devnet)
        devnet.node.mine(1)  # our transaction lands only now
        snap = bot.wait_executor(lambda s: s.mined > before.mined, "the trade mined, seen after the restart")
        record = wait_until(partial(record_of, oid), what="the trade's record")
        outcome = settle_and_recheck(bot, devnet, oid)
    assert record.stage is TradeStage.MINED and record.tx_hash == before.in_flight_trades[0].hashes[0]
    assert record.realized_profit == record.simulated_profit == record.expected_profit > 0  # still exact
    receipt = devnet.w3.eth.get_transaction_receipt(record.tx_hash)  # type: ignore[arg-type]
    assert record.gas_cost_wei == receipt["gasUsed"] * receipt["effectiveGasPrice"] > 0
    assert outcome.status is TradeStatus.MINED and outcome.tx_hash == record.tx_hash
    assert outcome.gas_cost_wei == record.gas_cost_wei and outcome.realized_pnl_value > 0
    opportunity = before.in_flight_trades[0].opportunity
    assert outcome.realized_pnl_value == pnl_value(opportunity, record.realized_profit, record.gas_cost_wei)
    assert snap.realized_profit[devnet.world.weth.address] >= record.realized_profit


def test_a_frontrun_trade_reverting_after_a_crash_reports_its_gas_loss(isolated: Devnet) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PUBLIC, prices=PriceBook(eth_value=ETH_USD))
    w3, world = devnet.w3, devnet.world
    with manual_mining(devnet):
        before, oid = crash_with_trade_in_flight(bot, devnet)
        # a competitor bidding above us closes the gap first, in the same block as ours
        market_swap(w3, world, world.pool("sushiswap", "WETH", "USDC").address, False, 19_000, mine=devnet.node.mine,
                    max_fee_wei=COMPETITOR_MAX_FEE)
        bot.wait_executor(lambda s: s.reverted > before.reverted, "our transaction reverted, seen after the restart")
        record = wait_until(partial(record_of, oid), what="the trade's record")
        outcome = settle_and_recheck(bot, devnet, oid)
    assert record.stage is TradeStage.REVERTED and record.realized_profit == 0
    block = record.included_block
    assert block is not None
    receipt = w3.eth.get_transaction_receipt(record.tx_hash)  # type: ignore[arg-type]
    assert receipt["status"] == 0
    account = checksum(BOT.address)
    loss = w3.eth.get_balance(account, block - 1) - w3.eth.get_balance(account, block)
    assert loss == record.gas_cost_wei == receipt["gasUsed"] * receipt["effectiveGasPrice"] > 0
    # the risk book hears the gas loss, in its numeraire at the detection-time valuation
    assert outcome.status is TradeStatus.REVERTED and outcome.gas_cost_wei == record.gas_cost_wei
    assert outcome.realized_pnl_value < 0 and outcome.block_number == block
    opportunity = before.in_flight_trades[0].opportunity
    assert outcome.realized_pnl_value == pnl_value(opportunity, 0, record.gas_cost_wei)
