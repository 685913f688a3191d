"""The faster replay gives the trades the engine gave before it: the same fills, to the wei, on a seeded history.

tests/backtest/data/replay_v1_seed7_4d.json holds what the engine produced once the risk book's
price history was sampled at every block (the commit that says so; the Trader split before it
reproduced the first engine's trades to the wei) on the 4-day synthetic history of seed 7 with the
generator's first parameters (spelled out below, as they were the defaults then), competition draws
of seed 5. A change that speeds the replay up must not change a single trade.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from backtest.competition import CompetitionModel
from backtest.engine import BacktestOptions, Trade, replay
from backtest.synthetic import SyntheticSpec, SyntheticToken, generate

GOLDEN = Path(__file__).parent / "data" / "replay_v1_seed7_4d.json"

#: SyntheticSpec's defaults at commit e606409 (backtest.synthetic v1)
V1_SPEC = SyntheticSpec(
    seed=7, days=4.0, eth_usd=3_000.0, eth_sigma_annual=0.6, eth_jumps_per_day=1.0, eth_jump_sd=0.03,
    tokens=(SyntheticToken("WBTC", 8, 30.0, 0.5, 1.0, 0.02), SyntheticToken("LINK", 18, 0.006, 0.7, 1.0, 0.04),
            SyntheticToken("UNI", 18, 0.003, 0.7, 1.0, 0.04), SyntheticToken("AAVE", 18, 0.08, 0.7, 1.0, 0.04),
            SyntheticToken("MKR", 18, 0.6, 0.7, 1.0, 0.04), SyntheticToken("CRV", 18, 0.0002, 1.0, 2.0, 0.05),
            SyntheticToken("LDO", 18, 0.0007, 0.9, 2.0, 0.05)),
    cross_pairs=(("WBTC", "USDC"), ("LINK", "USDC"), ("UNI", "USDC"), ("WBTC", "LINK")),
    dexes=("uniswap", "sushiswap"), depth_eth=(2_500.0, 900.0), competitor_rate=(0.25, 0.12), noise_rate=0.03,
    noise_sd=0.0015, band_share=0.5, fee_bps=30, pair_realign_rate=0.0, pair_joint_share=0.0,
    jump_response=0.0,
)
V1_COMPETITION = CompetitionModel(enabled=True, latency_ms=100.0, rate_at_reference=1.0, reference_profit_eth=0.01,
                                  profit_elasticity=0.5)


class Golden(msgspec.Struct):
    trades: list[Trade]
    equity: float
    scanned: int
    skipped: dict[str, int]
    stops: int


def test_the_replay_makes_the_same_trades_as_the_first_engine():
    golden = msgspec.json.decode(GOLDEN.read_bytes(), type=Golden)
    result = replay(generate(V1_SPEC), options=BacktestOptions(seed=5, competition=V1_COMPETITION,
                                                               operator_reset_after_s=3_600.0))
    assert len(golden.trades) > 100  # a history with enough trades to mean something
    assert result.trades == golden.trades
    assert result.final_state.equity == golden.equity
    assert result.scanned_blocks == golden.scanned
    assert dict(result.skipped) == golden.skipped and result.stops == golden.stops
