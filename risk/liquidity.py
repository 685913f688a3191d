"""Liquidity risk: what this size does to the route's pools, with the exact constant-product math.

Uniswap V2 integer arithmetic: out = a * (10000 - fee) * rOut // (rIn * 10000 + a * (10000 - fee)).
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.trading import Leg

UINT112_MAX = 2**112 - 1  # a V2 pair's reserves are uint112; nothing real is bigger
BPS = 10_000


class LiquidityError(ValueError):
    """A leg of the route cannot carry the trade (empty pool, bad fee, overflow...)."""


def amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int = 30) -> int:
    """Exact V2 getAmountOut for a fee in basis points (30 = 0.3%)."""
    a = amount_in * (BPS - fee_bps)
    return a * reserve_out // (reserve_in * BPS + a)


def check_leg(index: int, leg: Leg) -> None:
    for name in ("amount_in", "amount_out", "reserve_in", "reserve_out", "fee_bps"):
        value = getattr(leg, name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise LiquidityError(f"leg {index} ({leg.pool}): {name} is not an integer")
        if value < 0:
            raise LiquidityError(f"leg {index} ({leg.pool}): {name} is negative ({value})")
        if value > UINT112_MAX:
            raise LiquidityError(f"leg {index} ({leg.pool}): {name} overflows uint112")
    if leg.reserve_in == 0 or leg.reserve_out == 0:
        raise LiquidityError(f"leg {index} ({leg.pool}): pool has no liquidity")
    if leg.fee_bps >= BPS:
        raise LiquidityError(f"leg {index} ({leg.pool}): fee {leg.fee_bps} bps is not below 100%")


def route_through(route: Sequence[Leg], amount_in: int) -> tuple[int, float, float]:
    """Push amount_in through the route against the legs' reserves.

    Returns (final amount out, worst price impact of any leg, worst share of a reserve_in taken).
    Price impact of a leg = 1 - executed price / spot price after fee = a*g / (rIn + a*g)
    with g = 1 - fee: the fraction of the output lost to moving the pool.
    """
    amount = amount_in
    worst_impact = 0.0
    worst_share = 0.0
    for leg in route:
        g = (BPS - leg.fee_bps) / BPS
        impact = amount * g / (leg.reserve_in + amount * g)
        worst_impact = max(worst_impact, impact)
        worst_share = max(worst_share, amount / leg.reserve_in)
        amount = amount_out(amount, leg.reserve_in, leg.reserve_out, leg.fee_bps)
    return amount, worst_impact, worst_share


def predicted_slippage(route: Sequence[Leg], amount_in: int) -> float:
    """Share of the route's expected output (the last leg's amount_out) the reserves will not give.

    0 when the reserves deliver at least what the strategy expected; a strategy that priced the
    legs from stale reserves or ignored the fee shows up here.
    """
    expected = route[-1].amount_out
    if expected <= 0:
        return 1.0
    delivered, _, _ = route_through(route, amount_in)
    return max(0.0, (expected - delivered) / expected)


def liquidity_risk(route: Sequence[Leg], amount_in: int, impact_ceiling: float) -> tuple[float, float, float, float]:
    """(score in [0, 1], worst price impact, predicted slippage, worst reserve share) at amount_in."""
    _, impact, share = route_through(route, amount_in)
    slippage = predicted_slippage(route, amount_in)
    ceiling = impact_ceiling if impact_ceiling > 0 else 1e-9
    score = min(1.0, max(impact, slippage) / ceiling)
    return score, impact, slippage, share
