"""execution.tips.outbid: each loss raises the cheapest fee that did not beat the rival's, within the caps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from execution.tips import Bid, above, outbid

GWEI = 10**9
CAPS = {"max_tip_wei": 20 * GWEI, "max_fee_cap_wei": 500 * GWEI}


def test_the_free_max_fee_is_raised_first() -> None:
    # the devnet's market: tip 3 gwei, max fee 100 gwei; ours 1 gwei and 3 gwei
    bid = outbid(Bid(), sent_tip_wei=GWEI, sent_max_fee_wei=3 * GWEI, rival_tip_wei=3 * GWEI,
                 rival_max_fee_wei=100 * GWEI, **CAPS)
    assert bid == Bid(tip_wei=0, max_fee_floor_wei=112_500_000_001)


def test_the_tip_only_once_the_max_fee_was_above() -> None:
    bid = outbid(Bid(max_fee_floor_wei=113 * GWEI), sent_tip_wei=GWEI, sent_max_fee_wei=113 * GWEI,
                 rival_tip_wei=3 * GWEI, rival_max_fee_wei=100 * GWEI, **CAPS)
    assert bid == Bid(tip_wei=3_375_000_001, max_fee_floor_wei=113 * GWEI)


def test_nothing_when_we_were_above_on_both() -> None:
    bid = Bid(4 * GWEI, 113 * GWEI)
    assert outbid(bid, sent_tip_wei=4 * GWEI, sent_max_fee_wei=113 * GWEI, rival_tip_wei=3 * GWEI,
                  rival_max_fee_wei=100 * GWEI, **CAPS) == bid


def test_caps_hold_against_a_huge_rival() -> None:
    bid = outbid(Bid(), sent_tip_wei=GWEI, sent_max_fee_wei=3 * GWEI, rival_tip_wei=10**20,
                 rival_max_fee_wei=10**20, **CAPS)
    assert bid.max_fee_floor_wei == CAPS["max_fee_cap_wei"]


fees = st.integers(0, 10**12)


@given(fees, fees, fees, fees, fees, fees)
def test_a_bid_never_falls_and_never_passes_its_caps_unless_it_already_did(
        tip: int, floor: int, sent_tip: int, sent_max: int, rival_tip: int, rival_max: int) -> None:
    before = Bid(tip, floor)
    after = outbid(before, sent_tip_wei=sent_tip, sent_max_fee_wei=sent_max, rival_tip_wei=rival_tip,
                   rival_max_fee_wei=rival_max, **CAPS)
    assert after.tip_wei >= before.tip_wei and after.max_fee_floor_wei >= before.max_fee_floor_wei
    assert after.tip_wei <= max(before.tip_wei, CAPS["max_tip_wei"])
    assert after.max_fee_floor_wei <= max(before.max_fee_floor_wei, CAPS["max_fee_cap_wei"])
    changed = [after.tip_wei != before.tip_wei, after.max_fee_floor_wei != before.max_fee_floor_wei]
    assert sum(changed) <= 1  # one component per loss
    if after.max_fee_floor_wei != before.max_fee_floor_wei:
        assert sent_max <= rival_max and after.max_fee_floor_wei in (above(rival_max), CAPS["max_fee_cap_wei"])
    if after.tip_wei != before.tip_wei:
        assert sent_max > rival_max and sent_tip <= rival_tip

