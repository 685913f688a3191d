"""MarketSimulator: the devnet's other traders. A thin shell over devnet.market and devnet.swaps.

On a timer it asks the pure generator for the next swap (sized at the pool's pending reserves)
and sends it from its own anvil dev account, never the bot's. It is the market, not part of the
bot: it talks to the node directly, not through the bot's RPC endpoints.

A step is a handful of loopback calls (one eth_call, two signed sends, a receipt check: ~10 ms),
short enough to run in the handler. A failed step (node down, transaction refused) is counted,
logged and retried on the next tick rather than crashing the actor: the market keeps going
while anvil restarts. Anything unexpected still crashes it, and its supervisor restarts it with
a fresh random stream (seed and incarnation).
"""

from __future__ import annotations

import collections
import time
from typing import Any

import requests
from web3 import HTTPProvider, Web3

from devnet.accounts import MARKET_TRADER, DevAccount
from devnet.market import MarketParams, MarketState, initial_state, market_pools, next_swap
from devnet.swaps import LiveReserves, SwapFailed, SwapSubmitted, SwapTrader
from devnet.warning_digest import WarningDigest
from devnet.world import DevnetWorld
from protocol.market_simulator import (
    GetMarketStats,
    MarketSimulatorSnapshot,
    MarketTick,
    PauseMarket,
    ResumeMarket,
    StepMarket,
)
from supervision import ActorContext, ChildSpec, Restart, SupervisedActor
from supervision.timers import TimerToken

SIMULATOR_ID = "market-simulator"
DEFAULT_INTERVAL_S = 0.5  # two swaps per 1 s devnet block: prices move every block
RECEIPT_CHECKS_PER_STEP = 4  # bounds the handler: older swaps are checked on later steps
STALE_TICK_MIN_S = 0.1  # a tick is stale once it waited a period, and never before this
RPC_TIMEOUT_S = 2.0  # a loopback call takes < 1 ms; this only bounds a hung node
MAX_UNCONFIRMED = 256  # swaps whose receipt we still look for; older ones are given up


# --- the actor -----------------------------------------------------------------------------------


