"""A seeded synthetic history: 6 months of 20+ V2 pools on two DEXes, so anyone can run a backtest at once.

It is labelled synthetic in its meta and in every report built from it. Dynamics, all vectorised
with numpy and driven by one numpy Generator seeded by `seed` (a seed names one history, bit for bit, on
every x86-64 CPU: exp and sin go through portable_exp / portable_sin):

- Fair prices. Each token's price in ETH, and ETH's in USD, is a random walk in log price with
  per-block volatility sigma_annual / sqrt(blocks a year), times a market-wide volatility regime: a
  two-state chain (calm x1, stressed x STRESS_VOL) with geometric durations (mean CALM_DAYS and
  STRESS_DAYS). On top, jumps: Poisson arrivals (jumps_per_day) of normal size (jump_sd in log
  price). The quote token (USDC) is worth 1/ETH-in-USD ETH.
- Competing arbitrageurs. A re-alignment moves a pool to the fair price, leaving it anywhere within
  +-band_share * fee of it (searchers arbitrage pools against each other, so two pools of a pair
  stay within about one fee of each other). Between two re-alignments the pool does not follow the
  fair price: this lag, across pools re-aligned at different times, is where our arbitrage comes
  from. Re-alignments come three ways: per pair and block with probability pair_realign_rate, on
  each of its pools with probability pair_joint_share (CEX-DEX arbitrageurs trade every pool of a
  pair against the same off-chain price in the same block); per pool and block with probability
  competitor_rate (one pool alone); and in the very block a token's fair price jumps, with
  probability jump_response (most of what a jump opens is taken by others before we see it).
- Calibration (the defaults). Milionis, Moallemi and Roughgarden, "Automated Market Making and
  Arbitrage Profits in the Presence of Fees" (2023, arXiv:2305.14604): the chance that a block holds an arbitrage
  trade on a pool with fee gamma is about 1 / (1 + gamma / (sigma * sqrt(dt / 2))); for a 30 bps pool,
  12 s blocks and 60-100 % annual volatility that is 8-12 % of blocks, hence pair_realign_rate 0.10
  (plus 1-2 % of single-pool re-alignments). Daian et al., "Flash Boys 2.0" (2019), and the
  MEV-Boost era since show that an opportunity visible to all is contested by many searchers and
  usually taken in its own block: jump_response 0.9 leaves one jump in ten open for a block or
  more, and backtest.competition's race decides who takes what is left. With these, the default
  strategy's margin after gas and lost races is thin (tests/backtest/test_calibration.py pins the
  properties); the first parameters (competitor_rate 0.25 / 0.12 alone, a race lost one time in
  ten) let it make about 50 % in ten days.
- Noise flow. In each block, with probability noise_rate, an uninformed trade moves the pool's log
  price by a normal amount (noise_sd).
- Liquidity. A pool's constant-product liquidity L = sqrt(r0 * r1) is fixed (its depth in ETH set
  per DEX); reserves are r0 = L / sqrt(P), r1 = L * sqrt(P) for the pool's price P (token1 wei per
  token0 wei), floored to integers. A pool emits one Sync in each block it trades in.
- Base fee. log(base fee) = log(BASE_FEE_GWEI) + an AR(1) (per-block persistence BASE_FEE_PHI,
  demand spikes arriving at SPIKES_PER_DAY) + a daily cycle, clipped to [0.5, 1000] gwei.
"""

from __future__ import annotations

import hashlib
import math

import msgspec
import numpy as np
from scipy.signal import lfilter

from backtest.history import History, HistoryMeta, PoolInfo, TokenInfo, words_from_float

