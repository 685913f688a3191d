"""The devnet's market: seeded random swaps that make the two DEXes' prices drift apart. PURE.

Model. Every pair (WETH/USDC, ...) has one "fair" log price that follows a random walk shared by
all DEXes; every pool also has its own deviation from it, a mean-reverting (Ornstein-Uhlenbeck)
noise. A pool's target log price is its seed price + the pair's walk + its own deviation. Each
step picks one pool and trades it toward its target (an informed flow), or, with some probability,
trades it in a random direction (uninformed flow). Because the deviations are independent per
pool, the same pair on two DEXes wanders apart by a few percent: more than the 0.6% round-trip
fee, which is what gives the bot something to do; and because they revert, prices do not run
off forever once the bot closes a gap.

Swap sizes are fractions of the input reserve, bounded by MarketParams, and applied to the pool's
integer reserves: amounts are wei ints; floats only carry the statistics of the walk.

Determinism: step n draws from random.Random(f"{seed}:{n}"), so a run is reproducible from its
seed and its reserves alone, whatever happened before (no hidden RNG state to persist).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping

import msgspec

from devnet.world import PoolInfo

FEE_NUMERATOR = 997  # Uniswap V2: 0.3% fee on the input amount
FEE_DENOMINATOR = 1000
PPM = 1_000_000


# --- exact Uniswap V2 arithmetic -----------------------------------------------------------------


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """UniswapV2Library.getAmountOut, to the wei: (a*997*rOut) // (rIn*1000 + a*997)."""
    if amount_in <= 0:
        raise ValueError(f"amount_in must be positive, got {amount_in}")
    if reserve_in <= 0 or reserve_out <= 0:
        raise ValueError(f"reserves must be positive, got {reserve_in}/{reserve_out}")
    with_fee = amount_in * FEE_NUMERATOR
    return (with_fee * reserve_out) // (reserve_in * FEE_DENOMINATOR + with_fee)


def swap_outputs(zero_for_one: bool, amount_out: int) -> tuple[int, int]:
    """(amount0Out, amount1Out) for UniswapV2Pair.swap."""
    return (0, amount_out) if zero_for_one else (amount_out, 0)


def reserves_after(reserve0: int, reserve1: int, zero_for_one: bool, amount_in: int) -> tuple[int, int]:
    """The pair's reserves after an exact-input swap sized with get_amount_out."""
    if zero_for_one:
        out = get_amount_out(amount_in, reserve0, reserve1)
        return reserve0 + amount_in, reserve1 - out
    out = get_amount_out(amount_in, reserve1, reserve0)
    return reserve0 - out, reserve1 + amount_in


def k_invariant_holds(reserve0: int, reserve1: int, zero_for_one: bool, amount_in: int, amount_out: int) -> bool:
    """The check UniswapV2Pair.swap makes: adjusted balances' product >= reserves' product * 1000^2."""
    if zero_for_one:
        b0, b1 = reserve0 + amount_in, reserve1 - amount_out
        adj0, adj1 = b0 * 1000 - amount_in * 3, b1 * 1000
    else:
        b0, b1 = reserve0 - amount_out, reserve1 + amount_in
        adj0, adj1 = b0 * 1000, b1 * 1000 - amount_in * 3
    return b0 > 0 and b1 > 0 and adj0 * adj1 >= reserve0 * reserve1 * 1000**2


def log_price(reserve0: int, reserve1: int) -> float:
    """log of the pool's price in raw units (token1 wei per token0 wei)."""
    return math.log(reserve1) - math.log(reserve0)


# --- the generator -------------------------------------------------------------------------------


class MarketParams(msgspec.Struct, frozen=True):
    trend_sigma: float = 0.001  # per step, std of the shared log-price walk of every pair
    pool_noise_sigma: float = 0.003  # per step, std of each pool's own deviation
    pool_noise_reversion: float = 0.05  # share of a pool's deviation that decays each step
    noise_trade_probability: float = 0.25  # share of steps that trade in a random direction
    min_trade_ppm: int = 500  # smallest swap: 0.05% of the input reserve
    max_trade_ppm: int = 20_000  # largest swap: 2% of the input reserve
    settle_band: float = 1e-4  # a pool this close (in log price) to its target gets a noise trade


