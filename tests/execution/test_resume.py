"""Carrying approved trades across an executor restart (execution.resume), pure: publish, decode, take over."""

from __future__ import annotations

import dataclasses

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.answers import receipt_of
from execution.ledger import Trade, new_trade, outcome_of, settle
from execution.nonces import bump_fee
from execution.resume import RESTARTED_BEFORE_SENDING, in_flight, nonce_book, resume
from execution.transaction import SignedTx
from protocol.execution import ExecutorSnapshot, SubmitMode, TradeStage
from protocol.trading import TradeStatus
from tests.execution.test_ledger import EXECUTOR, opportunity, receipt

ACCOUNT = "0x" + "ab" * 20
CHAIN_ID = 31337


def snapshot_of(trades: list[Trade], account: str = ACCOUNT, chain_id: int = CHAIN_ID) -> ExecutorSnapshot:
    """What the executor publishes, through the codec and back: the snapshot is a plain value."""
    snap = ExecutorSnapshot(
        mode=SubmitMode.PUBLIC, account=account, chain_id=chain_id, received=7, deciding=0, in_flight=len(trades),
        mined=2, reverted=1, not_included=0, skipped=4, realized_profit={"0x11": 5}, gas_cost_wei=9, next_nonce=3,
        inventory={}, last_head=10, version=42, in_flight_trades=tuple(in_flight(t) for t in trades),
    )
    return msgspec.json.decode(msgspec.json.encode(snap), type=ExecutorSnapshot)


def signed_trade(oid: str, nonce: int, hashes: tuple[str, ...], fees: tuple[int, int], sent_block: int,
                 stage: TradeStage, mode: SubmitMode = SubmitMode.PUBLIC) -> Trade:
    trade = new_trade(opportunity(oid=oid), mode)
    signed = SignedTx(raw="0xf00d", tx_hash=hashes[0], nonce=nonce, gas=200_000, max_fee_per_gas=fees[0],
                      max_priority_fee_per_gas=fees[1])
    trade = dataclasses.replace(trade, signed=signed, hashes=hashes, sent_block=sent_block, approved=True)
    return trade.at(stage, tx_hash=hashes[0], nonce=nonce, gas_limit=200_000, simulated_profit=3, amount_in=10)


hashes = st.lists(st.integers(1, 2**64).map(lambda n: "0x" + format(n, "064x")), min_size=1, max_size=2,
                  unique=True).map(tuple)


@settings(max_examples=60, deadline=None)
@given(nonce=st.integers(0, 2**32), tx_hashes=hashes, max_fee=st.integers(1, 10**12), tip=st.integers(1, 10**10),
       sent_block=st.integers(0, 10**6), stage=st.sampled_from([TradeStage.SIMULATED, TradeStage.SUBMITTED]),
       status=st.sampled_from([0, 1]))
def test_a_taken_over_trade_settles_to_the_same_outcome(
    nonce: int, tx_hashes: tuple[str, ...], max_fee: int, tip: int, sent_block: int, stage: TradeStage, status: int,
) -> None:
    original = signed_trade("t", nonce, tx_hashes, (max_fee, tip), sent_block, stage)
    taken = resume(snapshot_of([original]), account=ACCOUNT, chain_id=CHAIN_ID)
    assert taken.skip == ()
    [trade] = taken.follow
    assert trade.record.stage is TradeStage.SUBMITTED  # followed, whether or not the node had answered the send
    assert trade.approved and trade.hashes == tx_hashes and trade.sent_block == sent_block
    assert trade.signed is not None and trade.signed.nonce == nonce and trade.signed.tx_hash == tx_hashes[0]
    assert (trade.signed.max_fee_per_gas, trade.signed.max_priority_fee_per_gas) == (max_fee, tip)
    # the receipt of the trade's own transaction settles both to the same TradeOutcome (but for the clock)
    mined = receipt(status, profit=3 if status else 0)
    before = outcome_of(settle(original, tx_hashes[0], receipt_of(mined), EXECUTOR))
    after = outcome_of(settle(trade, tx_hashes[0], receipt_of(mined), EXECUTOR))
    assert msgspec.structs.replace(after, finished_at=0.0) == msgspec.structs.replace(before, finished_at=0.0)
    assert after.status is (TradeStatus.MINED if status else TradeStatus.REVERTED)
    # the nonce book knows the transaction: a cancellation outbids its fees
    book = nonce_book(ACCOUNT, taken.follow)
    assert book.next_nonce is None  # the count is the chain's to say (startup read)
    assert book.replacement_fees(nonce) == (max(bump_fee(max_fee), bump_fee(tip)), bump_fee(tip))
    assert book.synced(nonce).in_flight[nonce].tx_hash == tx_hashes[0]


def test_an_approved_unsigned_trade_is_closed_as_skipped_once() -> None:
    approved = dataclasses.replace(new_trade(opportunity(oid="u"), SubmitMode.PUBLIC), approved=True)
    approved = approved.at(TradeStage.ASSESSED)
    sent = signed_trade("s", 4, ("0x" + "aa" * 32,), (100, 10), 0, TradeStage.SUBMITTED)
    taken = resume(snapshot_of([approved, sent]), account=ACCOUNT, chain_id=CHAIN_ID)
    assert [t.opportunity.id for t in taken.follow] == ["s"]
    [skipped] = taken.skip
    assert skipped.record.stage is TradeStage.SKIPPED and skipped.record.reason == RESTARTED_BEFORE_SENDING
    outcome = outcome_of(skipped)
    assert outcome.status is TradeStatus.FAILED and outcome.gas_cost_wei == 0 and outcome.realized_pnl_value == 0
    assert taken.last is not None and (taken.last.version, taken.last.mined, taken.last.received) == (42, 2, 7)


def test_another_accounts_or_chains_snapshot_is_not_taken_over() -> None:
    sent = signed_trade("s", 4, ("0x" + "aa" * 32,), (100, 10), 0, TradeStage.SUBMITTED)
    for snap in (snapshot_of([sent], account="0x" + "cd" * 20), snapshot_of([sent], chain_id=1), None, "junk"):
        taken = resume(snap, account=ACCOUNT, chain_id=CHAIN_ID)
        assert (taken.follow, taken.skip, taken.last) == ((), (), None)