BLOCK_TIME_S = 12
BLOCKS_PER_DAY = 86_400 // BLOCK_TIME_S
SIX_MONTHS_DAYS = 183  # 1,317,600 blocks
START_TIMESTAMP = 1_767_225_600  # 2026-01-01T00:00:00Z
CALM_DAYS, STRESS_DAYS, STRESS_VOL = 12.0, 2.0, 2.5
BASE_FEE_GWEI, BASE_FEE_PHI, BASE_FEE_SD, BASE_FEE_DAILY_AMPLITUDE = 12.0, 0.9995, 0.015, 0.3
SPIKES_PER_DAY, SPIKE_SIZE = 3.0, 0.25
GENERATOR = "backtest.synthetic v2"


class SyntheticToken(msgspec.Struct, frozen=True):
    symbol: str
    decimals: int
    price_eth: float  # whole token in ETH at the start
    sigma_annual: float = 0.7
    jumps_per_day: float = 1.0
    jump_sd: float = 0.04


class SyntheticSpec(msgspec.Struct, frozen=True):
    seed: int = 0
    days: float = SIX_MONTHS_DAYS
    eth_usd: float = 3_000.0
    eth_sigma_annual: float = 0.6
    eth_jumps_per_day: float = 1.0
    eth_jump_sd: float = 0.03
    tokens: tuple[SyntheticToken, ...] = (
        SyntheticToken("WBTC", 8, 30.0, 0.5, 1.0, 0.02),
        SyntheticToken("LINK", 18, 0.006),
        SyntheticToken("UNI", 18, 0.003),
        SyntheticToken("AAVE", 18, 0.08),
        SyntheticToken("MKR", 18, 0.6),
        SyntheticToken("CRV", 18, 0.0002, 1.0, 2.0, 0.05),
        SyntheticToken("LDO", 18, 0.0007, 0.9, 2.0, 0.05),
    )
    #: pairs besides every token's WETH pool: (symbol, symbol), each on both DEXes
    cross_pairs: tuple[tuple[str, str], ...] = (("WBTC", "USDC"), ("LINK", "USDC"), ("UNI", "USDC"), ("WBTC", "LINK"))
    dexes: tuple[str, ...] = ("uniswap", "sushiswap")
    depth_eth: tuple[float, ...] = (2_500.0, 900.0)  # ETH value of a pool's ETH-side reserve, per DEX
    competitor_rate: tuple[float, ...] = (0.02, 0.01)  # per block, per DEX: re-alignments of one pool alone
    #: per block, per pair: CEX-DEX arbitrageurs re-align the pair on every DEX at once (each pool with
    #: probability pair_joint_share), as they arbitrage each pool against the same off-chain price
    pair_realign_rate: float = 0.10
    pair_joint_share: float = 0.9
    #: the chance that arbitrageurs re-align a pool in the very block its token's fair price jumped
    jump_response: float = 0.9
    noise_rate: float = 0.03
    noise_sd: float = 0.0015
    band_share: float = 0.5  # competitors leave a pool within +-band_share * fee of the fair price
    fee_bps: int = 30


def address(label: str) -> str:
    return "0x" + hashlib.sha256(f"arbiter-synthetic:{label}".encode()).hexdigest()[:40]


def describe(spec: SyntheticSpec) -> str:
    return (f"SYNTHETIC history ({GENERATOR}, seed {spec.seed}, {spec.days:g} days): jump-diffusion fair prices "
            f"with volatility regimes, noise flow, competing arbitrageurs, an AR(1) base fee; not market data")


