"""The pipeline's rules for an emergency stop: nothing more signed or sent, what is out is reported.

The executor reads the risk book's published stop before every step and immediately before every send
(actors/executor.py), and feeds a change in as StopChanged. While a stop is active:
- approved trades not yet sent, and opportunities parked or arriving, end as skipped with the stop's
  reason (each approved one reported to the risk book, which releases its reservation);
- nothing is signed; a send already handed to the io loop checks the stop again just before it would
  leave and comes back `held`, its nonce given back;
- trades already in the mempool are listed in a WARNING; CancelInFlight (console `cancel-inflight`)
  replaces each with a zero-value self-transfer at its nonce (execution.sending.cancel).
"""

from __future__ import annotations

import msgspec

from execution.pipeline_state import PUBLISH, Action, Note, PipelineConfig, PipelineState, skip
from execution.sending import cancel
from protocol.execution import CancelInFlight, StopChanged, SubmitMode, TradeStage


def stop_changed(s: PipelineState, msg: StopChanged, out: list[Action]) -> PipelineState:
    if not msg.active:
        if s.stopped is None:
            return s
        out.append(Note("WARNING", f"emergency stop ({s.stopped}) reset: trading resumes"))
        out.append(PUBLISH)
        return msgspec.structs.replace(s, stopped=None)
    reason = msg.reason or "no reason given"
    if s.stopped is not None:
        return s
    s = msgspec.structs.replace(s, stopped=reason, send_queue=())
    why = f"emergency stop ({reason}): cancelled before sending"
    parked = list(s.parked.values())
    s = msgspec.structs.replace(s, parked={})
    for trade in parked:
        s = skip(s, trade, why, out)
    for trade in [t for t in s.active.values() if not t.hashes and t.opportunity.id != s.sending]:
        s = skip(s, trade, why, out)
    out.append(Note("ERROR", f"emergency stop ({reason}): nothing more is signed or sent"))
    in_mempool = [t for t in s.active.values() if t.record.stage is TradeStage.SUBMITTED]
    if in_mempool:
        listed = ", ".join(f"{t.record.tx_hash} (nonce {t.record.nonce})" for t in in_mempool)
        out.append(Note("WARNING", f"emergency stop: {len(in_mempool)} trade(s) already in the mempool: {listed}; "
                                   "`cancel-inflight` replaces them with a cancel at the same nonce"))
    out.append(PUBLISH)
    return s


def cancel_in_flight(s: PipelineState, msg: CancelInFlight, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    """Every public trade in the mempool not already being replaced gets its cancellation (same nonce)."""
    if cfg.sign is None:
        out.append(Note("WARNING", f"cancel-inflight by {msg.by}: nothing can be signed (paper mode)"))
        return s
    if s.mode is SubmitMode.PRIVATE:
        out.append(Note("WARNING", f"cancel-inflight by {msg.by}: bundles expire at their target block, "
                                   "nothing to replace"))
        return s
    targets = [t for t in s.active.values()
               if t.record.stage is TradeStage.SUBMITTED and len(t.hashes) == 1 and t.signed is not None]
    out.append(Note("WARNING", f"cancel-inflight by {msg.by}: replacing {len(targets)} trade(s) in the mempool"))
    for trade in targets:
        s = cancel(s, trade, cfg, out)
    return s
