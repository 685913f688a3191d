#!/usr/bin/env python3
"""Drive the operator API (bot.manager.Phase4Manager) on the embedded devnet, step by step.

    .venv/bin/python examples/manager_example.py [--data-dir DIR] [--without COMPONENT ...]

It starts the whole bot in this process (anvil, the Uniswap V2 DEXes, the actor tree), then:

1. waits for the health check (perform_health_check) to see routable endpoints;
2. prints the system status (get_system_status): mode, running actors, disabled components;
3. prices a round trip WETH -> USDC -> WETH over the two DEXes from the live reserves the bot reads,
   and asks the risk book about it (assess_trade_risk);
4. sends an alert (send_alert) to the alert router, which logs it and sends it to any configured channel;
5. stops trading (components.risk_manager.trigger_emergency_stop), shows that the same trade is now
   refused, and resets the stop with a reason (reset_emergency_stop);
6. prints the performance report's headline (get_performance_report);
7. runs a one-day synthetic backtest (run_backtest), which needs no running tree;
8. shuts everything down.

`--without risk_manager` (or alerting, monitoring, performance_analyzer, network_optimizer) starts the bot
with that component disabled: the steps that need it print the ComponentDisabled error naming its flag.
Each step prints one line starting with `step N:`; the script exits 0 when every step did what it says.
tests/app/test_manager_example.py runs it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed

from bot.components import BY_NAME, ComponentDisabled
from bot.manager import Phase4Manager
from protocol.config import load_config
from protocol.market import MarketSnapshot
from protocol.risk import MarketView
from protocol.trading import Leg, Opportunity
from risk.liquidity import amount_out
from supervision import Handle

WAIT_S = 60.0
TRADE_WETH = 10**17  # 0.1 WETH


def wait_for(what: str, check, timeout_s: float = WAIT_S):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"example: gave up waiting for {what} after {timeout_s:g} s")
        time.sleep(0.2)  # an example polls a public API; the tests wait on events


def round_trip() -> Opportunity | None:
    """WETH -> USDC on one DEX, USDC -> WETH on the other, from the pool-state actor's published reserves."""
    snap = Handle("/market/pool-state").snapshot()
    if not isinstance(snap, MarketSnapshot):
        return None
    weth_usdc = [p for p in snap.pools if {"weth", "usdc"} <= {_symbol(p.pool.token0), _symbol(p.pool.token1)}]
    if len(weth_usdc) < 2:
        return None
    a, b = weth_usdc[0], weth_usdc[1]
    weth = a.pool.token0 if _symbol(a.pool.token0) == "weth" else a.pool.token1
    usdc = a.pool.token1 if weth == a.pool.token0 else a.pool.token0

    def sides(p):  # type: ignore[no-untyped-def]  # (reserve in, reserve out) for in_token -> the other
        return (p.reserve0, p.reserve1) if p.pool.token0 == weth else (p.reserve1, p.reserve0)

    a_weth, a_usdc = sides(a)
    b_weth, b_usdc = sides(b)
    mid = amount_out(TRADE_WETH, a_weth, a_usdc)
    back = amount_out(mid, b_usdc, b_weth)
    usd_per_weth = a_usdc / 10**6 / (a_weth / 10**18)
    route = (Leg(a.pool.address, a.pool.dex, weth, usdc, TRADE_WETH, mid, a_weth, a_usdc),
             Leg(b.pool.address, b.pool.dex, usdc, weth, mid, back, b_usdc, b_weth))
    gas = 200_000 * 10**9
    return Opportunity(
        id="example-1", block_number=snap.block_number, token=weth, token_symbol="WETH", route=route,
        amount_in=TRADE_WETH, gross_profit=max(0, back - TRADE_WETH), gas_estimate=200_000, gas_price_wei=10**9,
        gas_cost_wei=gas, amount_in_value=TRADE_WETH / 1e18 * usd_per_weth,
        gross_profit_value=max(0, back - TRADE_WETH) / 1e18 * usd_per_weth, gas_cost_value=gas / 1e18 * usd_per_weth,
        detected_at=time.time())


_SYMBOLS: dict[str, str] = {}


def _symbol(address: str) -> str:
    return _SYMBOLS.get(address.lower(), "")


