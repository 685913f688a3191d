"""NonceBook: never hands out a nonce twice while it is in use, never leaves a silent gap."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from execution.nonces import InFlight, NonceBook, NonceUnknown, bump_fee

ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def tx(nonce: int, block: int = 0, fee: int = 100) -> InFlight:
    return InFlight(nonce=nonce, tx_hash=f"0x{nonce:064x}", max_fee_per_gas=fee, max_priority_fee_per_gas=fee // 10,
                    sent_block=block)


def test_unknown_until_synced() -> None:
    with pytest.raises(NonceUnknown, match=ACCOUNT):
        NonceBook(ACCOUNT).reserve()


def test_in_order_then_resync_on_nonce_too_low() -> None:
    book = NonceBook(ACCOUNT).synced(5)
    book, a = book.reserve()
    book, b = book.reserve()
    assert (a, b) == (5, 6)
    book = book.sent(tx(a)).sent(tx(b))
    # someone else (another process with the same key) used 5..8: the node says "nonce too low"
    book = book.synced(9)
    assert book.next_nonce == 9 and not book.in_flight
    book, c = book.reserve()
    assert c == 9


def test_release_top_reuses_release_lower_forces_resync() -> None:
    book = NonceBook(ACCOUNT).synced(0)
    book, a = book.reserve()
    book, b = book.reserve()
    top = book.released(b)
    assert top.next_nonce == 1
    gap = book.released(a)
    assert gap.next_nonce is None  # a gap below 1: ask the chain rather than guess
    with pytest.raises(NonceUnknown):
        gap.reserve()


def test_replacement_fees_clear_the_ten_percent_rule() -> None:
    book = NonceBook(ACCOUNT).synced(0)
    book, n = book.reserve()
    book = book.sent(tx(n, fee=1_000))
    max_fee, tip = book.replacement_fees(n)
    assert max_fee >= 1_100 and tip >= 110 and max_fee >= tip
    assert bump_fee(0) == 1 and bump_fee(1) == 2


def test_stuck_after_blocks() -> None:
    book = NonceBook(ACCOUNT).synced(0)
    book, n = book.reserve()
    book = book.sent(tx(n, block=10))
    assert book.stuck(head=12, after_blocks=3) == ()
    assert [t.nonce for t in book.stuck(head=13, after_blocks=3)] == [n]


class NonceModel(RuleBasedStateMachine):
    """The chain accepts nonces strictly in order; the book must agree with it after every event."""

    def __init__(self) -> None:
        super().__init__()
        self.chain_count = 3
        self.book = NonceBook(ACCOUNT).synced(self.chain_count)
        self.sent: dict[int, int] = {}  # nonce -> times sent

    @precondition(lambda self: self.book.next_nonce is not None)
    @rule()
    def reserve(self) -> None:
        self.book, nonce = self.book.reserve()
        assert nonce not in self.book.in_flight
        assert nonce >= self.chain_count

    @precondition(lambda self: bool(self.book.reserved))
    @rule(data=st.data())
    def send(self, data: st.DataObject) -> None:
        nonce = data.draw(st.sampled_from(sorted(self.book.reserved)))
        self.book = self.book.sent(tx(nonce))
        self.sent[nonce] = self.sent.get(nonce, 0) + 1

    @precondition(lambda self: bool(self.book.reserved) or bool(self.book.in_flight))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        nonce = data.draw(st.sampled_from(sorted(set(self.book.reserved) | set(self.book.in_flight))))
        self.book = self.book.released(nonce)

    @precondition(lambda self: self.chain_count in self.book.in_flight)
    @rule()
    def mine_next(self) -> None:
        self.book = self.book.mined(self.chain_count)
        self.chain_count += 1

    @rule(other=st.integers(min_value=0, max_value=3))
    def resync(self, other: int) -> None:
        # another sender with the same key may have used `other` more nonces meanwhile
        self.chain_count += other
        self.book = self.book.synced(self.chain_count)

    @invariant()
    def never_below_chain(self) -> None:
        if self.book.next_nonce is not None:
            assert self.book.next_nonce >= self.chain_count
            used = set(self.book.reserved) | set(self.book.in_flight)
            assert all(n < self.book.next_nonce for n in used)
        assert not set(self.book.reserved) & set(self.book.in_flight)


TestNonceModel = NonceModel.TestCase
TestNonceModel.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
