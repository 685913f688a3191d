"""The opportunity search's exactness, measured with the project's own functions (issue 12).

1. triangle_misses: 100,000 random triangles W/Z, W/D, Z/D, the two other tokens of 0, 2, 6, 8 or
   18 decimals, prices a few percent apart. scan() with every token as a root is compared with
   exact_scan() (every rooted cycle sized exactly, no screen): a miss is a pool set exact_scan
   finds profitable after gas that scan() drops or values lower. Target 0.
2. optimum_gap: random 2- and 3-hop cycles on small reserves; optimal_input() against the best
   profit of every input (the exhaustive search runs vectorized with numpy int64, after being
   checked against route_profit on the first cases). Target 0 wei.
Prints one JSON object. Usage: python benchmarks/bench_math.py [--quick]
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amm import BlockContext, GasPolicy, MarketGraph, PoolSnapshot, PriceBook, exact_scan, scan
from amm.v2 import BPS, optimal_input, optimal_input_search, route_profit

W, Z, D = ("0x" + f"{n:040x}" for n in (1, 2, 3))
DECIMALS = (0, 2, 6, 8, 18)
FEES = (0, 1, 5, 25, 30, 100, 300)


def triangle(rng: random.Random) -> list[PoolSnapshot]:
    decimals = {W: 18, Z: rng.choice(DECIMALS), D: rng.choice(DECIMALS)}
    price = {W: 1.0, Z: 10 ** rng.uniform(-4.0, 2.0), D: 10 ** rng.uniform(-4.0, 2.0)}
    pools = []
    for n, (a, b) in enumerate(((W, Z), (W, D), (Z, D))):
        eth = 10 ** rng.uniform(-1.0, 3.5)
        r0 = int(eth / price[a] * 10 ** decimals[a])
        r1 = int(eth / price[b] * 10 ** decimals[b] * (1 + rng.uniform(-0.03, 0.03)))
        pools.append(PoolSnapshot(f"0x{n + 10:x}", "u", a, b, max(1, r0), max(1, r1)))
    return pools


def triangle_misses(n: int, seed: int = 12) -> dict[str, object]:
    rng = random.Random(seed)
    policy, prices = GasPolicy(), PriceBook()
    misses = profitable = 0
    started = time.perf_counter()
    for _ in range(n):
        pools = triangle(rng)
        block = BlockContext(number=1, base_fee_wei=rng.randint(0, 30) * 10**9)
        graph = MarketGraph.build(pools, weth=W)
        expected = exact_scan(graph, policy, prices, block)
        if not expected:
            continue  # scan() could only add a false opportunity, which the exact stage never makes
        profitable += 1
        found = {
            frozenset(leg.pool for leg in o.route): o.net_profit_wei
            for o in scan(graph, policy, prices, block).opportunities
        }
        for o in expected:
            key = frozenset(leg.pool for leg in o.route)
            if found.get(key, -1) < o.net_profit_wei:
                misses += 1
                break
    return {
        "triangles": n,
        "profitable_after_gas": profitable,
        "misses": misses,
        "target": 0,
        "seconds": round(time.perf_counter() - started, 1),
    }


def exhaustive_best(hops: tuple[tuple[int, int, int], ...]) -> int:
    """max(0, best route_profit over every input below twice the largest reserve), in int64 numpy."""
    limit = 2 * max(max(r_in, r_out) for r_in, r_out, _ in hops)
    amounts = np.arange(1, limit, dtype=np.int64)
    out = amounts.copy()
    for reserve_in, reserve_out, fee in hops:
        with_fee = out * (BPS - fee)
        out = (with_fee * reserve_out) // (reserve_in * BPS + with_fee)
    return max(0, int((out - amounts).max()))


def optimum_gap(n: int, seed: int = 12) -> dict[str, object]:
    rng = random.Random(seed)
    worst = total = not_exact = profitable = 0
    started = time.perf_counter()
    for i in range(n):
        hops = tuple(
            (rng.randint(50, 3000), rng.randint(50, 3000), rng.choice(FEES)) for _ in range(rng.choice((2, 3)))
        )
        best = exhaustive_best(hops)
        if i < 200:  # the numpy reference is the project's math
            limit = 2 * max(max(r_in, r_out) for r_in, r_out, _ in hops)
            assert best == max(0, max(route_profit(a, hops) for a in range(1, limit)))
        size, profit = optimal_input(hops)
        not_exact += not optimal_input_search(hops)[2]
        assert profit == (route_profit(size, hops) if size else 0)
        profitable += best > 0
        worst = max(worst, best - profit)
        total += best - profit
    return {
        "cycles": n,
        "profitable": profitable,
        "max_gap_wei": worst,
        "total_gap_wei": total,
        "not_proven_exact": not_exact,
        "target_max_gap_wei": 0,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    result = {
        "benchmark": "amm_math_exactness",
        "triangle_misses": triangle_misses(10_000 if quick else 100_000),
        "optimum_gap": optimum_gap(2_000 if quick else 20_000),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
