"""Carrying approved trades across an executor restart: pure conversions, no I/O.

The executor publishes every approved, unfinished trade as an `InFlightTrade`; a new incarnation
reads the last snapshot back (`resume`) and gets the trades to follow (those with a transaction out)
and those to close as skipped (approved, never signed), plus a nonce book that knows the transactions
still out, so a stuck one can be cancelled with fees that outbid it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from types import MappingProxyType

from execution.ledger import Trade
from execution.nonces import InFlight, NonceBook
from execution.transaction import SignedTx
from protocol.execution import ExecutorSnapshot, InFlightTrade, TradeStage

RESTARTED_BEFORE_SENDING = "executor restarted before sending"


def in_flight(trade: Trade) -> InFlightTrade:
    """What a restart needs to finish `trade` (an approved trade, signed or not)."""
    signed = trade.signed
    return InFlightTrade(
        opportunity=trade.opportunity, record=trade.record, hashes=trade.hashes if signed is not None else (),
        sent_block=trade.sent_block, max_fee_per_gas=signed.max_fee_per_gas if signed is not None else 0,
        max_priority_fee_per_gas=signed.max_priority_fee_per_gas if signed is not None else 0,
    )


def resumed(item: InFlightTrade) -> Trade:
    """The trade back, as a submitted one being followed (the caller checked it has hashes).

    A trade whose send was still unanswered at the crash counts as submitted too: the node may have
    taken it, and if it did not, the stuck-transaction path cancels its nonce.
    """
    record = item.record
    if not item.hashes or record.nonce is None:
        raise ValueError(f"trade {record.opportunity_id} has no transaction to follow")
    signed = SignedTx(raw="", tx_hash=item.hashes[0], nonce=record.nonce, gas=record.gas_limit,
                      max_fee_per_gas=item.max_fee_per_gas, max_priority_fee_per_gas=item.max_priority_fee_per_gas)
    trade = Trade(opportunity=item.opportunity, record=record, signed=signed, hashes=item.hashes,
                  sent_block=item.sent_block, send_attempts=1, approved=True)
    return trade if record.stage is TradeStage.SUBMITTED else trade.at(TradeStage.SUBMITTED)


def unsent(item: InFlightTrade) -> Trade:
    """An approved trade that never had a transaction out, closed as skipped (the book hears it once)."""
    trade = Trade(opportunity=item.opportunity, record=item.record, approved=True)
    return trade.at(TradeStage.SKIPPED, reason=RESTARTED_BEFORE_SENDING)


def nonce_book(account: str, trades: Iterable[Trade]) -> NonceBook:
    """A book that knows the resumed transactions but not the count: the startup read syncs it."""
    out = {t.signed.nonce: InFlight(t.signed.nonce, t.signed.tx_hash, t.signed.max_fee_per_gas,
                                    t.signed.max_priority_fee_per_gas, t.sent_block)
           for t in trades if t.signed is not None}
    return NonceBook(account, in_flight=MappingProxyType(out))


@dataclasses.dataclass(frozen=True)
class Resume:
    """What a new incarnation takes over from the last snapshot of the one before."""

    follow: tuple[Trade, ...]
    skip: tuple[Trade, ...]
    last: ExecutorSnapshot | None


def resume(last: object, *, account: str, chain_id: int) -> Resume:
    """The trades to take over from `last` (the path's previous snapshot, if any).

    Only a snapshot of the same account on the same chain is taken over: another account's
    transactions are not ours to follow.
    """
    if not isinstance(last, ExecutorSnapshot) or last.account != account or last.chain_id != chain_id:
        return Resume((), (), None)
    follow = tuple(resumed(t) for t in last.in_flight_trades if t.hashes and t.record.nonce is not None)
    skip = tuple(unsent(t) for t in last.in_flight_trades if not t.hashes or t.record.nonce is None)
    return Resume(follow, skip, last)
