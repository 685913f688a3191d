"""One block at a time: the live strategy's search and the live risk book decide, the fills are simulated.

The backtest (backtest.engine.replay) and paper trading (backtest.paper) both drive a Trader: it is
told each block it should look at (its number, time and base fee) and which pools' recorded
reserves changed since the last block it was told of, and it does what the strategy actor and
the executor would: amm.graph.MarketGraph.update with the block's reserves, amm.search.scan
(screen + exact integer sizing), amm.selection.pick, the executor's gas checks
(execution.profitability: the strategy's estimate before, the measured gas bound after the
"simulation"), risk.assess / reserve / apply_outcome / roll_day for the book.

Fills: the route's exact V2 integers on the block's reserves (what eth_call would simulate at the
head), landing in the next block; gas paid is the route's measured gas (MEASURED_GAS) at the
block's base fee plus our tip. Whether we win the race is backtest.competition's draw; a lost race
costs the revert's gas in public mode and nothing in bundle mode (the relay drops the bundle).
After a fill (or a lost race: the winner made the same trade) the route's pools carry the
post-trade reserves until their next recorded Sync, which reflects the world without us: while
they do (`holding`), every block must be shown to the Trader. Profits are booked in the numeraire
at the block's ETH price (the risk book's convention), so equity = initial capital + realized PnL.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable

import msgspec
import numpy as np

from amm.gas import BlockContext, GasPolicy, PriceBook
from amm.graph import MarketGraph
from amm.pools import PoolSnapshot
from amm.resize import at_size, eth_wei_per_token
from amm.search import eth_value_in, scan
from amm.selection import market_view, pick, token_prices
from backtest.competition import CompetitionModel
from backtest.history import HistoryMeta
from execution.profitability import GasUnpriceable, gas_bid_wei, gas_floor, gas_used_bound
from protocol.risk import EmergencyStopTriggered, LimitHit, RiskLimits
from protocol.trading import Opportunity, TradeOutcome, TradeStatus
from risk.assess import assess
from risk.book import apply_outcome, reserve, reset_stop, roll_day
from risk.state import RiskBookState, new_state

#: Gas used by contracts/Executor.sol from inventory, measured on anvil against the real UniswapV2Pair
#: bytecode (amm/gas.py): the executor's gas bound per route adds execution.transaction's margin.
MEASURED_GAS = {2: 147_000, 3: 201_000}
PRICE_HISTORY = 32  # the strategy actor's window of token prices for the risk book
BLOCK_TIME_S = 12.0
DEFAULT_LIMITS = RiskLimits(initial_capital=150_000.0, max_trade_amount=60_000.0, max_daily_loss=3_000.0,
                            max_position_size=0.5)


class StrategyParams(msgspec.Struct, frozen=True, rename="camel"):
    """What the operator tunes: the strategy's thresholds, the executor's inventory and the risk limits."""

    min_net_profit_wei: int = 1
    max_hops: int = 3
    max_per_block: int = 4  # the strategy actor's DEFAULT_MAX_PER_BLOCK
    priority_fee_wei: int = 1_000_000_000
    inventory_eth: float = 50.0  # WETH the executor trades from (a 150k USD book at 3,000 USD/ETH)
    limits: RiskLimits = DEFAULT_LIMITS


class BacktestOptions(msgspec.Struct, frozen=True, rename="camel"):
    seed: int = 0  # the competition model's draws
    mode: str = "public"  # public transactions (a lost race reverts and pays gas) or "bundle" (costs nothing)
    competition: CompetitionModel = CompetitionModel()
    monte_carlo_paths: int = 2_000
    #: The live book stays stopped until an operator resets it, and so does a backtest by default (None:
    #: stopped for the rest of the range, as live). Given a number, a stand-in operator resets the stop
    #: (risk.book.reset_stop, with the reason on record) this long after it fired, cooldown untouched; the
    #: report counts those resets (operatorResets) and shows the setting.
    operator_reset_after_s: float | None = None


class Trade(msgspec.Struct, frozen=True, rename="camel"):
    block: int
    timestamp: int
    opportunity_id: str
    status: str
    hops: int
    amount_in: int
    gross_profit: int  # profit token wei (0 when the race was lost)
    gas_used: int
    gas_cost_wei: int
    pnl_wei: int
    pnl_value: float
    lose_probability: float


def _kind(reason: str) -> str:
    """A rejection reason without its numbers and addresses, to count rejections by kind."""
    return re.sub(r"0x[0-9a-fA-F]+|[-+]?\d[\d.,]*%?", "#", reason)


def after_fill(graph: MarketGraph, opp: Opportunity) -> list[PoolSnapshot]:
    """The route's pools with the fill's amounts added in and taken out."""
    out = []
    for leg in opp.route:
        pool = graph.pool(leg.pool)
        if leg.token_in == pool.token0:
            r0, r1 = pool.reserve0 + leg.amount_in, pool.reserve1 - leg.amount_out
        else:
            r0, r1 = pool.reserve0 - leg.amount_out, pool.reserve1 + leg.amount_in
        out.append(msgspec.structs.replace(pool, reserve0=r0, reserve1=r1))
    return out


class Trader:
    """The strategy, the executor's checks, the simulated fill and the risk book, for one run."""

    def __init__(self, meta: HistoryMeta, strategy: StrategyParams, options: BacktestOptions, start_time: float):
        if options.mode not in ("public", "bundle"):
            raise ValueError(f"mode {options.mode!r}: expected public or bundle")
        self.meta, self.strategy, self.options = meta, strategy, options
        self.weth, self.quote = meta.weth, meta.quote
        self.quote_decimals = meta.tokens[self.quote].decimals if self.quote in meta.tokens else 6
        self.symbols = {a: t.symbol for a, t in meta.tokens.items()}
        self.gas_policy = GasPolicy(priority_fee_wei=strategy.priority_fee_wei)
        self.limits = strategy.limits
        self.rng = np.random.default_rng(options.seed)
        self.state: RiskBookState = new_state(self.limits, start_time)
        self.inventory = int(strategy.inventory_eth * 10**18)
        self.index_of = {p.address: i for i, p in enumerate(meta.pools)}
        self.graph: MarketGraph | None = None
        self.overlay: dict[int, PoolSnapshot] = {}  # pool -> our fill's reserves, until its next recorded Sync
        self.unseen_fills: dict[int, PoolSnapshot] = {}  # the overlay not yet in the graph
        self.unscanned: dict[int, PoolSnapshot] = {}  # Syncs of blocks observed but not scanned
        self.recorded: dict[int, tuple[int, int]] = {}  # pool -> its last recorded reserves
        self.prices: collections.deque[dict[str, float]] = collections.deque(maxlen=PRICE_HISTORY)
        self.trades: list[Trade] = []
        self.equity_times: list[float] = []
        self.equity_values: list[float] = []
        self.skipped: collections.Counter[str] = collections.Counter()
        self.limit_hits: collections.Counter[str] = collections.Counter()
        self.not_included = self.scanned = self.opportunities = self.stops = self.operator_resets = 0

    @property
    def holding(self) -> bool:
        """Some pool carries our fill's reserves: the next block must be looked at, recorded Sync or not."""
        return bool(self.overlay)

    def block(self, block: int, now: float, base_fee: int, synced: Iterable[tuple[int, PoolSnapshot]]) -> None:
        """Look at `block`: `synced` are (pool, recorded reserves) of the pools with a Sync since the last call,
        in pool order."""
        self.scanned += 1
        update = {**self.unseen_fills, **self.unscanned}  # our last fills enter the graph now (next head)
        self.unseen_fills, self.unscanned = {}, {}
        for p, snapshot in synced:
            self.overlay.pop(p, None)  # the pool's next Sync: the world without our fill
            self.recorded[p] = (snapshot.reserve0, snapshot.reserve1)
            update[p] = snapshot
        changed = [update[p] for p in sorted(update)]
        if self.graph is None:
            self.graph = MarketGraph.build(changed, weth=self.weth, base_tokens=(self.weth,),
                                           max_hops=self.strategy.max_hops)
        elif changed:
            self.graph = self.graph.update(changed)
        self._operator_reset(now)
        self._trade(self.graph, block, now, base_fee)

    def observe(self, synced: Iterable[tuple[int, PoolSnapshot]], *, sample: bool) -> None:
        """A block not scanned (the screen found nothing to pay for gas there): its Syncs reach the graph at
        the next scanned block; with `sample`, the block's token prices join the risk book's price history,
        as the live strategy samples every head (only the last PRICE_HISTORY blocks before a scan matter)."""
        for p, snapshot in synced:
            self.overlay.pop(p, None)
            self.recorded[p] = (snapshot.reserve0, snapshot.reserve1)
            self.unscanned[p] = snapshot
        if self.graph is None and self.unscanned:
            self.graph = MarketGraph.build([self.unscanned[p] for p in sorted(self.unscanned)], weth=self.weth,
                                           base_tokens=(self.weth,), max_hops=self.strategy.max_hops)
            self.unscanned = {}
        if sample and self.graph is not None:
            self.prices.append(self._price_row(self.graph))

    def _price_row(self, graph: MarketGraph) -> dict[str, float]:
        """amm.selection.token_prices(graph, amm.search.eth_value_in(graph, quote)) at the recorded reserves,
        on the graph's topology: the same integers divided the same way, so the same floats."""
        weth = graph.weth
        refs: dict[str, tuple[int, int]] = {weth: (1, 1)} if weth in graph.token_index else {}
        for token, pool_ids in graph.weth_pools.items():
            best: tuple[int, int] | None = None
            for i in pool_ids:
                pool = graph.pools[i]
                r0, r1 = self.recorded.get(self.index_of[pool.address], (pool.reserve0, pool.reserve1))
                pair = (r0, r1) if pool.token0 == weth else (r1, r0)
                if best is None or pair[0] > best[0]:
                    best = pair
            if best is not None:
                refs[graph.tokens[token]] = best
        quote = refs.get(self.quote)
        eth_value = 0.0
        if quote is not None and quote[0] > 0:
            eth_value = (quote[1] / 10**self.quote_decimals) / (quote[0] / 10**18)
        scale = eth_value if eth_value > 0 else 1.0
        return {token: scale * w / t for token, (w, t) in refs.items()}

    def _operator_reset(self, now: float) -> None:
        after = self.options.operator_reset_after_s
        stop = self.state.emergency_stop
        if stop.active and after is not None and stop.since is not None and now - stop.since >= after:
            self.state, _ = reset_stop(self.state, f"backtest operator reset {after:g} s after the stop",
                                       "backtest", now)
            self.operator_resets += 1

    def _trade(self, graph: MarketGraph, block: int, now: float, base_fee: int) -> None:
        strategy, limits, weth = self.strategy, self.limits, self.weth
        eth_value = eth_value_in(graph, self.quote, self.quote_decimals)
        book = PriceBook(eth_value=eth_value, symbols=self.symbols)
        result = scan(graph, self.gas_policy, book, BlockContext(block, base_fee, now),
                      min_net_profit_wei=strategy.min_net_profit_wei, max_amount_in={weth: self.inventory},
                      detected_at=now)
        self.prices.append(token_prices(graph, eth_value))
        self.opportunities += len(result.opportunities)
        committed = 0
        bid = gas_bid_wei(base_fee, strategy.priority_fee_wei)
        filled: list[PoolSnapshot] = []
        for opp in pick(result.opportunities, strategy.max_per_block).opportunities:
            amount = min(opp.amount_in, self.inventory - committed)
            if amount <= 0:
                self.skipped["inventory committed"] += 1
                continue
            sized = at_size(opp, amount)
            try:
                if sized.gross_profit < gas_floor(sized, opp.gas_estimate, bid, strategy.min_net_profit_wei):
                    self.skipped["not worth its gas at the bid"] += 1
                    continue
            except GasUnpriceable:
                self.skipped["gas unpriceable"] += 1
                continue
            self.state, _ = roll_day(self.state, limits, now)
            answer = assess(self.state, sized, market_view(self.prices, sized.tokens), limits, now)
            if not answer.approved:
                self.skipped["risk: " + _kind(answer.reasons[0] if answer.reasons else "rejected")] += 1
                continue
            self.state = reserve(self.state, sized, answer.adjusted_size_value, answer.max_loss_value, limits, now)
            if answer.adjusted_amount_in < amount:
                sized = at_size(opp, answer.adjusted_amount_in)
            hops = len(sized.route)
            gas_used = MEASURED_GAS.get(hops, self.gas_policy.gas_units(hops))
            bound = gas_used_bound(gas_used, hops)
            outcome_at = now + BLOCK_TIME_S
            if sized.gross_profit < gas_floor(sized, bound, bid, strategy.min_net_profit_wei):
                self.skipped["net-negative at the size sent"] += 1
                self.state, _ = apply_outcome(self.state, TradeOutcome(
                    sized.id, TradeStatus.FAILED, sized.tokens, sized.amount_in_value, 0.0, block_number=block),
                    limits, outcome_at)
                continue
            committed += sized.amount_in
            self._fill(sized, block, base_fee + strategy.priority_fee_wei, gas_used, eth_value, outcome_at)
            filled.extend(after_fill(graph, sized))  # ours, or the winner's same trade
        for pool in filled:
            p = self.index_of[pool.address]
            self.overlay[p] = self.unseen_fills[p] = pool

    def _fill(self, sized: Opportunity, block: int, paid_price: int, gas_used: int, eth_value: float,
              outcome_at: float) -> None:
        """The race, the fill's integers, the book's outcome, the trade on record."""
        weth = self.weth
        rate = 1.0 if sized.token == weth else (eth_wei_per_token(sized) or 0.0)
        gross_wei = sized.gross_profit if sized.token == weth else int(sized.gross_profit * rate)
        net_eth = (gross_wei - gas_used * paid_price) / 1e18
        lose = self.options.competition.lose_probability(net_eth)
        lost = bool(self.rng.random() < lose)
        if lost and self.options.mode == "bundle":
            status, gross, gas_cost = TradeStatus.NOT_INCLUDED, 0, 0
            self.not_included += 1
        elif lost:
            status, gross, gas_cost = TradeStatus.REVERTED, 0, gas_used * paid_price
        else:
            status, gross, gas_cost = TradeStatus.MINED, gross_wei, gas_used * paid_price
        pnl_wei = gross - gas_cost
        pnl_value = pnl_wei / 1e18 * eth_value
        outcome = TradeOutcome(sized.id, status, sized.tokens, sized.amount_in_value, pnl_value,
                               gas_used=gas_used if gas_cost else 0, gas_cost_wei=gas_cost,
                               block_number=block + 1, finished_at=outcome_at)
        self.state, events = apply_outcome(self.state, outcome, self.limits, outcome_at)
        for event in events:
            if isinstance(event, LimitHit):
                self.limit_hits[event.limit] += 1
            self.stops += isinstance(event, EmergencyStopTriggered)
        if status is TradeStatus.MINED and sized.token == weth:
            self.inventory += sized.gross_profit
        if status is not TradeStatus.NOT_INCLUDED:
            self.trades.append(Trade(block + 1, int(outcome_at), sized.id, status.value, len(sized.route),
                                     sized.amount_in, gross, gas_used if gas_cost else 0, gas_cost, pnl_wei,
                                     pnl_value, lose))
            self.equity_times.append(outcome_at)
            self.equity_values.append(self.state.equity)
