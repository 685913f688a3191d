"""The replay: the live strategy search and the live risk book, block by block, on recorded or synthetic history.

Same functions as live, fed from history: amm.graph.MarketGraph.update with the block's reserves,
amm.search.scan (screen + exact integer sizing), amm.selection.pick, the executor's gas
checks (execution.profitability: the strategy's estimate before, the measured gas bound after the
"simulation"), risk.assess / reserve / apply_outcome / roll_day for the book. Only the blocks the
vectorised screen (backtest.prescreen) keeps are scanned, plus every block while one of our fills
still shapes a pool.

Fills: the route's exact V2 integers on the replayed reserves (what eth_call would simulate at the
head), landing in the next block; gas paid is the route's measured gas (MEASURED_GAS) at the
block's base fee plus our tip. After a fill (or a lost race: the winner made the same trade) the
route's pools carry the post-trade reserves until their next recorded Sync, which reflects the
world without us. Profits are booked in the numeraire at the block's ETH price (the risk book's
convention), so equity = initial capital + realized PnL.
Deviation from live: the risk book's price history (volatility, correlation) is sampled at the
scanned blocks, not at every block.
"""

from __future__ import annotations

import bisect
import collections
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import numpy as np

from amm.gas import BlockContext, GasPolicy, PriceBook
from amm.graph import MarketGraph
from amm.pools import PoolSnapshot
from amm.resize import at_size, eth_wei_per_token
from amm.search import eth_value_in, scan
from amm.selection import market_view, pick, token_prices
from backtest.competition import CompetitionModel
from backtest.history import History, exact
from backtest.prescreen import PoolColumns, candidate_blocks
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
    #: The live book stays stopped until an operator resets it. A backtest stands in for that operator:
    #: it resets the stop (risk.book.reset_stop, with the reason on record) this long after it fired,
    #: cooldown untouched; None leaves it stopped for the rest of the range.
    operator_reset_after_s: float | None = 3_600.0


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


@dataclass
class Replay:
    """What the replay produced; backtest.results turns it into figures."""

    trades: list[Trade]
    equity_times: np.ndarray
    equity_values: np.ndarray
    start_equity: float
    final_state: RiskBookState
    blocks: int
    events: int
    candidate_blocks: int
    scanned_blocks: int
    opportunities: int
    skipped: collections.Counter[str]
    limit_hits: collections.Counter[str]
    not_included: int
    stops: int
    elapsed_s: float
    screen_s: float


def _kind(reason: str) -> str:
    """A rejection reason without its numbers and addresses, to count rejections by kind."""
    return re.sub(r"0x[0-9a-fA-F]+|[-+]?\d[\d.,]*%?", "#", reason)


def _pool_snapshot(history: History, columns: PoolColumns, pool: int, position: int) -> PoolSnapshot:
    info = history.meta.pools[pool]
    e = columns.event_index(pool, position)
    return PoolSnapshot(info.address, info.dex, info.token0, info.token1, exact(history.reserve0, e),
                        exact(history.reserve1, e), info.fee_bps)


def _after_fill(graph: MarketGraph, opp: Opportunity) -> list[PoolSnapshot]:
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