class MarketSimulator(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        world: DevnetWorld,
        seed: int = 0,
        interval_s: float = DEFAULT_INTERVAL_S,
        account: DevAccount = MARKET_TRADER,
        rpc_url: str | None = None,
        params: MarketParams | None = None,
        paused: bool = False,
    ) -> None:
        super().__init__(ctx)
        if account.address.lower() == world.bot.lower():
            raise ValueError("the market simulator must not trade from the bot's account")
        self.world = world
        self.seed = seed
        self.interval_s = interval_s
        self.account = account
        self.rpc_url = rpc_url or world.http_url
        self.params = params or MarketParams()
        self.paused = paused
        self.market: MarketState = initial_state(market_pools(world.pools), seed * 1_000_003 + ctx.incarnation)
        self.unconfirmed: collections.deque[str] = collections.deque(maxlen=MAX_UNCONFIRMED)
        self.steps = self.swaps_sent = self.swaps_mined = self.swaps_reverted = self.step_errors = 0
        self.reverts = WarningDigest()  # "a market swap reverted": first in full, then a periodic count
        self.last_swap: str | None = None
        self.last_error: str | None = None
        self.ticks_skipped = 0
        self.failing_since: int | None = None  # step count when the current run of failures began
        self.timer: TimerToken | None = None
        self.w3: Web3 | None = None
        self.trader: SwapTrader | None = None
        self._pools = {p.address: (p.token0, p.token1) for p in world.pools}

    def on_start(self) -> None:
        self.w3 = Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_S}))
        self.trader = SwapTrader(self.w3, self.world, self.account)
        self.reserves = LiveReserves(self.w3, [p.address for p in self.world.pools])
        if self.interval_s > 0:
            self.timer = self.ctx.send_interval(self.interval_s, MarketTick())
        self._publish()

    def receive(self, msg: object) -> object:
        match msg:
            case MarketTick():
                # A tick that waited longer than a period is stale: steps slower than the timer
                # (a slow node) must not pile up a backlog that keeps trading after it recovers.
                if self.lag_last_s > max(self.interval_s, STALE_TICK_MIN_S):
                    self.ticks_skipped += 1
                elif not self.paused:
                    self._step_safely()
            case StepMarket():
                return self._step()
            case PauseMarket():
                self.paused = True
                self._publish()
            case ResumeMarket():
                self.paused = False
                self._publish()
            case GetMarketStats():
                return self._snapshot()
            case _:
                return super().receive(msg)
        return None

    def status(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "steps": self.steps,
            "swaps_sent": self.swaps_sent,
            "swaps_reverted": self.swaps_reverted,
            "step_errors": self.step_errors,
            "ticks_skipped": self.ticks_skipped,
        }

    # --- steps ----------------------------------------------------------------------------------

    def _step_safely(self) -> None:
        try:
            self._step()
        except (SwapFailed, requests.RequestException, OSError) as exc:
            self.step_errors += 1
            if self.failing_since is None:
                self.failing_since = self.steps
            self.last_error = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            if self.step_errors & (self.step_errors - 1) == 0:  # 1st, 2nd, 4th, 8th...: no log flood
                self.log.warning("market step failed ({} so far): {}", self.step_errors, self.last_error)
            self._publish()
        else:
            if self.failing_since is not None:
                self.log.info("market steps succeed again after {} failure(s)", self.step_errors)
                self.failing_since = None

    def _step(self) -> SwapSubmitted | None:
        assert self.trader is not None
        self._check_receipts()
        self.reverts, line = self.reverts.due(time.monotonic())
        self._log_reverts(line)
        order, self.market = next_swap(self.market, self.reserves, self.params)
        self.steps += 1
        sent: SwapSubmitted | None = None
        if order is not None:
            sent = self.trader.submit(order)
            self.swaps_sent += 1
            self.unconfirmed.append(sent.swap_tx)
            token = self.world.token_at(self._pools[order.pool][0 if order.zero_for_one else 1])
            self.last_swap = f"{sent.pool} sell {order.amount_in / 10**token.decimals:.6g} {token.symbol}"
        self._publish()
        return sent

    def _check_receipts(self) -> None:
        """Count outcomes of earlier swaps, oldest first, without waiting for any block."""
        assert self.trader is not None
        for _ in range(min(RECEIPT_CHECKS_PER_STEP, len(self.unconfirmed))):
            ok = self.trader.receipt_ok(self.unconfirmed[0])
            if ok is None:
                return
            self.unconfirmed.popleft()
            if ok:
                self.swaps_mined += 1
            else:
                self.swaps_reverted += 1
                self.reverts, line = self.reverts.note(time.monotonic())
                self._log_reverts(line)

    def _log_reverts(self, line: str | None) -> None:
        if line == "first":
            self.log.warning("a market swap reverted (later ones are counted every {:.0f}s)", self.reverts.period_s)
        elif line:
            self.log.warning("market swaps reverted: {}", line)

    def _snapshot(self) -> MarketSimulatorSnapshot:
        return MarketSimulatorSnapshot(
            account=self.account.address,
            steps=self.steps,
            swaps_sent=self.swaps_sent,
            swaps_mined=self.swaps_mined,
            swaps_reverted=self.swaps_reverted,
            step_errors=self.step_errors,
            paused=self.paused,
            last_swap=self.last_swap,
            last_error=self.last_error,
            updated_at=time.time(),
        )

    def _publish(self) -> None:
        self.publish(self._snapshot())


def market_simulator_spec(
    world: DevnetWorld,
    *,
    seed: int = 0,
    interval_s: float = DEFAULT_INTERVAL_S,
    paused: bool = False,
    params: MarketParams | None = None,
) -> ChildSpec:
    """The child spec to put the simulator in a tree (permanent: the market never stops by itself)."""
    return ChildSpec(
        id=SIMULATOR_ID,
        start=MarketSimulator,
        kwargs={"world": world, "seed": seed, "interval_s": interval_s, "paused": paused, "params": params},
        restart=Restart.PERMANENT,
        shutdown_s=5.0,
    )
