"""Is a trade worth sending at the size it is sent? Gross profit in the profit token, net of gas at our bid.

The bid is the gas price the strategy prices routes with (amm.gas.GasPolicy: the base fee with room
for one 12.5 % rise, plus our tip); gas is priced in the profit token at the rate the strategy used
for the opportunity (its gas_cost_token / gas_cost_wei, through the deepest WETH pool, rounded up).

Three checks use it, all on the size actually sent:
- before the simulation, the expected profit must cover the strategy's gas estimate (an upper bound
  of the route's gas) at the bid, plus the minimum: else the trade is not simulated;
- the call's minProfit is at least that gas plus the minimum, so a trade that lands pays its gas;
- after the simulation, the simulated profit must cover the simulated gas (eth_estimateGas plus the
  per-hop accumulator margin of execution.transaction) at the bid, plus the minimum: else not sent.
"""

from __future__ import annotations

from amm.gas import GasPolicy
from execution.transaction import GAS_MARGIN_PER_HOP
from protocol.trading import Opportunity

#: Two cold SLOAD + SSTORE of non-zero accumulator slots (2 * (2100 + 2900)) plus their arithmetic, rounded up.
ACCUMULATING_PAIR_GAS = 12_000


class GasUnpriceable(ValueError):
    """The opportunity carries no rate from ETH wei to its profit token, and gas is not free."""


def gas_bid_wei(base_fee_wei: int, priority_fee_wei: int) -> int:
    """The price per gas a trade is judged at: base fee * 113 % + tip (what amm prices routes with)."""
    return GasPolicy(priority_fee_wei=priority_fee_wei).gas_price_wei(base_fee_wei)


def gas_used_bound(estimate: int, hops: int, accumulating: int | None = None) -> int:
    """eth_estimateGas at latest plus the price accumulators the next block may write (see transaction).

    A pair that already synced in the latest block skips its accumulator update in a simulation at latest
    and writes it in the next block: two SSTOREs. Into a zero slot they cost 22.1k each (GAS_MARGIN_PER_HOP
    covers both); a pair whose accumulators are already non-zero (`accumulating` of the route's pairs, read
    with the simulation) rewrites them for ACCUMULATING_PAIR_GAS. Unknown: every pair is priced as zero.
    """
    warm = min(max(accumulating or 0, 0), hops)
    return estimate + ACCUMULATING_PAIR_GAS * warm + GAS_MARGIN_PER_HOP * (hops - warm)


def wei_in_token(opportunity: Opportunity, wei: int) -> int:
    """`wei` of ETH in the opportunity's profit token, rounded up (never flatters a trade)."""
    if wei <= 0:
        return 0
    if opportunity.gas_cost_wei <= 0 or opportunity.gas_cost_token <= 0:
        raise GasUnpriceable(f"opportunity {opportunity.id} has no ETH -> {opportunity.token_symbol} rate "
                             f"(gas_cost_wei {opportunity.gas_cost_wei}, gas_cost_token {opportunity.gas_cost_token})")
    return -(-wei * opportunity.gas_cost_token // opportunity.gas_cost_wei)


def gas_floor(opportunity: Opportunity, gas: int, bid_wei: int, min_net_profit_wei: int) -> int:
    """What a trade using `gas` must earn, in the profit token, to clear gas at `bid_wei` and the minimum."""
    return wei_in_token(opportunity, gas * bid_wei) + wei_in_token(opportunity, min_net_profit_wei)


def net_of_gas(opportunity: Opportunity, gross: int, gas: int, bid_wei: int) -> int:
    """`gross` (profit token) less `gas` at `bid_wei`, in the profit token."""
    return gross - wei_in_token(opportunity, gas * bid_wei)
