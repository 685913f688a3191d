"""Seeded synthetic markets for tests and benchmarks: hub tokens, several DEXes, prices a little apart."""

from __future__ import annotations

import random

from amm.pools import PoolSnapshot

DEXES = ("uniswap", "sushiswap")


def address(kind: int, n: int) -> str:
    return f"0x{kind:02x}{n:038x}"


WETH = address(0xEE, 0)


def synthetic_market(n_pools: int, *, seed: int = 0, spread: float = 0.01, hubs: int = 3) -> list[PoolSnapshot]:
    """About n_pools pools: WETH and hubs-1 other hubs, each token paired with every hub on every DEX.

    Reserves hold about 1,000 ETH of value per side (18-decimal tokens) at a true price per token,
    then each pool's price is moved by up to `spread` (relative) so cross-DEX and triangular
    arbitrage exists. Deterministic for a seed.
    """
    rng = random.Random(seed)
    hub_tokens = [WETH] + [address(0xAA, i) for i in range(1, hubs)]
    price = {WETH: 1.0}
    for hub in hub_tokens[1:]:
        price[hub] = rng.uniform(1e-4, 1e-3)  # ETH per unit, like a stablecoin
    pools: list[PoolSnapshot] = []
    pairs: list[tuple[str, str]] = []
    for i, a in enumerate(hub_tokens):
        for b in hub_tokens[i + 1 :]:
            pairs.append((a, b))
    n_token = 0
    while len(pairs) * len(DEXES) < n_pools:
        token = address(0xBB, n_token)
        n_token += 1
        price[token] = 10 ** rng.uniform(-4, 0)
        pairs.extend((hub, token) for hub in hub_tokens)
    for a, b in pairs:
        for dex in DEXES:
            if len(pools) >= n_pools:
                break
            token0, token1 = sorted((a, b))
            depth_eth = rng.uniform(50, 2000)
            move = 1.0 + rng.uniform(-spread, spread)
            reserve0 = int(depth_eth / price[token0] * 1e18)
            reserve1 = int(depth_eth / price[token1] * 1e18 * move)
            pools.append(
                PoolSnapshot(
                    address=address(0xCC, len(pools)),
                    dex=dex,
                    token0=token0,
                    token1=token1,
                    reserve0=reserve0,
                    reserve1=reserve1,
                    fee_bps=30,
                )
            )
    return pools


def next_block(
    pools: list[PoolSnapshot], *, seed: int, fraction: float = 1.0, move: float = 0.002
) -> list[PoolSnapshot]:
    """The pools a new block changed: `fraction` of them, each reserve moved by up to `move` (relative)."""
    rng = random.Random(seed)
    changed = []
    for pool in pools:
        if rng.random() >= fraction:
            continue
        changed.append(
            PoolSnapshot(
                address=pool.address,
                dex=pool.dex,
                token0=pool.token0,
                token1=pool.token1,
                reserve0=max(1, int(pool.reserve0 * (1 + rng.uniform(-move, move)))),
                reserve1=max(1, int(pool.reserve1 * (1 + rng.uniform(-move, move)))),
                fee_bps=pool.fee_bps,
            )
        )
    return changed
