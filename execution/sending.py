"""The pipeline's rules from "approved and simulated" to final: sign, send, recover nonces, follow, cancel.

One send at a time (`pump`): if a send fails, its nonce is the highest handed out and is simply reused;
two sends in flight could leave a gap below a sent transaction, which would then never be mined. The
nonce book (execution.nonces) is the only place nonces come from; every rule that gives one back and
leaves the book without a count asks the chain (ReadNonce) instead of guessing.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from execution.answers import BadAnswer, Receipt, receipt_of
from execution.ledger import Trade, Verdict, settle, verdict
from execution.nonces import InFlight, NonceBook, NonceUnknown, bump_fee
from execution.pipeline_state import (
    MAX_SEND_ATTEMPTS,
    PUBLISH,
    Action,
    Broadcast,
    ExplainRevert,
    Note,
    PipelineConfig,
    PipelineState,
    ReadInclusion,
    ReadNonce,
    fees_of,
    finish,
    put,
    skip,
    tx_for,
)
from execution.revert_cause import sized_on
from execution.transaction import WrongChain, cancellation
from protocol.execution import Inclusion, NonceSynced, RevertProbe, Sent, SubmitMode, TradeStage


def pump(s: PipelineState, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    """Sign and send the next queued trade once the previous send is answered (the same state if idle)."""
    while s.sending is None and s.send_queue and s.stopped is None and s.rivals != "reading":
        trade_id, rest = s.send_queue[0], s.send_queue[1:]
        s = msgspec.structs.replace(s, send_queue=rest)
        trade = s.active.get(trade_id)
        if trade is not None:
            s = sign_and_send(msgspec.structs.replace(s, sending=trade_id), trade, cfg, out)
    return s


def send_done(s: PipelineState, trade_id: str) -> PipelineState:
    return msgspec.structs.replace(s, sending=None) if s.sending == trade_id else s


def sign_and_send(s: PipelineState, trade: Trade, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    assert trade.call is not None and cfg.sign is not None
    trade_id, deadline = trade.opportunity.id, trade.call.deadline_block
    if s.stopped is not None:  # e.g. a nonce read that came back after the stop
        return send_done(skip(s, trade, f"emergency stop ({s.stopped}): cancelled before sending", out), trade_id)
    if s.head >= trade.call.deadline_block:  # it would land in head + 1 at best, past its deadline: a sure revert
        return send_done(skip(s, trade, f"stale: head {s.head} reached its deadline block "
                                        f"{trade.call.deadline_block} before it was sent", out), trade_id)
    try:
        nonces, nonce = s.nonces.reserve()
    except NonceUnknown:
        out.append(ReadNonce(retry=trade_id))
        return s
    tx = tx_for(s, cfg, trade.call.calldata(), nonce=nonce, gas=trade.record.gas_limit)
    try:
        signed = cfg.sign(tx)
    except WrongChain as exc:
        s = msgspec.structs.replace(s, nonces=nonces.released(nonce))
        return send_done(skip(s, trade, str(exc), out), trade_id)
    bundle = s.head + 1 if s.mode is SubmitMode.PRIVATE else None
    # sent_block stays 0 until the first inclusion check reads the head: our own head may lag the node's,
    # and a lagging start would make a transaction look stuck blocks too early
    trade = dataclasses.replace(trade, signed=signed, hashes=(signed.tx_hash,), sent_block=0,
                                send_attempts=trade.send_attempts + 1)
    trade = trade.at(trade.record.stage, tx_hash=signed.tx_hash, nonce=nonce, target_block=bundle)
    out.append(PUBLISH)  # the hash is out before the node answers: a restart must follow it
    out.append(Broadcast(trade_id, signed, bundle_block=bundle, deadline_block=deadline))
    return put(msgspec.structs.replace(s, nonces=nonces), trade)


def sent(s: PipelineState, msg: Sent, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    trade = s.active.get(msg.trade_id)
    if trade is None or trade.signed is None:
        return s
    nonce = trade.signed.nonce
    if msg.cancellation:
        if not isinstance(msg.result, BaseException):
            return s
        if msg.nonce_too_low:  # the nonce is taken: by the trade itself (its receipt comes) or its replacement
            out.append(Note("WARNING", f"cancellation of {trade.record.tx_hash} refused: {msg.result}", msg.trade_id))
            return s
        # it never left: forget its hash and wait stuck_after_blocks again, then cancel anew (else the trade,
        # and every opportunity parked on its pools, would wait forever on a nonce nothing will ever mine)
        out.append(Note("WARNING", f"cancellation of {trade.record.tx_hash} failed ({msg.result}): retried if "
                                   "still stuck", msg.trade_id))
        out.append(PUBLISH)
        hashes = tuple(h for h in trade.hashes if h != msg.tx_hash)
        return put(s, dataclasses.replace(trade, hashes=hashes, sent_block=0))
    if isinstance(msg.result, BaseException):
        text = str(msg.result)
        if msg.nonce_too_low and trade.send_attempts < MAX_SEND_ATTEMPTS:
            out.append(Note("WARNING", f"nonce {nonce} too low: resyncing from the chain", msg.trade_id))
            out.append(ReadNonce(retry=msg.trade_id))
            return msgspec.structs.replace(s, nonces=NonceBook(cfg.account))  # forget the count: the chain decides
        s = _released(s, nonce, out)
        reason = f"emergency stop: held before sending ({text})" if msg.held else (
            f"stale: {text}" if msg.late else f"send failed: {text}")
        return send_done(skip(s, trade, reason, out), msg.trade_id)
    tx = trade.signed
    nonces = s.nonces.sent(InFlight(nonce, tx.tx_hash, tx.max_fee_per_gas, tx.max_priority_fee_per_gas, s.head))
    trade = trade.at(TradeStage.SUBMITTED, submitted_at=time.time())
    out.append(Note("INFO", f"submitted {msg.tx_hash} ({s.mode.value}) nonce {nonce}", msg.trade_id))
    out.append(PUBLISH)
    return send_done(put(msgspec.structs.replace(s, nonces=nonces), trade), msg.trade_id)


def nonce_synced(s: PipelineState, msg: NonceSynced, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    trade = s.active.get(msg.retry) if msg.retry else None
    if isinstance(msg.result, BaseException):
        if trade is not None:
            s = skip(s, trade, f"nonce resync failed: {msg.result}", out)
        return send_done(s, msg.retry) if msg.retry else s
    s = msgspec.structs.replace(s, nonces=s.nonces.synced(msg.result))
    if trade is None:
        return send_done(s, msg.retry) if msg.retry else s
    return sign_and_send(s, trade, cfg, out)


def _released(s: PipelineState, nonce: int, out: list[Action]) -> PipelineState:
    """`nonce` will not be used: handed out again if it was the top one, else the chain is asked."""
    nonces = s.nonces.released(nonce)
    if nonces.next_nonce is None:
        out.append(ReadNonce())
    return msgspec.structs.replace(s, nonces=nonces)


# --- inclusion ---------------------------------------------------------------------------------------------


def follow(s: PipelineState, out: list[Action]) -> PipelineState:
    hashes = tuple(h for t in s.active.values() if t.record.stage is TradeStage.SUBMITTED for h in t.hashes)
    if s.following or not hashes:
        return s
    out.append(ReadInclusion(hashes))
    return msgspec.structs.replace(s, following=True)


def new_head(s: PipelineState, number: int, base_fee_wei: int, out: list[Action]) -> PipelineState:
    if number <= s.head:
        return s
    out.append(PUBLISH)
    return msgspec.structs.replace(s, head=number, base_fee_wei=base_fee_wei)


def followed(s: PipelineState, result: Any, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    s = msgspec.structs.replace(s, following=False)
    if not isinstance(result, Inclusion):
        out.append(Note("DEBUG", f"inclusion check failed: {result}"))
        return s
    s = new_head(s, result.head, result.base_fee_wei, out)
    for trade in [t for t in s.active.values() if t.record.stage is TradeStage.SUBMITTED]:
        if trade.sent_block == 0:
            trade = dataclasses.replace(trade, sent_block=result.head)
            s = put(s, trade)
            out.append(PUBLISH)  # a restart counts the blocks it waited from here
        action, tx_hash = verdict(trade, result.receipts, result.head, trade.record.mode,
                                  cfg.policy.stuck_after_blocks)
        if action is Verdict.INCLUDED and tx_hash is not None:
            try:
                receipt = receipt_of(result.receipts[tx_hash])
            except BadAnswer as exc:  # not evidence of anything: the next check (or the stuck rule) decides
                out.append(Note("WARNING", f"unreadable receipt of {tx_hash}, still following it: {exc}",
                                trade.opportunity.id))
                continue
            settled = settle(trade, tx_hash, receipt, cfg.executor_address)
            s = included(s, settled, out)
            if settled.record.stage is TradeStage.REVERTED:
                out.append(ExplainRevert(revert_probe(settled, receipt, cfg.account)))
        elif action is Verdict.NOT_INCLUDED:
            s = not_included(s, trade, f"bundle not included in block {trade.record.target_block}", out)
        elif action is Verdict.CANCEL:
            s = cancel(s, trade, cfg, out)
    return s


def revert_probe(trade: Trade, receipt: Receipt, account: str) -> RevertProbe:
    """What a reverted trade's revert is explained against (execution.revert_cause)."""
    record = trade.record
    return RevertProbe(
        trade_id=trade.opportunity.id, tx_hash=record.tx_hash or "", block=receipt.block_number,
        tx_index=receipt.tx_index, account=account, gas_used=receipt.gas_used, gas_limit=record.gas_limit,
        gas_cost_wei=record.gas_cost_wei, deadline_block=trade.call.deadline_block if trade.call else None,
        sized_on=sized_on(trade.opportunity.route),
        sent_tip_wei=trade.signed.max_priority_fee_per_gas if trade.signed else 0,
        sent_max_fee_wei=trade.signed.max_fee_per_gas if trade.signed else 0,
    )


