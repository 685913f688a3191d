"""What the strategy does with a scan's result: pick trades that share no pool, and the market view for risk.

Shared by the live strategy actor and the backtest engine, so both choose and describe trades alike.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def pick_disjoint(opportunities: Iterable[Opportunity], limit: int) -> list[Opportunity]:
    """Best first, skipping any that shares a pool with one already picked."""
    picked: list[Opportunity] = []
    used: set[str] = set()
    for opp in opportunities:
        pools = {leg.pool.lower() for leg in opp.route}
        if pools & used:
            continue
        picked.append(opp)
        used |= pools
        if len(picked) >= limit:
            break
    return picked
