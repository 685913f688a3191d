"""The executor's account of each trade: pure helpers over TradeRecord (stages, outcomes, valuations)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

import msgspec

from execution.answers import Receipt
from execution.receipts import ReceiptMismatch, executed_profit
from execution.transaction import ExecuteCall, SignedTx
from protocol.execution import SubmitMode, TradeRecord, TradeStage
from protocol.risk import MarketView
from protocol.trading import Opportunity, TradeOutcome, TradeStatus

#: Revert reasons that blame the route's pools or tokens rather than the market moving: a
#: fee-on-transfer token makes the pair's K check fail; a token whose transfer fails; a pair that
#: pays out less than getAmountOut says. Routes failing so are quarantined by the strategy.
POOL_FAULT_MARKERS = (
    "UniswapV2: K",
    "UniswapV2: INSUFFICIENT_OUTPUT_AMOUNT",
    "UniswapV2: INSUFFICIENT_LIQUIDITY",
    "UniswapV2: TRANSFER_FAILED",
    "Executor: transfer failed",
    "Executor: insufficient liquidity",
)

#: The reason of a trade whose nonce our own cancellation took (ledger.settle): it counts as cancelled.
REPLACED_BY_CANCELLATION = "replaced by a cancellation"

_STATUS = {
    TradeStage.MINED: TradeStatus.MINED,
    TradeStage.REVERTED: TradeStatus.REVERTED,
    TradeStage.NOT_INCLUDED: TradeStatus.NOT_INCLUDED,
    TradeStage.SKIPPED: TradeStatus.FAILED,
}


@dataclasses.dataclass(frozen=True)
class Trade:
    """A trade in progress: its record plus what the executor needs to finish it."""

    opportunity: Opportunity
    record: TradeRecord
    market: MarketView = dataclasses.field(default_factory=lambda: MarketView(prices={}))
    call: ExecuteCall | None = None
    simulation: Any = None  # adapters.executor_chain.Simulation of `call`, once it came back
    signed: SignedTx | None = None
    hashes: tuple[str, ...] = ()  # every transaction sent with this trade's nonce (original first)
    sent_block: int = 0  # the node's head at the first inclusion check after sending (0: not checked yet)
    send_attempts: int = 0
    approved: bool = False  # the risk book reserved budget for it: it must hear the outcome

    @property
    def pools(self) -> frozenset[str]:
        return frozenset(leg.pool.lower() for leg in self.opportunity.route)

    def at(self, stage: TradeStage, **fields: object) -> Trade:
        record = msgspec.structs.replace(self.record, stage=stage, updated_at=time.time(), **fields)
        return dataclasses.replace(self, record=record)


def new_trade(opportunity: Opportunity, mode: SubmitMode, market: MarketView | None = None) -> Trade:
    record = TradeRecord(
        opportunity_id=opportunity.id, stage=TradeStage.RECEIVED, mode=mode, token=opportunity.token,
        detected_block=opportunity.block_number, amount_in=opportunity.amount_in,
        expected_profit=opportunity.gross_profit, detected_at=opportunity.detected_at, updated_at=time.time(),
    )
    return Trade(opportunity=opportunity, record=record, market=market or MarketView(prices={}))


def blames_pools(reason: str) -> bool:
    return any(marker in reason for marker in POOL_FAULT_MARKERS)


def pnl_value(opportunity: Opportunity, realized_profit: int, gas_cost_wei: int) -> float:
    """Realized PnL in the risk numeraire, net of gas, at the valuation the opportunity was detected with."""
    per_token = opportunity.gross_profit_value / opportunity.gross_profit if opportunity.gross_profit else 0.0
    per_wei = opportunity.gas_cost_value / opportunity.gas_cost_wei if opportunity.gas_cost_wei else 0.0
    return realized_profit * per_token - gas_cost_wei * per_wei


def outcome_of(trade: Trade) -> TradeOutcome:
    """The risk book's view of a final trade."""
    record = trade.record
    if not record.stage.final:
        raise ValueError(f"trade {record.opportunity_id} is not final ({record.stage})")
    realized = record.realized_profit or 0
    opp = trade.opportunity
    amount_value = opp.amount_in_value * (record.amount_in / opp.amount_in) if opp.amount_in else 0.0
    return TradeOutcome(
        opportunity_id=record.opportunity_id,
        status=_STATUS[record.stage],
        tokens=opp.tokens,
        amount_in_value=amount_value,
        realized_pnl_value=pnl_value(opp, realized, record.gas_cost_wei),
        gas_used=record.gas_used,
        gas_cost_wei=record.gas_cost_wei,
        tx_hash=record.tx_hash,
        block_number=record.included_block,
        finished_at=record.updated_at,
    )


def counts(records: Iterable[TradeRecord]) -> dict[TradeStage, int]:
    tally = dict.fromkeys(TradeStage, 0)
    for record in records:
        tally[record.stage] += 1
    return tally


def settle(trade: Trade, tx_hash: str, receipt: Receipt, executor: str) -> Trade:
    """The final trade once `tx_hash` (the trade itself or its cancellation) has a receipt (answers.receipt_of).

    Realized profit comes from the receipt's Executed event, checked against the token transfers; a
    receipt that does not add up is recorded with zero profit and says so in the reason.
    """
    common: dict[str, Any] = {"gas_used": receipt.gas_used,
                              "gas_cost_wei": receipt.gas_used * receipt.effective_gas_price,
                              "included_block": receipt.block_number, "tx_hash": tx_hash}
    if tx_hash != trade.hashes[0]:
        return trade.at(TradeStage.NOT_INCLUDED, realized_profit=0, reason=REPLACED_BY_CANCELLATION, **common)
    if receipt.status != 1:
        return trade.at(TradeStage.REVERTED, realized_profit=0, reason="reverted on chain", **common)
    try:
        profit = executed_profit(receipt.logs, executor, trade.opportunity.token)
    except ReceiptMismatch as exc:
        return trade.at(TradeStage.MINED, realized_profit=0, reason=f"receipt does not add up: {exc}", **common)
    return trade.at(TradeStage.MINED, realized_profit=profit, **common)


class Verdict(StrEnum):
    WAIT = "wait"
    INCLUDED = "included"
    NOT_INCLUDED = "not_included"  # a bundle whose target block has passed
    CANCEL = "cancel"  # a public transaction stuck past its deadline: replace it with a cheaper no-op


def verdict(
    trade: Trade, receipts: Mapping[str, Any], head: int, mode: SubmitMode, stuck_after_blocks: int
) -> tuple[Verdict, str | None]:
    """What to do with a submitted trade at `head`, given the receipts found for its hashes."""
    for tx_hash in trade.hashes:
        if receipts.get(tx_hash):
            return Verdict.INCLUDED, tx_hash
    if mode is SubmitMode.PRIVATE and head >= (trade.record.target_block or 0):
        return Verdict.NOT_INCLUDED, None
    stuck = trade.sent_block > 0 and head - trade.sent_block >= stuck_after_blocks
    if mode is SubmitMode.PUBLIC and len(trade.hashes) == 1 and stuck:
        return Verdict.CANCEL, None
    return Verdict.WAIT, None