def step(n: int, text: str) -> None:
    print(f"step {n}: {text}", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="where state goes (default: a temporary directory)")
    parser.add_argument("--without", action="append", default=[], choices=sorted(BY_NAME),
                        help="start with this component disabled (repeatable)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="arbiter-example-")
    flags = {BY_NAME[name].flag: False for name in args.without}
    manager = Phase4Manager(load_config({"DATA_DIR": data_dir}), block_time_s=1.0, **flags)
    manager.initialize()
    try:
        return run(manager)
    finally:
        manager.shutdown()
        print("stopped", flush=True)


def attempt(n: int, what: str, call):  # type: ignore[no-untyped-def]
    """Run one step; a disabled component's error is printed as the step's outcome."""
    try:
        return call()
    except ComponentDisabled as exc:
        step(n, f"{what}: {exc}")
        return None


def run(manager: Phase4Manager) -> int:
    devnet = manager.system.devnet if manager.system else None
    if devnet is not None:
        _SYMBOLS.update({t.address.lower(): t.symbol.lower() for t in devnet.world.tokens})
        _SYMBOLS[devnet.world.weth.address.lower()] = "weth"
    network_on = manager.flags.enable_network_optimization
    if network_on:
        health = wait_for("a routable endpoint", lambda: (h := manager.perform_health_check()).routable_endpoints and h)
    else:
        health = manager.perform_health_check()
    step(1, f"health {health.overall}; routable endpoints: {', '.join(health.routable_endpoints) or 'none'}")
    status = manager.get_system_status()
    step(2, f"mode {status['mode']}; {len(status['activeComponents'])} actors running; disabled: "
            f"{', '.join(status['disabledComponents']) or 'none'}")

    opportunity = wait_for("the pools' reserves", round_trip) if manager.flags.enable_risk_management \
        and network_on else None
    if opportunity is None:
        attempt(3, "assess_trade_risk", lambda: manager.assess_trade_risk(_placeholder()))
    else:
        assessment = manager.assess_trade_risk(opportunity, MarketView(prices={}))
        step(3, f"risk book on 0.1 WETH round trip ({opportunity.gross_profit_value - opportunity.gas_cost_value:+.2f}"
                f" USD net): {'approved' if assessment.approved else 'refused'} "
                f"({'; '.join(assessment.reasons) or 'no objection'})")

    sent = attempt(4, "send_alert", lambda: manager.send_alert(
        "system", {"message": "example: hello from the operator API", "step": 4}, priority="low") or True)
    if sent:
        step(4, "alert sent to /alerts/router (see the log channel, and any configured channel)")

    risk = attempt(5, "emergency stop", lambda: manager.components.risk_manager)
    if risk is not None:
        stop = risk.trigger_emergency_stop("example drill", by="manager_example")
        again = manager.assess_trade_risk(opportunity or _placeholder(), MarketView(prices={}))
        cleared = risk.reset_emergency_stop("example drill over", by="manager_example")
        step(5, f"emergency stop active={stop.active}; the trade is then "
                f"{'approved' if again.approved else 'refused'}; after reset active={cleared.active}")
        if again.approved or not stop.active or cleared.active:
            return 1

    report = attempt(6, "get_performance_report", manager.get_performance_report)
    if report is not None:
        step(6, f"performance grade {report['overall']['performance']['grade']}, health "
                f"{report['overall']['health']}")

    with tempfile.TemporaryDirectory() as out:
        backtest = manager.run_backtest({"minNetProfitWei": 1}, {"synthetic": "1d", "out": out})
    s = backtest.summary
    step(7, f"backtest (SYNTHETIC, 1 day): {s.trades} trades, total return {s.total_return:.2%}, "
            f"max drawdown {s.max_drawdown:.2%}")
    return 0


def _placeholder() -> Opportunity:
    """A trade to ask about when the market is not running (no pools read): priced by hand."""
    weth, usdc = "0x" + "11" * 20, "0x" + "22" * 20
    a, b = (1000 * 10**18, 3_000_000 * 10**6), (3_100_000 * 10**6, 1000 * 10**18)
    mid = amount_out(TRADE_WETH, *a)
    back = amount_out(mid, *b)
    route = (Leg("0xpoolA", "uniswap", weth, usdc, TRADE_WETH, mid, *a),
             Leg("0xpoolB", "sushiswap", usdc, weth, mid, back, *b))
    return Opportunity(id="example-0", block_number=1, token=weth, token_symbol="WETH", route=route,
                       amount_in=TRADE_WETH, gross_profit=back - TRADE_WETH, gas_estimate=200_000,
                       gas_price_wei=10**9, gas_cost_wei=2 * 10**14, amount_in_value=300.0,
                       gross_profit_value=(back - TRADE_WETH) / 1e18 * 3000, gas_cost_value=0.6,
                       detected_at=time.time())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
