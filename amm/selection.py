"""What the strategy does with a scan's result: pick trades that share no pool, and the market view for risk.

Shared by the live strategy actor and the backtest engine, so both choose and describe trades alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from amm.graph import MarketGraph
from amm.search import eth_reference
from protocol.risk import MarketView
from protocol.trading import Opportunity


def token_prices(graph: MarketGraph, eth_value: float) -> dict[str, float]:
    """Each WETH-priced token's price in ETH per smallest unit, times eth_value when one is known.

    The risk book reads log returns only, so the unit does not matter as long as it is the same each block.
    """
    scale = eth_value if eth_value > 0 else 1.0
    return {graph.tokens[t]: scale * weth / token for t, (weth, token) in eth_reference(graph).items()}


def market_view(history: Iterable[dict[str, float]], tokens: Iterable[str]) -> MarketView:
    """The route's tokens' recent prices, oldest first, sampled at the same blocks for all of them."""
    rows = [row for row in history if all(t in row for t in tokens)]
    return MarketView(prices={t: tuple(row[t] for row in rows) for t in tokens})


class Picked(NamedTuple):
    """What a block's scan hands on, and how many it left out for each reason."""

    opportunities: list[Opportunity]
    shares_a_pool: int  # shared a pool with a better one picked before it
    over_limit: int  # came after the per-block limit was reached


def pick(opportunities: Sequence[Opportunity], limit: int) -> Picked:
    """Best first, skipping any that shares a pool with one already picked, at most `limit`."""
    picked: list[Opportunity] = []
    used: set[str] = set()
    shared = 0
    for seen, opp in enumerate(opportunities, 1):
        if len(picked) >= limit:
            return Picked(picked, shared, len(opportunities) - seen + 1)
        pools = {leg.pool.lower() for leg in opp.route}
        if pools & used:
            shared += 1
            continue
        picked.append(opp)
        used |= pools
    return Picked(picked, shared, 0)