def _regime(rng: np.random.Generator, n: int) -> np.ndarray:
    """Volatility multiplier per block: alternating calm / stressed spells of geometric length."""
    mean = (CALM_DAYS * BLOCKS_PER_DAY, STRESS_DAYS * BLOCKS_PER_DAY)
    spells = max(4, int(2 * n / sum(mean)) + 8)
    lengths = np.empty(spells, dtype=np.int64)
    lengths[0::2] = rng.geometric(1 / mean[0], size=(spells + 1) // 2)
    lengths[1::2] = rng.geometric(1 / mean[1], size=spells // 2)
    while lengths.sum() < n:
        lengths = np.concatenate((lengths, lengths))
    levels = np.tile([1.0, STRESS_VOL], (spells + 1) // 2 + 1)[: len(lengths)]
    return np.repeat(levels, lengths)[:n]


def _log_path(rng: np.random.Generator, n: int, start: float, sigma_annual: float, regime: np.ndarray,
              jumps_per_day: float, jump_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """(log price per block, the blocks where it jumped)."""
    step = rng.standard_normal(n) * (sigma_annual / math.sqrt(365 * BLOCKS_PER_DAY)) * regime
    k = rng.poisson(jumps_per_day * n / BLOCKS_PER_DAY)
    at = rng.integers(1, n, size=k)
    np.add.at(step, at, rng.normal(0.0, jump_sd, size=k))
    step[0] = 0.0
    return math.log(start) + np.cumsum(step), at


def _base_fee(rng: np.random.Generator, n: int) -> np.ndarray:
    shocks = rng.standard_normal(n) * BASE_FEE_SD
    k = rng.poisson(SPIKES_PER_DAY * n / BLOCKS_PER_DAY)
    np.add.at(shocks, rng.integers(0, n, size=k), rng.exponential(SPIKE_SIZE, size=k))
    level = lfilter([1.0], [1.0, -BASE_FEE_PHI], shocks)
    cycle = BASE_FEE_DAILY_AMPLITUDE * portable_sin(2 * np.pi * np.arange(n) / BLOCKS_PER_DAY)
    gwei = np.clip(BASE_FEE_GWEI * portable_exp(level + cycle), 0.5, 1_000.0)
    return (gwei * 1e9).astype(np.int64)


def generate(spec: SyntheticSpec = SyntheticSpec(), *, first_block: int = 20_000_000) -> History:  # noqa: B008
    """The history `spec` describes; the same spec (seed included) gives the same arrays, bit for bit."""
    rng = np.random.default_rng(spec.seed)
    n = round(spec.days * BLOCKS_PER_DAY)
    weth, usdc = address("WETH"), address("USDC")
    tokens = {weth: TokenInfo("WETH", 18), usdc: TokenInfo("USDC", 6)}
    regime = _regime(rng, n)
    eth_usd, eth_jumps = _log_path(rng, n, spec.eth_usd, spec.eth_sigma_annual, regime, spec.eth_jumps_per_day,
                                   spec.eth_jump_sd)
    fair = {weth: np.zeros(n), usdc: -eth_usd}  # log price in ETH of a whole token
    jumps = {weth: np.zeros(0, dtype=np.int64), usdc: eth_jumps}  # the blocks where its ETH price jumped
    for t in spec.tokens:
        a = address(t.symbol)
        tokens[a] = TokenInfo(t.symbol, t.decimals)
        fair[a], jumps[a] = _log_path(rng, n, t.price_eth, t.sigma_annual, regime, t.jumps_per_day, t.jump_sd)
    by_symbol = {info.symbol: a for a, info in tokens.items()}
    pairs = [("WETH", "USDC")] + [("WETH", t.symbol) for t in spec.tokens] + list(spec.cross_pairs)
    pools: list[PoolInfo] = []
    blocks_out, pools_out, r0_out, r1_out = [], [], [], []
    fee = spec.fee_bps / 10_000
    for a_symbol, b_symbol in pairs:
        t0, t1 = sorted((by_symbol[a_symbol], by_symbol[b_symbol]))
        d0, d1 = tokens[t0].decimals, tokens[t1].decimals
        # log of token1 wei per token0 wei at the fair prices
        log_price = fair[t0] - fair[t1] + (d1 - d0) * math.log(10)
        pair_realign = rng.random(n) < spec.pair_realign_rate if spec.pair_realign_rate > 0 else None
        for dex, depth, competitor in zip(spec.dexes, spec.depth_eth, spec.competitor_rate):
            index = len(pools)
            pools.append(PoolInfo(address(f"{dex}:{a_symbol}/{b_symbol}"), dex, t0, t1, spec.fee_bps))
            # liquidity from the ETH value of one side at the start: r_side = depth ETH in that token
            side_log = math.log(depth) - fair[t0][0] + d0 * math.log(10)  # log token0 wei worth `depth` ETH
            log_liquidity = side_log + 0.5 * log_price[0]  # L = r0 * sqrt(P)
            realign = rng.random(n) < competitor
            if pair_realign is not None:
                realign |= pair_realign & (rng.random(n) < spec.pair_joint_share)
            if spec.jump_response > 0:
                jumped = np.concatenate((jumps[t0], jumps[t1]))
                realign[jumped[rng.random(len(jumped)) < spec.jump_response]] = True
            realign[0] = True
            noise = rng.random(n) < spec.noise_rate
            event = np.flatnonzero(realign | noise)
            walk = np.zeros(n)
            walk[noise] = rng.normal(0.0, spec.noise_sd, size=int(noise.sum()))
            walk = np.cumsum(walk)
            last = np.maximum.accumulate(np.where(realign, np.arange(n), 0))[event]
            band = rng.uniform(-spec.band_share * fee, spec.band_share * fee, size=n)
            pool_log_price = log_price[last] + band[last] + walk[event] - walk[last]
            r0 = np.floor(portable_exp(log_liquidity - 0.5 * pool_log_price))
            r1 = np.floor(portable_exp(log_liquidity + 0.5 * pool_log_price))
            blocks_out.append(event)
            pools_out.append(np.full(len(event), index, dtype=np.int32))
            r0_out.append(r0)
            r1_out.append(r1)
    block_offsets = np.concatenate(blocks_out)
    pool_index = np.concatenate(pools_out)
    order = np.lexsort((pool_index, block_offsets))
    numbers = first_block + np.arange(n, dtype=np.int64)
    meta = HistoryMeta(weth=weth, quote=usdc, tokens=tokens, pools=tuple(pools), synthetic=describe(spec))
    return History(
        meta=meta,
        block_number=numbers,
        timestamp=START_TIMESTAMP + BLOCK_TIME_S * np.arange(n, dtype=np.int64),
        base_fee_wei=_base_fee(rng, n),
        event_block=first_block + block_offsets[order].astype(np.int64),
        event_pool=pool_index[order],
        reserve0=words_from_float(np.concatenate(r0_out)[order]),
        reserve1=words_from_float(np.concatenate(r1_out)[order]),
        event_log_index=pool_index[order].astype(np.int64),
    )


def spec_for(duration: str, seed: int = 0) -> SyntheticSpec:
    """`6mo`, `30d`, `2w`, `1000b` (blocks) -> a spec of that length."""
    units = {"mo": 30.5, "d": 1.0, "w": 7.0, "b": 1.0 / BLOCKS_PER_DAY}
    for suffix, days in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if duration.endswith(suffix) and duration[: -len(suffix)].replace(".", "", 1).isdigit():
            return SyntheticSpec(seed=seed, days=float(duration[: -len(suffix)]) * days)
    raise ValueError(f"synthetic duration {duration!r}: expected a number and mo, w, d or b (e.g. 6mo, 30d)")


def portable_exp(x: np.ndarray) -> np.ndarray:
    """exp in extended precision, rounded to float64: the same bits whatever the CPU.

    numpy's float64 exp and sin pick a SIMD kernel at run time (AVX2, AVX-512) and the kernels differ in
    the last bit: the same seed gave reserves a few ulps apart, hence other trade sizes, on an AVX-512
    machine. The long-double kernels have no such dispatch, and their extra bits make the one rounding to
    float64 agree (checked with NPY_DISABLE_CPU_FEATURES at each level, tests/backtest/test_synthetic.py)."""
    return np.exp(x.astype(np.longdouble)).astype(np.float64)


def portable_sin(x: np.ndarray) -> np.ndarray:
    """sin, as portable_exp."""
    return np.sin(x.astype(np.longdouble)).astype(np.float64)
