"""The stages of an opportunity's trace, opened when each stage begins and ended when it ends.

The strategy opens the trace (`open_trade`: the root span, whose trace id becomes the opportunity's
id) and its `detected` stage. The executor tells `TradeStages` what it starts (an action of its
pipeline) and what comes back (an event): assessed and simulated open when the risk book and the node
are asked, signed and sent when the transaction leaves, and the last stage opens when the send is
answered and is named at the trade's end (included, failed or skipped). `span_of` names the span a log
line about a trade belongs to, now, so every lifecycle line carries its stage's span id.

Keyed by the trade id, which is the trace id; the parent of every stage is the root's span id as the
opportunity's envelope carried it, so nothing rides on thread-locals. Bounded: a trade that never
finishes (a restart took it) is forgotten after MAX_OPEN others, and its root ends by timeout
(monitoring.tracing.expire). A trade's trace ends with its final stage: a stage still open then (a
simulation out when the risk book refused) is ended as abandoned, and an answer that comes back after
the end adds nothing.
"""

from __future__ import annotations

import collections
import time
from typing import Any

from monitoring import tracing
from protocol.execution import Assessed, ExecuteOpportunity, Sent, Simulated, TradeRecord, TradeStage
from protocol.trading import Opportunity

MAX_OPEN = 4096
_FINAL_SPAN = {TradeStage.MINED: "included", TradeStage.REVERTED: "failed", TradeStage.NOT_INCLUDED: "failed",
               TradeStage.SKIPPED: "skipped"}
#: The span the last stage is opened under until its name is known.
AWAITING = "awaiting"


def open_trade(opp: Opportunity) -> str:
    """Start the opportunity's trace at its detection; the id to give it (the trace id)."""
    # the root carries only the block: it is opened on the strategy's hot path, and `detected` has the rest
    return tracing.open_trade(int(opp.detected_at * 1e9), {"block": opp.block_number})


def detecting(opp: Opportunity) -> Any:
    """The strategy's stage: from the scan that found `opp` until `detected` ends it (after the hand-off)."""
    return tracing.start_stage(opp.id, "detected", None, int(opp.detected_at * 1e9), {
        "pools": [leg.pool for leg in opp.route], "block": opp.block_number, "token": opp.token,
        "size": str(opp.amount_in), "profit.expected": str(opp.gross_profit),
        "profit.net_wei": str(opp.net_profit_wei), "gas.estimate": opp.gas_estimate,
        "gas.price_wei": str(opp.gas_price_wei)})


def detected(span: Any) -> None:
    tracing.end_stage(span)


def not_handed(opp: Opportunity, why: str) -> None:
    """The executor never got `opp`: its trace ends here."""
    tracing.end_trade(opp.id, "not_handed", why)


def final_span(stage: TradeStage) -> str:
    return _FINAL_SPAN.get(stage, "failed")


class _Open:
    __slots__ = ("current", "ids", "last_end_ns", "parent", "reasons", "spans")

    def __init__(self, parent: str | None) -> None:
        self.parent = parent  # the root's span id, from the envelope that brought the opportunity
        self.spans: dict[str, Any] = {}  # the stages open now, by name
        self.ids: dict[str, str] = {}  # every stage's span id, open or ended, by name
        self.current: str | None = None  # the span id of the stage the trade is in now
        self.last_end_ns = time.time_ns()
        self.reasons: list[str] = []


