"""The MarketSimulator actor under a real supervision tree, trading on a real anvil."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import msgspec
import pytest

from devnet.accounts import BOT
from devnet.market import log_price
from devnet.market_simulator import SIMULATOR_ID, MarketSimulator, market_simulator_spec
from devnet.session import Devnet
from devnet.swaps import SwapSubmitted, SwapTrader, read_all_reserves
from devnet.world import DevnetWorld
from protocol.market_simulator import GetMarketStats, MarketSimulatorSnapshot, PauseMarket, ResumeMarket, StepMarket
from protocol.supervision import Crash
from supervision import ActorContext, Handle, registry, start_tree, stop_tree, supervisor_spec
from tests.waiting import wait_until

pytestmark = pytest.mark.anvil
SIM = Handle(f"/{SIMULATOR_ID}")
WAIT_S = 30.0  # upper bound for anything to happen on 2 shared cores; never a speed assertion


@pytest.fixture
def run_simulator() -> Iterator[Callable[..., None]]:
    def start(world: DevnetWorld, **kwargs: object) -> None:
        start_tree(supervisor_spec("root", [market_simulator_spec(world, **kwargs)]))  # type: ignore[arg-type]

    try:
        yield start
    finally:
        stop_tree(timeout_s=15.0)
        registry.clear()


def wait_for_snapshot(done: Callable[[MarketSimulatorSnapshot], bool]) -> MarketSimulatorSnapshot:
    """Wait (bounded) until the simulator publishes a snapshot satisfying `done`."""
    snap = wait_until(SIM.snapshot, WAIT_S, "the simulator's condition",
                      until=lambda s: isinstance(s, MarketSimulatorSnapshot) and done(s))
    assert isinstance(snap, MarketSimulatorSnapshot)
    return snap


def cross_dex_gaps(d: Devnet) -> dict[tuple[str, str], float]:
    reserves = read_all_reserves(d.w3, d.world, "latest")
    gaps = {}
    for pool in d.world.pools_on("uniswap"):
        twin = d.world.pool("sushiswap", pool.symbol0, pool.symbol1)
        gaps[(pool.symbol0, pool.symbol1)] = log_price(*reserves[pool.address]) - log_price(*reserves[twin.address])
    return gaps


def test_on_its_timer_the_simulator_trades_and_prices_drift_apart(isolated_devnet: Devnet, run_simulator):
    before = cross_dex_gaps(isolated_devnet)
    assert all(abs(g) < 1e-6 for g in before.values())
    run_simulator(isolated_devnet.world, seed=5, interval_s=0.01)
    snap = wait_for_snapshot(lambda s: s.swaps_mined >= 25)
    assert snap.swaps_reverted == 0 and snap.step_errors == 0
    assert snap.account == isolated_devnet.world.trader != isolated_devnet.world.bot
    assert snap.last_swap and any(snap.last_swap.endswith(f" {t.symbol}") for t in isolated_devnet.world.tokens)
    SIM.ask(PauseMarket(), timeout=WAIT_S)
    after = cross_dex_gaps(isolated_devnet)
    assert max(abs(g) for g in after.values()) > 0.001


def test_paused_it_steps_only_when_asked_and_each_step_lands(isolated_devnet: Devnet, run_simulator):
    run_simulator(isolated_devnet.world, seed=9, interval_s=0.01, paused=True)
    start = SIM.ask(GetMarketStats(), timeout=WAIT_S)
    assert start.paused and start.steps == 0
    sent = [SIM.ask(StepMarket(), timeout=WAIT_S) for _ in range(5)]
    assert all(isinstance(s, SwapSubmitted) for s in sent)
    checker = SwapTrader(isolated_devnet.w3, isolated_devnet.world, isolated_devnet.node.accounts[9])
    assert all(checker.wait_ok(s.transfer_tx) and checker.wait_ok(s.swap_tx) for s in sent)
    stats = SIM.ask(GetMarketStats(), timeout=WAIT_S)
    assert stats.steps == 5 and stats.swaps_sent == 5  # the 0.01 s timer made no step while paused
    SIM.ask(ResumeMarket(), timeout=WAIT_S)
    wait_for_snapshot(lambda s: s.steps > 5 and not s.paused)


def test_after_a_crash_the_restarted_simulator_keeps_trading(isolated_devnet: Devnet, run_simulator):
    run_simulator(isolated_devnet.world, seed=2, interval_s=0.0)  # no timer: steps only on request
    first = SIM.ask(StepMarket(), timeout=WAIT_S)
    old = SIM.resolve()
    SIM.tell(Crash("test: kill the simulator"))
    assert old.actor_stopped.wait(WAIT_S)
    # the next incarnation re-reads its nonce from the node, so its swaps still land
    again = SIM.ask(StepMarket(), timeout=WAIT_S, wait_s=WAIT_S)
    checker = SwapTrader(isolated_devnet.w3, isolated_devnet.world, isolated_devnet.node.accounts[9])
    assert checker.wait_ok(first.swap_tx) and checker.wait_ok(again.swap_tx)
    assert SIM.ask(GetMarketStats(), timeout=WAIT_S, wait_s=WAIT_S).steps == 1  # a fresh incarnation


def test_with_the_node_unreachable_it_counts_failed_steps_and_stays_up(devnet: Devnet, run_simulator):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    world = msgspec.structs.replace(devnet.world, http_url=f"http://127.0.0.1:{dead_port}")
    run_simulator(world, seed=1, interval_s=0.01)
    snap = wait_for_snapshot(lambda s: s.step_errors >= 3)
    assert snap.swaps_sent == 0 and snap.last_error
    assert SIM.is_alive()
    with pytest.raises(Exception, match=str(dead_port)):  # an ask gets the failure itself
        SIM.ask(StepMarket(), timeout=WAIT_S)


def test_refuses_to_trade_from_the_bots_account(devnet: Devnet):
    with pytest.raises(ValueError, match="bot's account"):
        MarketSimulator(ActorContext("/sim", "sim"), world=devnet.world, account=BOT)