class MarketPool(msgspec.Struct, frozen=True):
    """A pool as the generator sees it: the pair it belongs to and its seed log price."""

    address: str
    pair: str  # same key for the same two tokens on every DEX
    base_log_price: float


class SwapOrder(msgspec.Struct, frozen=True):
    """Sell amount_in of token0 (zero_for_one) or token1 into pool; amount_out from get_amount_out."""

    pool: str
    zero_for_one: bool
    amount_in: int
    amount_out: int
    step: int
    informed: bool  # toward the pool's target (True) or a random direction (False)


class MarketState(msgspec.Struct, frozen=True):
    seed: int
    step: int
    pools: tuple[MarketPool, ...]
    pair_walk: dict[str, float]  # pair -> shared log-price offset; never mutated, replaced
    pool_noise: dict[str, float]  # pool address -> own log-price deviation

    def target_log_price(self, pool: MarketPool) -> float:
        return pool.base_log_price + self.pair_walk[pool.pair] + self.pool_noise[pool.address]


def market_pools(pools: Iterable[PoolInfo]) -> tuple[MarketPool, ...]:
    """The generator's view of deployed pools, seeded at their initial reserves."""
    return tuple(
        MarketPool(p.address, f"{p.token0}/{p.token1}", log_price(p.initial_reserve0, p.initial_reserve1))
        for p in pools
    )


def initial_state(pools: Iterable[MarketPool], seed: int) -> MarketState:
    ordered = tuple(sorted(pools, key=lambda p: p.address))
    if not ordered:
        raise ValueError("the market needs at least one pool")
    return MarketState(
        seed=seed,
        step=0,
        pools=ordered,
        pair_walk={p.pair: 0.0 for p in ordered},
        pool_noise={p.address: 0.0 for p in ordered},
    )


def next_swap(
    state: MarketState,
    reserves: Mapping[str, tuple[int, int]],
    params: MarketParams = MarketParams(),  # noqa: B008 - frozen, shared safely
) -> tuple[SwapOrder | None, MarketState]:
    """Advance the market one step and size the swap it makes at the pools' current reserves.

    `reserves` maps pool address -> (reserve0, reserve1); a pool missing from it (or empty) is
    skipped this step (None). Returns the order and the next state.
    """
    rng = random.Random(f"{state.seed}:{state.step}")
    decay = 1.0 - params.pool_noise_reversion
    pair_walk = {pair: x + rng.gauss(0.0, params.trend_sigma) for pair, x in sorted(state.pair_walk.items())}
    pool_noise = {
        addr: x * decay + rng.gauss(0.0, params.pool_noise_sigma) for addr, x in sorted(state.pool_noise.items())
    }
    after = msgspec.structs.replace(state, step=state.step + 1, pair_walk=pair_walk, pool_noise=pool_noise)
    pool = state.pools[rng.randrange(len(state.pools))]
    noise_roll = rng.random()
    size_roll = rng.random()
    direction_roll = rng.random()

    r0, r1 = reserves.get(pool.address, (0, 0))
    if r0 <= 0 or r1 <= 0:
        return None, after
    gap = after.target_log_price(pool) - log_price(r0, r1)
    informed = abs(gap) > params.settle_band and noise_roll >= params.noise_trade_probability
    if informed:
        # Constant product: moving log price by `gap` needs the input reserve to grow by
        # exp(|gap|/2) - 1 (before the fee, which the bound makes irrelevant).
        zero_for_one = gap < 0  # selling token0 lowers token1-per-token0
        wanted_ppm = int((math.exp(abs(gap) / 2) - 1) / (FEE_NUMERATOR / FEE_DENOMINATOR) * PPM)
        ppm = max(params.min_trade_ppm, min(params.max_trade_ppm, wanted_ppm))
    else:
        zero_for_one = direction_roll < 0.5
        span = max(0, params.max_trade_ppm // 2 - params.min_trade_ppm)
        ppm = params.min_trade_ppm + int(size_roll * span)

    reserve_in, reserve_out = (r0, r1) if zero_for_one else (r1, r0)
    amount_in = reserve_in * ppm // PPM
    if amount_in <= 0:
        return None, after
    amount_out = get_amount_out(amount_in, reserve_in, reserve_out)
    if amount_out <= 0:
        return None, after
    return SwapOrder(pool.address, zero_for_one, amount_in, amount_out, state.step, informed), after
