"""What we bid for a place in the block, raised when a rival's swap on our pools was ordered ahead of us.

A trade sized on block N's reserves lands in a later block behind every transaction the block's
builder orders first: if one of those swaps our pools, the trade runs on moved prices and usually
reverts (execution.revert_cause: late_to_market_swap). What orders a block differs by node: block
builders order by the tip actually paid; anvil (the devnet and the benchmarks) by maxFeePerGas. The
rival's fees are read from the block we lost in, and each loss raises the cheapest component that
was not already above the rival's, by one replacement step (12.5 %) and 1 wei:

- our maxFeePerGas, if it was not above the rival's: free on every chain (a transaction pays the base
  fee plus its tip; the max fee only caps that), so it is always raised first;
- else our tip, if it was not above the rival's: this one costs, and the profitability checks price
  gas at the tip actually bid (execution.profitability), so a trade that cannot pay it is not sent;
- else nothing: we outbid it on both and were still ordered after (arrival order, a private flow).

Both are capped by the execution policy; a configured tip or fee is never lowered.
"""

from __future__ import annotations

import msgspec

OUTBID_NUMERATOR, OUTBID_DENOMINATOR = 9, 8  # +12.5 %: as a replacement transaction's minimum bump


class Bid(msgspec.Struct, frozen=True):
    """What we learned to bid: a tip, and a floor under maxFeePerGas (0: the policy's defaults)."""

    tip_wei: int = 0
    max_fee_floor_wei: int = 0


def above(fee_wei: int) -> int:
    return fee_wei * OUTBID_NUMERATOR // OUTBID_DENOMINATOR + 1


def outbid(bid: Bid, *, sent_tip_wei: int, sent_max_fee_wei: int, rival_tip_wei: int, rival_max_fee_wei: int,
           max_tip_wei: int, max_fee_cap_wei: int) -> Bid:
    """The bid after losing to a rival whose fees were (rival_tip, rival_max_fee) while ours were
    (sent_tip, sent_max_fee): the cheapest component that did not beat the rival's, raised above it."""
    if sent_max_fee_wei <= rival_max_fee_wei:
        floor = min(max_fee_cap_wei, above(rival_max_fee_wei))
        return msgspec.structs.replace(bid, max_fee_floor_wei=max(bid.max_fee_floor_wei, floor))
    if sent_tip_wei <= rival_tip_wei:
        return msgspec.structs.replace(bid, tip_wei=max(bid.tip_wei, min(max_tip_wei, above(rival_tip_wei))))
    return bid
