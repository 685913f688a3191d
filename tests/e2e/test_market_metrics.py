"""The market branch's metrics on the devnet: a gap found, traded and mined is counted where it happened,
and the counters agree with the executor's own records and the strategy's snapshot.

The registry is the process's; each figure is a difference from before the bot started. The bot may
go on trading residual gaps, so the figures are read until two reads around the executor's records agree
(nothing changed in between).
"""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import REGISTRY

from actors import market_metrics
from devnet.session import Devnet
from execution import tally
from protocol.execution import GetTrades, RouteFailed, StrategySnapshot, SubmitMode, TradeRecord, TradeStage
from supervision import Handle
from tests.e2e.conftest import EXECUTOR, STRATEGY, start_bot
from tests.execution.helpers import market_swap
from tests.waiting import wait_until

SKIP_REASONS = (market_metrics.SHARES_A_POOL, market_metrics.OVER_BLOCK_LIMIT, market_metrics.EXECUTOR_UNAVAILABLE,
                *(kind for kind, _ in tally.SKIP_KINDS), tally.OTHER)


def figures() -> dict[str, float]:
    value = REGISTRY.get_sample_value
    out = {"found": value("arbiter_opportunities_found_total") or 0.0,
           "sent": value("arbiter_opportunities_sent_total", {"mode": "public"}) or 0.0,
           "gas": value("arbiter_trade_gas_spent_wei_total") or 0.0,
           "pnl": value("arbiter_trade_realized_pnl_wei") or 0.0,
           "unvalued": value("arbiter_trade_pnl_unvalued_total") or 0.0}
    out |= {f"trades:{o}": value("arbiter_trades_total", {"outcome": o}) or 0.0 for o in tally.OUTCOMES}
    out |= {f"skipped:{r}": value("arbiter_opportunities_skipped_total", {"reason": r}) or 0.0 for r in SKIP_REASONS}
    return out


def settled() -> tuple[dict[str, float], tuple[TradeRecord, ...], StrategySnapshot, int] | None:
    """The figures, the executor's records, the strategy's snapshot and trades in flight, if nothing moved.

    Each actor counts before it publishes, and an ask to it returns once the handler it is in has ended:
    after the asks, a snapshot newer than the first read of the figures means they changed meanwhile."""
    before = figures()
    Handle(STRATEGY).ask(RouteFailed("", (), ""), timeout=2.0)  # no pools to quarantine: only waits its turn
    strategy = Handle(STRATEGY).snapshot()
    records: tuple[TradeRecord, ...] = Handle(EXECUTOR).ask(GetTrades(limit=1000), timeout=2.0)
    executor = Handle(EXECUTOR).snapshot()
    assert isinstance(strategy, StrategySnapshot) and executor is not None
    return (before, records, strategy, executor.in_flight) if figures() == before else None


def test_a_captured_gap_is_counted_found_sent_mined_with_its_gas_and_pnl(isolated: Devnet) -> None:
    devnet = isolated
    start = figures()
    bot = start_bot(devnet, SubmitMode.PUBLIC)
    pool = devnet.world.pool("sushiswap", "WETH", "USDC")
    market_swap(devnet.w3, devnet.world, pool.address, True, 20_000)
    bot.wait_executor(lambda s: s.mined >= 1, "the gap captured")

    now, records, strategy, in_flight = wait_until(settled, timeout=20, what="the figures to settle")
    delta = {k: now[k] - start[k] for k in now}
    mined = [r for r in records if r.stage is TradeStage.MINED]
    assert mined and delta["trades:mined"] == len(mined)
    assert {o: delta[f"trades:{o}"] for o in tally.OUTCOMES} == {
        o: Counter(tally.outcome(r) for r in records)[o] for o in tally.OUTCOMES}
    assert delta["sent"] == sum(r.submitted_at is not None for r in records) + in_flight
    # Prometheus values are float64: past 2**53 wei (9e15, about 0.009 ETH) a running sum may round its
    # last wei, so amounts are compared to a relative 1e-12 (a wei in 0.001 ETH)
    gas = sum(r.gas_cost_wei for r in records)
    assert gas > 0 and delta["gas"] == pytest.approx(gas, rel=1e-12)
    # every profit is WETH, one ETH wei per wei
    assert delta["unvalued"] == 0
    net = sum((r.realized_profit or 0) - r.gas_cost_wei for r in records)
    assert net > 0 and delta["pnl"] == pytest.approx(net, rel=1e-12)
    # each opportunity found is handed on or counted with the strategy's reason for not handing it
    strategy_skips = sum(delta[f"skipped:{r}"] for r in SKIP_REASONS[:3])
    assert delta["found"] == strategy.handed + strategy_skips >= len(records)
    executor_skips = sum(delta[f"skipped:{r}"] for r in SKIP_REASONS[3:])
    assert executor_skips == sum(r.stage is TradeStage.SKIPPED for r in records) == delta["trades:skipped"]
