"""The devnet market simulator's messages (devnet.market_simulator): the console and tests drive it with these."""

from __future__ import annotations

import msgspec


class MarketTick(msgspec.Struct, frozen=True, tag=True):
    """Timer: make one market step (ignored while paused)."""


class StepMarket(msgspec.Struct, frozen=True, tag=True):
    """Make one market step now, paused or not; answers the SwapSubmitted (None if no swap)."""


class PauseMarket(msgspec.Struct, frozen=True, tag=True):
    """Stop trading on the timer (an operator freezing prices to look at something)."""


class ResumeMarket(msgspec.Struct, frozen=True, tag=True):
    pass


class GetMarketStats(msgspec.Struct, frozen=True, tag=True):
    """Answers the current MarketSimulatorSnapshot."""


class MarketSimulatorSnapshot(msgspec.Struct, frozen=True, tag=True):
    """Published after every step; read with Handle(path).snapshot()."""

    account: str
    steps: int
    swaps_sent: int
    swaps_mined: int
    swaps_reverted: int
    step_errors: int
    paused: bool
    last_swap: str | None  # e.g. "sushiswap:WETH/USDC sell 1.25 WETH" (display only: a float)
    last_error: str | None
    updated_at: float