def replay(
    history: History, strategy: StrategyParams = StrategyParams(), options: BacktestOptions = BacktestOptions(),  # noqa: B008
    progress: Callable[[int], None] | None = None,
) -> Replay:
    """Replay `history` with `strategy`; `progress(blocks done)` is called as the replay advances."""
    started = time.perf_counter()
    meta = history.meta
    if options.mode not in ("public", "bundle"):
        raise ValueError(f"mode {options.mode!r}: expected public or bundle")
    weth, quote = meta.weth, meta.quote
    quote_decimals = meta.tokens[quote].decimals if quote in meta.tokens else 6
    symbols = {a: t.symbol for a, t in meta.tokens.items()}
    gas_policy = GasPolicy(priority_fee_wei=strategy.priority_fee_wei)
    limits = strategy.limits
    columns = PoolColumns(history)
    n_pools = len(meta.pools)
    present = [p for p in range(n_pools) if len(columns.blocks[p])]
    topology = MarketGraph.build([_pool_snapshot(history, columns, p, 0) for p in present], weth=weth,
                                 base_tokens=(weth,), max_hops=strategy.max_hops)
    candidates = candidate_blocks(history, columns, topology, gas_policy, strategy.min_net_profit_wei)
    screen_s = time.perf_counter() - started
    rng = np.random.default_rng(options.seed)
    start_time = float(history.timestamp[0])
    state = new_state(limits, start_time)
    first_block = int(history.block_number[0])
    inventory = int(strategy.inventory_eth * 10**18)
    index_of = {p.address: i for i, p in enumerate(meta.pools)}
    event_blocks = [columns.blocks[p].tolist() for p in range(n_pools)]  # bisect on lists: no numpy call per pool

    def latest(pool: int, block: int) -> int:
        return bisect.bisect_right(event_blocks[pool], block) - 1

    graph: MarketGraph | None = None
    graph_key: list[tuple[str, int] | None] = [None] * n_pools  # what the graph holds for each pool
    overlay: dict[int, tuple[int, PoolSnapshot, int]] = {}  # pool -> (its event position at our fill, reserves, fill)
    fills = 0
    prices: collections.deque[dict[str, float]] = collections.deque(maxlen=PRICE_HISTORY)
    trades: list[Trade] = []
    eq_t: list[float] = []
    eq_v: list[float] = []
    skipped: collections.Counter[str] = collections.Counter()
    hits: collections.Counter[str] = collections.Counter()
    not_included = scanned = found = stops = 0
    ci, last = 0, first_block - 1
    n_candidates = len(candidates)
    while True:
        nxt = int(candidates[ci]) if ci < n_candidates else None
        if overlay and (nxt is None or last + 1 < nxt):
            nxt = last + 1
        if nxt is None or nxt > int(history.block_number[-1]):
            break
        block = nxt
        while ci < n_candidates and candidates[ci] <= block:
            ci += 1
        last = block
        row = block - first_block
        if progress is not None and scanned % 512 == 0:
            progress(row)
        scanned += 1
        # --- the block's pools: recorded reserves, or our fill's until the pool's next Sync ----------
        changed: list[PoolSnapshot] = []
        for p in present:
            position = latest(p, block)
            if position < 0:
                continue
            held = overlay.get(p)
            if held is not None and held[0] != position:  # the pool's next Sync: the world without our fill
                del overlay[p]
                held = None
            key = ("fill", held[2]) if held is not None else ("event", position)
            if key != graph_key[p]:
                graph_key[p] = key
                changed.append(held[1] if held is not None else _pool_snapshot(history, columns, p, position))
        if graph is None:
            graph = MarketGraph.build(changed, weth=weth, base_tokens=(weth,), max_hops=strategy.max_hops)
        elif changed:
            graph = graph.update(changed)
        now = float(history.timestamp[row])
        base_fee = int(history.base_fee_wei[row])
        stop = state.emergency_stop
        if stop.active and options.operator_reset_after_s is not None and stop.since is not None \
                and now - stop.since >= options.operator_reset_after_s:
            state, _ = reset_stop(state, f"backtest operator reset {options.operator_reset_after_s:g} s after the stop",
                                  "backtest", now)
        eth_value = eth_value_in(graph, quote, quote_decimals)
        book = PriceBook(eth_value=eth_value, symbols=symbols)
        result = scan(graph, gas_policy, book, BlockContext(block, base_fee, now),
                      min_net_profit_wei=strategy.min_net_profit_wei, max_amount_in={weth: inventory},
                      detected_at=now)
        prices.append(token_prices(graph, eth_value))
        found += len(result.opportunities)
        committed = 0
        bid = gas_bid_wei(base_fee, strategy.priority_fee_wei)
        for opp in pick(result.opportunities, strategy.max_per_block).opportunities:
            amount = min(opp.amount_in, inventory - committed)
            if amount <= 0:
                skipped["inventory committed"] += 1
                continue
            sized = at_size(opp, amount)
            try:
                if sized.gross_profit < gas_floor(sized, opp.gas_estimate, bid, strategy.min_net_profit_wei):
                    skipped["not worth its gas at the bid"] += 1
                    continue
            except GasUnpriceable:
                skipped["gas unpriceable"] += 1
                continue
            state, events = roll_day(state, limits, now)
            answer = assess(state, sized, market_view(prices, sized.tokens), limits, now)
            if not answer.approved:
                skipped["risk: " + _kind(answer.reasons[0] if answer.reasons else "rejected")] += 1
                continue
            state = reserve(state, sized, answer.adjusted_size_value, answer.max_loss_value, limits, now)
            if answer.adjusted_amount_in < amount:
                sized = at_size(opp, answer.adjusted_amount_in)
            hops = len(sized.route)
            gas_used = MEASURED_GAS.get(hops, gas_policy.gas_units(hops))
            bound = gas_used_bound(gas_used, hops)
            paid_price = base_fee + strategy.priority_fee_wei
            outcome_at = now + BLOCK_TIME_S
            if sized.gross_profit < gas_floor(sized, bound, bid, strategy.min_net_profit_wei):
                skipped["net-negative at the size sent"] += 1
                state, _ = apply_outcome(state, TradeOutcome(sized.id, TradeStatus.FAILED, sized.tokens,
                                                             sized.amount_in_value, 0.0, block_number=block),
                                         limits, outcome_at)
                continue
            committed += sized.amount_in
            rate = 1.0 if sized.token == weth else (eth_wei_per_token(sized) or 0.0)
            gross_wei = sized.gross_profit if sized.token == weth else int(sized.gross_profit * rate)
            net_eth = (gross_wei - gas_used * paid_price) / 1e18
            lose = options.competition.lose_probability(net_eth)
            lost = bool(rng.random() < lose)
            if lost and options.mode == "bundle":
                status, gross, gas_cost = TradeStatus.NOT_INCLUDED, 0, 0
                not_included += 1
            elif lost:
                status, gross, gas_cost = TradeStatus.REVERTED, 0, gas_used * paid_price
            else:
                status, gross, gas_cost = TradeStatus.MINED, gross_wei, gas_used * paid_price
            pnl_wei = gross - gas_cost
            pnl_value = pnl_wei / 1e18 * eth_value
            outcome = TradeOutcome(sized.id, status, sized.tokens, sized.amount_in_value, pnl_value,
                                   gas_used=gas_used if gas_cost else 0, gas_cost_wei=gas_cost,
                                   block_number=block + 1, finished_at=outcome_at)
            state, events = apply_outcome(state, outcome, limits, outcome_at)
            for event in events:
                if isinstance(event, LimitHit):
                    hits[event.limit] += 1
                stops += isinstance(event, EmergencyStopTriggered)
            if status is TradeStatus.MINED:
                inventory += sized.gross_profit if sized.token == weth else 0
            fills += 1
            for pool in _after_fill(graph, sized):  # ours, or the winner's same trade
                p = index_of[pool.address]
                overlay[p] = (latest(p, block), pool, fills)
            if status is not TradeStatus.NOT_INCLUDED:
                trades.append(Trade(block + 1, int(outcome_at), sized.id, status.value, hops, sized.amount_in,
                                    gross, gas_used if gas_cost else 0, gas_cost, pnl_wei, pnl_value, lose))
                eq_t.append(outcome_at)
                eq_v.append(state.equity)
    if progress is not None:
        progress(history.blocks)
    return Replay(
        trades=trades, equity_times=np.array(eq_t), equity_values=np.array(eq_v), start_equity=limits.initial_capital,
        final_state=state, blocks=history.blocks, events=history.events, candidate_blocks=n_candidates,
        scanned_blocks=scanned, opportunities=found, skipped=skipped, limit_hits=hits, not_included=not_included,
        stops=stops, elapsed_s=time.perf_counter() - started, screen_s=screen_s,
    )