class TradeStages:
    def __init__(self) -> None:
        self._open: collections.OrderedDict[str, _Open] = collections.OrderedDict()
        self._ended: collections.OrderedDict[str, str | None] = collections.OrderedDict()  # id -> final span

    def _get(self, trade_id: str, parent: str | None = None) -> _Open:
        entry = self._open.get(trade_id)
        if entry is None:
            entry = self._open[trade_id] = _Open(parent)
            while len(self._open) > MAX_OPEN:
                self._open.popitem(last=False)
        return entry

    def _start(self, trade_id: str, name: str, start_ns: int | None = None, **attributes: Any) -> str | None:
        entry = self._get(trade_id)
        span = tracing.start_stage(trade_id, name, entry.parent, start_ns, attributes)
        sid = tracing.span_id(span)
        if sid is not None:
            entry.spans[name] = span
            entry.ids[name] = entry.current = sid
        return sid

    def _end(self, entry: _Open, name: str, now: int, error: str | None = None, **attributes: Any) -> None:
        tracing.end_stage(entry.spans.pop(name, None), attributes, error, now)
        entry.current = entry.ids.get(name, entry.current)
        entry.last_end_ns = now

    def span_of(self, trade_id: str | None, event: Any = None) -> str | None:
        """The span id a log line about `trade_id` belongs to while `event` is handled: the stage the event
        ends (assessed, simulated, sent), else the stage the trade is in (its final one once it ended)."""
        if not trade_id:
            return None
        entry = self._open.get(trade_id)
        if entry is None:
            return self._ended.get(trade_id)
        stage = _STAGE_OF.get(type(event))
        if stage is not None and getattr(event, "trade_id", None) == trade_id and stage in entry.ids:
            return entry.ids[stage]
        return entry.current or entry.parent

    # --- what the executor starts --------------------------------------------------------------------

    def asking_risk(self, trade_id: str) -> str | None:
        """Open `assessed`; its span id goes with the question, so the risk book's lines join it."""
        return self._start(trade_id, "assessed") if tracing.enabled() else None

    def simulating(self, trade_id: str) -> str | None:
        return self._start(trade_id, "simulated") if tracing.enabled() else None

    def broadcasting(self, trade_id: str, signed: Any, bundle_block: int | None) -> str | None:
        """`signed` (instantaneous: what was simulated is signed in the step that decides to send) and the
        opening of `sent`, whose span id the caller gives the send."""
        if not tracing.enabled():
            return None
        entry = self._get(trade_id)
        now = time.time_ns()
        self._start(trade_id, "signed", now, **{
            "tx.hash": signed.tx_hash, "tx.nonce": signed.nonce, "tx.gas": signed.gas,
            "tx.max_fee_per_gas": signed.max_fee_per_gas, "tx.bundle_block": bundle_block})
        self._end(entry, "signed", now)
        return self._start(trade_id, "sent", now, **{"tx.hash": signed.tx_hash})

    # --- what comes back -------------------------------------------------------------------------------

    def returned(self, event: Any, envelope_span: str | None = None) -> None:
        """An event reached the executor; `envelope_span` is the span id its envelope carried."""
        if not tracing.enabled() or getattr(event, "trade_id", None) in self._ended:
            return
        now = time.time_ns()
        match event:
            case ExecuteOpportunity(opportunity=opp) if opp.id not in self._ended:
                entry = self._get(opp.id, envelope_span)
                entry.parent = envelope_span or entry.parent
                entry.current = entry.current or envelope_span
            case Assessed(trade_id=trade_id, result=result) if trade_id in self._open:
                entry = self._get(trade_id)
                approved = getattr(result, "approved", None)
                entry.reasons = list(getattr(result, "reasons", ()) or ())
                error = None if approved is not None else f"{type(result).__name__}: {result}"
                self._end(entry, "assessed", now, error, **{
                    "risk.approved": approved, "risk.reasons": entry.reasons or None,
                    "risk.size_approved": getattr(result, "adjusted_size_value", None),
                    "risk.max_loss": getattr(result, "max_loss_value", None),
                    "risk.score": getattr(result, "score", None)})
            case Simulated(trade_id=trade_id, result=result) if trade_id and trade_id in self._open:
                entry = self._get(trade_id)
                failure = getattr(result, "error", "") or (None if hasattr(result, "profit") else str(result))
                self._end(entry, "simulated", now, failure or None, **{
                    "sim.profit": getattr(result, "profit", None), "sim.gas": getattr(result, "gas", None),
                    "sim.amount_in": getattr(result, "amount_in", None)})
            case Sent(trade_id=trade_id, tx_hash=tx_hash, result=result, held=held) if trade_id in self._open:
                entry = self._get(trade_id)
                error = f"{type(result).__name__}: {result}" if isinstance(result, BaseException) else None
                self._end(entry, "sent", now, error, **{"tx.hash": tx_hash, "held": held})
                if error is None and AWAITING not in entry.spans:
                    # the wait for inclusion, named at the trade's end; this event's own lines are the send's
                    self._start(trade_id, AWAITING, now)

    def finished(self, record: TradeRecord) -> str | None:
        """End the trade's last stage, any stage still open, and its root; the last stage's span id."""
        if not tracing.enabled():
            return None
        trade_id = record.opportunity_id
        now = time.time_ns()
        entry = self._open.pop(trade_id, None)
        name = final_span(record.stage)
        attributes = {
            "trade.stage": record.stage.value, "trade.reason": record.reason or None,
            "trade.mode": record.mode.value, "risk.reasons": (entry.reasons if entry else None) or None,
            "profit.expected": str(record.expected_profit),
            "profit.simulated": None if record.simulated_profit is None else str(record.simulated_profit),
            "profit.realized": None if record.realized_profit is None else str(record.realized_profit),
            "gas.used": record.gas_used, "gas.cost_wei": str(record.gas_cost_wei), "tx.hash": record.tx_hash,
            "block.target": record.target_block, "block.included": record.included_block,
            "token": record.token, "size": str(record.amount_in)}
        error = (record.reason or record.stage.value) if name == "failed" else None
        last = None
        if entry is not None:
            last = entry.spans.pop(AWAITING, None)
            for span in entry.spans.values():  # answers still out: they end with the trade
                tracing.end_stage(span, {"stage.abandoned": True}, None, now)
            entry.spans.clear()
        if last is None:
            last = tracing.start_stage(trade_id, name, entry.parent if entry else None,
                                       min(entry.last_end_ns, now) if entry else now)
        final_id = tracing.span_id(last)
        tracing.end_stage(last, attributes, error, now, name=name)
        tracing.end_trade(trade_id, name, error, now)
        self._ended[trade_id] = final_id
        while len(self._ended) > MAX_OPEN:
            self._ended.popitem(last=False)
        return final_id


_STAGE_OF: dict[type, str] = {Assessed: "assessed", Simulated: "simulated", Sent: "sent"}