def included(s: PipelineState, trade: Trade, out: list[Action]) -> PipelineState:
    assert trade.signed is not None
    record = trade.record
    inventory: Mapping[str, int] = s.inventory
    realized: Mapping[str, int] = s.realized
    if record.stage is TradeStage.MINED:
        profit = record.realized_profit or 0
        inventory = {**inventory, record.token: inventory.get(record.token, 0) + profit}
        realized = {**realized, record.token: realized.get(record.token, 0) + profit}
    s = msgspec.structs.replace(s, nonces=s.nonces.mined(trade.signed.nonce), inventory=inventory, realized=realized,
                                gas_spent_wei=s.gas_spent_wei + record.gas_cost_wei)
    return finish(s, trade, out)


def not_included(s: PipelineState, trade: Trade, reason: str, out: list[Action]) -> PipelineState:
    assert trade.signed is not None
    s = _released(s, trade.signed.nonce, out)
    return finish(s, trade.at(TradeStage.NOT_INCLUDED, realized_profit=0, reason=reason), out)


def cancellation_fees(s: PipelineState, trade: Trade, cfg: PipelineConfig) -> tuple[int, int]:
    """(max_fee, tip) that outbid the stuck transaction and today's floor."""
    assert trade.signed is not None
    nonce = trade.signed.nonce
    floor_max, floor_tip = fees_of(s, cfg)
    if nonce in s.nonces.in_flight:
        return s.nonces.replacement_fees(nonce, floor_max, floor_tip)
    # e.g. a trade taken over at a restart whose nonce a resync settled: outbid its own fees
    tip = max(bump_fee(trade.signed.max_priority_fee_per_gas), floor_tip)
    return max(bump_fee(trade.signed.max_fee_per_gas), floor_max, tip), tip


def cancel(s: PipelineState, trade: Trade, cfg: PipelineConfig, out: list[Action]) -> PipelineState:
    """Past its deadline a stuck trade can only revert: take its nonce with a cheaper self-transfer."""
    assert trade.signed is not None and cfg.sign is not None
    nonce = trade.signed.nonce
    max_fee, tip = cancellation_fees(s, trade, cfg)
    signed = cfg.sign(cancellation(chain_id=cfg.chain_id, sender=cfg.account, nonce=nonce, max_fee_per_gas=max_fee,
                                   max_priority_fee_per_gas=tip))
    out.append(PUBLISH)  # a restart must look for the cancellation's receipt too
    out.append(Note("WARNING", f"tx {trade.hashes[0]} stuck since block {trade.sent_block}: cancelling with nonce "
                               f"{nonce} at {max_fee} wei/gas", trade.opportunity.id))
    out.append(Broadcast(trade.opportunity.id, signed, cancellation=True))
    return put(s, dataclasses.replace(trade, hashes=(*trade.hashes, signed.tx_hash)))
