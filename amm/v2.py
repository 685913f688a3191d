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
MAX_EXACT_STAIRS = 4_096  # amounts the exact search may evaluate per route (a few us each)


def continuous_profit_bound(hops: tuple[tuple[int, int, int], ...]) -> int:
    """An integer at least the route's best continuous profit (so at least every exact profit).

    For the composed pool (a, b, d) with fee f the maximum of f*x*b/(BPS*a + f*d*x) - x is
    (sqrt(f*b) - sqrt(BPS*a))^2 / (f*d); the square roots are rounded apart, the quotient up.
    """
    if not has_edge(hops):
        return 0
    a, b, d = compose(hops)
    f = BPS - hops[0][2]
    gap = isqrt(f * b) + 1 - isqrt(BPS * a)
    return gap * gap // (f * d) + 1


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


def profit_bracket(hops: tuple[tuple[int, int, int], ...], target: int) -> tuple[int, int] | None:
    """Inputs [lo, hi] (lo >= 1) outside which no input's continuous profit reaches target, or None.

    The exact profit never exceeds the continuous one (every hop floors and is monotone), so no
    integer input outside the bracket earns `target` exactly either. For the composed pool (a, b, d)
    with fee f, continuous out(x) = f*x*b / (BPS*a + f*d*x) >= x + target is the quadratic
    f*d*x^2 + (BPS*a + f*d*target - f*b)*x + BPS*a*target <= 0; the bracket rounds its roots outwards.
    """
    a, b, d = compose(hops)
    f = BPS - hops[0][2]
    qa, qb, qc = f * d, BPS * a + f * d * target - f * b, BPS * a * target
    disc = qb * qb - 4 * qa * qc
    if disc < 0:
        return None
    root = isqrt(disc)
    root += root * root < disc  # ceil: the bracket may only grow
    lo = max(1, (-qb - root) // (2 * qa))
    hi = -((qb - root) // (2 * qa))
    return (lo, hi) if lo <= hi else None


def _climb(hops: tuple[tuple[int, int, int], ...]) -> tuple[int, int]:
    """A local maximum of the exact profit over stair edges, from the continuous optimum's stair.

    The floors make the exact output a staircase: flat while the input grows, then a jump. Only a
    stair's left edge (the least input for its output) can be a maximum, so the climb steps to the
    next stair right or left while that strictly improves the profit. (0, 0) when nothing profits.
    """

    def stair_edge(amount: int) -> tuple[int, int]:
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
    return (best_in, best_profit) if best_profit > 0 else (0, 0)


def _layer_amounts(amount: int, hops: tuple[tuple[int, int, int], ...]) -> list[int]:
    """The amount entering each hop and the final output: [input, after hop 1, ..., output]."""
    amounts = [amount]
    for hop in hops:
        amounts.append(route_amount_out(amounts[-1], (hop,)))
    return amounts


def optimal_input_search(
    hops: tuple[tuple[int, int, int], ...], max_stairs: int = MAX_EXACT_STAIRS
) -> tuple[int, int, bool]:
    """(amount_in, profit, exact): the integer input maximising the exact profit of a cyclic route.

    1. A local maximum from the climb (_climb) gives a floor L on the best profit.
    2. Any input earning more than L exactly earns L + 1 continuously, so it lies in
       profit_bracket(hops, L + 1); an empty bracket proves L optimal.
    3. Otherwise the bracket is searched exactly at the layer (the input, an intermediate token or
       the output) with the fewest distinct amounts over it: every hop's output is monotone in its
       input, so for an amount y entering hop k the best input is the least one that delivers y
       (min_input_for over hops[:k]) and the best output is what y buys from hop k on; the best
       route's layer-k amount is one of those enumerated, so the maximum over them is the optimum.
       A coarse-unit token (0, 6 or 8 decimals) makes its layer short.
    The walk starts at the continuous optimum and goes outwards; each improvement narrows the
    bracket. exact is False when even the shortest layer holds more than max_stairs amounts, which
    happens on deep pools of fine-unit tokens only (10^8 amounts and more for 18-decimal tokens):
    the answer is then the climb's local maximum, below the optimum by at most the floors' loss
    (1 + the start-token value of one unit of each intermediate token: a few wei for 18-decimal
    tokens of similar value). (0, 0, True) when nothing profits.
    """
    if not has_edge(hops):
        return 0, 0, True
    best_in, best_profit = _climb(hops)
    bracket = profit_bracket(hops, best_profit + 1)
    if bracket is None:
        return best_in, best_profit, True
    lows, highs = _layer_amounts(bracket[0], hops), _layer_amounts(bracket[1], hops)
    layer = min(range(len(hops) + 1), key=lambda k: highs[k] - lows[k])
    if highs[layer] - lows[layer] + 1 > max_stairs:
        return best_in, best_profit, False
    before, after = hops[:layer], hops[layer:]
    lo, hi = max(1, lows[layer]), highs[layer]
    centre = min(max(_layer_amounts(max(1, continuous_optimum(hops)), hops)[layer], lo), hi)
    # from the continuous optimum outwards: the best amounts sit near it, and each improvement
    # narrows the bracket (its target rises), so the walk usually ends well inside the first one
    for step in (1, -1):
        y = centre if step == 1 else centre - 1
        while lo <= y <= hi:
            least = min_input_for(y, before)
            if least is None:  # more than the pools before this layer can deliver; so is every larger y
                break
            if least > 0 and route_amount_out(y, after) - least > best_profit:
                best_in, best_profit = least, route_amount_out(least, hops) - least  # at least that bound
                narrower = profit_bracket(hops, best_profit + 1)
                if narrower is None:
                    return best_in, best_profit, True
                lo = max(lo, _layer_amounts(narrower[0], hops)[layer])
                hi = min(hi, _layer_amounts(narrower[1], hops)[layer])
            y += step
    return (best_in, best_profit, True) if best_profit > 0 else (0, 0, True)


def optimal_input(hops: tuple[tuple[int, int, int], ...]) -> tuple[int, int]:
    """(amount_in, profit) maximising the exact integer profit of a cyclic route; (0, 0) when nothing profits.

    The exact integer optimum whenever it can be proven within MAX_EXACT_STAIRS evaluations (see
    optimal_input_search, which also says whether it was); tests/amm checks it against brute force.
    """
    amount_in, profit, _ = optimal_input_search(hops)
    return amount_in, profit
