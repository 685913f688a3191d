"""The tip we bid, raised when a rival's higher tip ordered its swap on our pools ahead of our trade.

A trade sized on block N's reserves lands in a later block behind every transaction with a higher
priority fee: if one of those swaps our pools, the trade runs on moved prices and usually reverts
(execution.revert_cause: late_to_market_swap). Block builders (and anvil) order by tip, so the only
way to go first is to bid above the flow we compete with. The rival's tip is read from the block we
lost in; later trades bid it plus one replacement step (12.5 %) and 1 wei, never more than the policy's
cap. The profitability checks price gas at the tip actually bid (execution.profitability), so a trade
whose profit cannot pay the higher tip is simply not sent.
"""

from __future__ import annotations

OUTBID_NUMERATOR, OUTBID_DENOMINATOR = 9, 8  # +12.5 %: as a replacement transaction's minimum bump


def outbid(rival_tip_wei: int, current_tip_wei: int, cap_wei: int) -> int:
    """The tip to bid from now on: above the rival's, never below the current one, never above the cap
    (unless the current tip already is: a configured tip is not lowered)."""
    wanted = rival_tip_wei * OUTBID_NUMERATOR // OUTBID_DENOMINATOR + 1
    return max(current_tip_wei, min(cap_wei, wanted))
