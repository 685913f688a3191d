"""The executor's side of an opportunity's trace: when each stage began and how it ended.

The executor tells `TradeStages` what it starts (an action of its pipeline) and what comes back (an
event); each stage span (assessed, simulated, signed, sent, then included / failed / skipped) is ended
with its attributes through monitoring.tracing. Keyed by the trade id, which is the opportunity's
trace id, so nothing rides on thread-locals. Bounded: a trade that never finishes (a restart took it)
is forgotten after MAX_OPEN others. A trade's trace ends with its final stage: an answer that comes
back after it (a simulation still out when the risk book refused) adds no span.
"""

from __future__ import annotations

import collections
import time
from typing import Any

from monitoring import tracing
from protocol.execution import Assessed, Sent, Simulated, TradeRecord, TradeStage
from protocol.trading import Opportunity

MAX_OPEN = 4096
_FINAL_SPAN = {TradeStage.MINED: "included", TradeStage.REVERTED: "failed", TradeStage.NOT_INCLUDED: "failed",
               TradeStage.SKIPPED: "skipped"}


class _Open:
    __slots__ = ("assessed", "last_end_ns", "reasons", "sent", "simulated")

    def __init__(self) -> None:
        self.assessed: int | None = None
        self.simulated: int | None = None
        self.sent: int | None = None
        self.last_end_ns = time.time_ns()
        self.reasons: list[str] = []


def detected(opp: Opportunity) -> None:
    """The strategy's span: from the scan that found `opp` to its hand-off to the executor."""
    if not tracing.enabled():
        return
    tracing.stage(opp.id, "detected", int(opp.detected_at * 1e9), time.time_ns(), {
        "pools": [leg.pool for leg in opp.route], "block": opp.block_number, "token": opp.token,
        "size": str(opp.amount_in), "profit.expected": str(opp.gross_profit),
        "profit.net_wei": str(opp.net_profit_wei), "gas.estimate": opp.gas_estimate,
        "gas.price_wei": str(opp.gas_price_wei)})


def final_span(stage: TradeStage) -> str:
    return _FINAL_SPAN.get(stage, "failed")


class TradeStages:
    def __init__(self) -> None:
        self._open: collections.OrderedDict[str, _Open] = collections.OrderedDict()
        self._ended: collections.OrderedDict[str, None] = collections.OrderedDict()

    def _get(self, trade_id: str) -> _Open:
        entry = self._open.get(trade_id)
        if entry is None:
            entry = self._open[trade_id] = _Open()
            while len(self._open) > MAX_OPEN:
                self._open.popitem(last=False)
        return entry

    # --- what the executor starts --------------------------------------------------------------------

    def asking_risk(self, trade_id: str) -> None:
        if tracing.enabled():
            self._get(trade_id).assessed = time.time_ns()

    def simulating(self, trade_id: str) -> None:
        if tracing.enabled():
            self._get(trade_id).simulated = time.time_ns()

    def broadcasting(self, trade_id: str, signed: Any, bundle_block: int | None) -> None:
        if not tracing.enabled():
            return
        entry = self._get(trade_id)
        now = time.time_ns()
        tracing.stage(trade_id, "signed", now, now, {
            "tx.hash": signed.tx_hash, "tx.nonce": signed.nonce, "tx.gas": signed.gas,
            "tx.max_fee_per_gas": signed.max_fee_per_gas, "tx.bundle_block": bundle_block})
        entry.sent = now

    # --- what comes back -------------------------------------------------------------------------------

    def returned(self, event: Any) -> None:
        if not tracing.enabled() or getattr(event, "trade_id", None) in self._ended:
            return
        now = time.time_ns()
        match event:
            case Assessed(trade_id=trade_id, result=result):
                entry = self._get(trade_id)
                approved = getattr(result, "approved", None)
                entry.reasons = list(getattr(result, "reasons", ()) or ())
                error = None if approved is not None else f"{type(result).__name__}: {result}"
                tracing.stage(trade_id, "assessed", entry.assessed or now, now, {
                    "risk.approved": approved, "risk.reasons": entry.reasons or None,
                    "risk.size_approved": getattr(result, "adjusted_size_value", None),
                    "risk.max_loss": getattr(result, "max_loss_value", None),
                    "risk.score": getattr(result, "score", None)}, error=error)
                entry.last_end_ns = now
            case Simulated(trade_id=trade_id, result=result) if trade_id:
                entry = self._get(trade_id)
                failure = getattr(result, "error", "") or (None if hasattr(result, "profit") else str(result))
                tracing.stage(trade_id, "simulated", entry.simulated or now, now, {
                    "sim.profit": getattr(result, "profit", None), "sim.gas": getattr(result, "gas", None),
                    "sim.amount_in": getattr(result, "amount_in", None)}, error=failure or None)
                entry.last_end_ns = now
            case Sent(trade_id=trade_id, tx_hash=tx_hash, result=result, held=held):
                entry = self._get(trade_id)
                error = f"{type(result).__name__}: {result}" if isinstance(result, BaseException) else None
                tracing.stage(trade_id, "sent", entry.sent or now, now, {"tx.hash": tx_hash, "held": held},
                              error=error)
                entry.last_end_ns = now

    def finished(self, record: TradeRecord) -> None:
        if not tracing.enabled():
            return
        now = time.time_ns()
        entry = self._open.pop(record.opportunity_id, None)
        self._ended[record.opportunity_id] = None
        while len(self._ended) > MAX_OPEN:
            self._ended.popitem(last=False)
        start = entry.last_end_ns if entry is not None else now
        name = final_span(record.stage)
        tracing.stage(record.opportunity_id, name, min(start, now), now, {
            "trade.stage": record.stage.value, "trade.reason": record.reason or None,
            "trade.mode": record.mode.value, "risk.reasons": (entry.reasons if entry else None) or None,
            "profit.expected": str(record.expected_profit),
            "profit.simulated": None if record.simulated_profit is None else str(record.simulated_profit),
            "profit.realized": None if record.realized_profit is None else str(record.realized_profit),
            "gas.used": record.gas_used, "gas.cost_wei": str(record.gas_cost_wei), "tx.hash": record.tx_hash,
            "block.target": record.target_block, "block.included": record.included_block,
            "token": record.token, "size": str(record.amount_in)})
