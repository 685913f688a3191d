"""Exact Uniswap V2 integer math, as UniswapV2Library computes it on chain.

Fees are in basis points: fee_bps=30 gives the pair's 997/1000 (9970/10000 is the same ratio,
and every floor below lands on the same integer because numerator and denominator are both
scaled by 10). Nothing here uses floats: a result is the exact integer a pair contract accepts.
"""

from __future__ import annotations

from math import isqrt

BPS = 10_000
UNISWAP_V2_FEE_BPS = 30
MAX_RESERVE = 2**112 - 1  # reserves are uint112 in the pair


class InsufficientLiquidity(ValueError):
    """A quote asked for more than a pool holds, or a pool with an empty side."""


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int = UNISWAP_V2_FEE_BPS) -> int:
    """UniswapV2Library.getAmountOut: the largest output the pair's K check accepts for amount_in."""
    if amount_in <= 0:
        raise ValueError(f"insufficient input amount: {amount_in}")
    if reserve_in <= 0 or reserve_out <= 0:
        raise InsufficientLiquidity(f"empty reserves: in={reserve_in} out={reserve_out}")
    amount_in_with_fee = amount_in * (BPS - fee_bps)
    return (amount_in_with_fee * reserve_out) // (reserve_in * BPS + amount_in_with_fee)


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int, fee_bps: int = UNISWAP_V2_FEE_BPS) -> int:
    """UniswapV2Library.getAmountIn: the smallest input that buys amount_out (rounded up, +1)."""
    if amount_out <= 0:
        raise ValueError(f"insufficient output amount: {amount_out}")
    if reserve_in <= 0 or reserve_out <= 0:
        raise InsufficientLiquidity(f"empty reserves: in={reserve_in} out={reserve_out}")
    if amount_out >= reserve_out:
        raise InsufficientLiquidity(f"output {amount_out} >= reserve {reserve_out}")
    numerator = reserve_in * amount_out * BPS
    denominator = (reserve_out - amount_out) * (BPS - fee_bps)
    return numerator // denominator + 1


def route_amount_out(amount_in: int, hops: tuple[tuple[int, int, int], ...]) -> int:
    """Chain get_amount_out over hops given as (reserve_in, reserve_out, fee_bps); 0 in gives 0 out."""
    amount = amount_in
    for reserve_in, reserve_out, fee_bps in hops:
        if amount <= 0:
            return 0
        amount = get_amount_out(amount, reserve_in, reserve_out, fee_bps)
    return amount


def route_profit(amount_in: int, hops: tuple[tuple[int, int, int], ...]) -> int:
    """Output of a cyclic route minus its input (negative when the route loses)."""
    return route_amount_out(amount_in, hops) - amount_in


def compose(hops: tuple[tuple[int, int, int], ...]) -> tuple[int, int, int]:
    """The virtual pool equivalent to a chain of constant-product pools, as exact integers.

    A chain of pools behaves, before the floors, like one pool with the first hop's fee and
    effective reserves E_in = a / d and E_out = b / d. Returned as (a, b, d). Adding a hop
    (y, z, fee f) to (a, b, d): d' = BPS*d*y + f*b, a' = BPS*a*y, b' = f*b*z, which follows
    from substituting one pool's output into the next (see tests for the brute-force check).
    """
    reserve_in, reserve_out, _ = hops[0]
    a, b, d = reserve_in, reserve_out, 1
    for y, z, fee_bps in hops[1:]:
        f = BPS - fee_bps
        a, b, d = BPS * a * y, f * b * z, BPS * d * y + f * b
    return a, b, d


def continuous_optimum(hops: tuple[tuple[int, int, int], ...]) -> int:
    """Floor of the real-valued optimal input of a cyclic route, 0 when the route cannot profit.

    For the composed pool (E_in, E_out, first fee g): a* = (sqrt(g*E_in*E_out) - E_in) / g, i.e.
    (isqrt(f*BPS*a*b) - BPS*a) // (f*d) in integers. For two pools this is REFERENCE.md's
    d* = (g*sqrt(x1*y1*x2*y2) - x1*y2) / (g*y2 + g^2*y1).
    """
    if not has_edge(hops):
        return 0
    a, b, d = compose(hops)
    f = BPS - hops[0][2]
    return max(0, (isqrt(f * BPS * a * b) - BPS * a) // (f * d))


def has_edge(hops: tuple[tuple[int, int, int], ...]) -> bool:
    """True when the route's marginal rate at zero size is above 1 (g * E_out > E_in), exactly.

    For two pools this is REFERENCE.md's g^2 * y1 * x2 > x1 * y2. Without an edge no size profits,
    not even in real numbers, so no integer size can.
    """
    a, b, _ = compose(hops)
    return (BPS - hops[0][2]) * b > BPS * a


MAX_CLIMB = 10_000  # bound on hill-climbing steps between stairs; a handful is typical


def min_input_for(amount_out: int, hops: tuple[tuple[int, int, int], ...]) -> int | None:
    """The least input whose route output is at least amount_out, or None when the pools cannot pay it.

    Walks the route backwards with the exact inverse of each floor: the least x with
    floor(x*f*r_out / (r_in*BPS + x*f)) >= need is ceil(need*r_in*BPS / (f*(r_out - need))).
    (UniswapV2Library.getAmountIn rounds with floor + 1, one wei too many when the division is exact.)
    """
    need = amount_out
    for reserve_in, reserve_out, fee_bps in reversed(hops):
        if need >= reserve_out:
            return None
        if need <= 0:
            return 0
        need = -(-(need * reserve_in * BPS) // ((BPS - fee_bps) * (reserve_out - need)))
    return need


def optimal_input(hops: tuple[tuple[int, int, int], ...]) -> tuple[int, int]:
    """(amount_in, profit) maximising the exact integer profit of a cyclic route near the closed form.

    The floors make the exact output a staircase: it stays flat while the input grows, then jumps.
    Only the left edge of a stair (the least input for its output) can be a maximum, so the
    search moves between stair edges: start from the continuous optimum's stair, step to the
    next stair right (least input for one more wei out) or left while that strictly improves the
    profit. The answer is a local maximum of the exact profit: profit(a-1) <= profit(a) >= profit(a+1).
    Returns (0, 0) when nothing profits.

    The global integer optimum can sit on another stair of the noisy plateau; it is then better by
    at most the floors' loss: 1 + the sum over intermediate tokens of the start-token value (at the
    margin) of one unit of that token. For 18-decimal tokens of similar value that is a few wei;
    tests/amm checks this bound against brute force.
    """
    if not has_edge(hops):
        return 0, 0

    def stair_edge(amount: int) -> tuple[int, int]:
        """(least input for amount's output, its profit); (0, 0) when the output is 0."""
        out = route_amount_out(amount, hops)
        if out <= 0:
            return 0, 0
        least = min_input_for(out, hops)
        assert least is not None and least <= amount
        return least, route_amount_out(least, hops) - least

    best_in, best_profit = stair_edge(max(1, continuous_optimum(hops)))
    for _ in range(MAX_CLIMB):
        moved = False
        right = min_input_for(route_amount_out(max(best_in, 1), hops) + 1, hops)
        candidates = [] if right is None else [right]
        if best_in > 1:
            candidates.append(stair_edge(best_in - 1)[0])
        for candidate in candidates:
            if candidate <= 0:
                continue
            profit = route_amount_out(candidate, hops) - candidate
            if profit > best_profit:
                best_in, best_profit, moved = candidate, profit, True
                break
        if not moved:
            break
    if best_profit <= 0:
        return 0, 0
    return best_in, best_profit
