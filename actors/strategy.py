"""Strategy: on each new block, search the published market for arbitrage and hand the best to the executor.

A thin shell over amm/ (token graph, vectorized screen, exact integer sizing). It reads pool-state's
MarketSnapshot without a mailbox hop, skips versions it has already scanned (a burst of blocks costs
one scan), opens each opportunity's trace (its id is the trace id; the envelope to the executor carries
the root span's id), and tells the executor the head first and then the best opportunities that share
no pool (two trades on one pool would race each other).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from actors import market_metrics as metrics
from amm.gas import BlockContext, GasPolicy, Numeraire, PriceBook
from amm.graph import MarketGraph
from amm.pools import PoolSnapshot
from amm.search import eth_value_in, scan
from amm.selection import market_view, pick, token_prices
from monitoring import trade_stages
from monitoring.tracing import root_span_id, span_id
from performance.recorder import record
from protocol.execution import ChainHead, ExecuteOpportunity, ExecutorSnapshot, RouteFailed, StrategySnapshot
from protocol.market import MarketSnapshot, ReservesUpdated
from supervision import ActorContext, Handle, SupervisedActor
from supervision.errors import ActorError

HEAD_TO_DECISION = "trade.head_to_decision"
DEFAULT_MAX_PER_BLOCK = 4
PRICE_HISTORY = 32  # blocks of token prices kept for the risk book's volatility and correlation


def pool_snapshots(market: MarketSnapshot, excluded: frozenset[str]) -> list[PoolSnapshot]:
    return [
        PoolSnapshot(r.pool.address, r.pool.dex, r.pool.token0, r.pool.token1, r.reserve0, r.reserve1, r.pool.fee_bps)
        for r in market.pools
        if r.pool.address.lower() not in excluded
    ]


class Strategy(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        pool_state_path: str,
        executor_path: str,
        weth: str,
        base_tokens: Sequence[str] | None = None,
        gas_policy: GasPolicy = GasPolicy(),  # noqa: B008 - frozen value
        prices: PriceBook = PriceBook(),  # noqa: B008 - frozen value
        max_per_block: int = DEFAULT_MAX_PER_BLOCK,
        min_net_profit_wei: int = 1,
        max_hops: int = 3,
        blocked_tokens: Sequence[str] = (),
        numeraire: Numeraire | None = None,
    ) -> None:
        super().__init__(ctx)
        self.numeraire = numeraire  # when set, ETH's value in it is read from the pools every block
        self.pool_state = Handle(pool_state_path)
        self.executor = Handle(executor_path)
        self.weth = weth
        self.base_tokens = None if base_tokens is None else tuple(base_tokens)
        self.gas_policy = gas_policy
        self.price_book = prices
        self.max_per_block = max_per_block
        self.min_net_profit_wei = min_net_profit_wei
        self.max_hops = max_hops
        self.blocked_tokens = tuple(blocked_tokens)
        self.graph: MarketGraph | None = None
        self.graph_pools: frozenset[str] = frozenset()
        self.quarantined: set[str] = set()
        self.scanned_version = 0
        self.handed = 0
        self.scan_failures = 0
        self.status_snapshot: StrategySnapshot | None = None
        self.price_history: collections.deque[dict[str, float]] = collections.deque(maxlen=PRICE_HISTORY)

    def receive(self, msg: Any) -> Any:
        match msg:
            case ReservesUpdated(seen_at=seen_at):
                market = self.pool_state.snapshot()
                if isinstance(market, MarketSnapshot) and market.version > self.scanned_version:
                    try:
                        self._scan(market, seen_at)
                    except Exception:
                        # the same reserves would fail the same way after a restart: skip this block, loudly
                        self.log.exception("scan of block {} failed; no trade this block", market.block_number)
                        self.scan_failures += 1
                        self.scanned_version = market.version
                        self.graph = None
            case RouteFailed(pools=pools, reason=reason, opportunity_id=opp_id):
                fresh = {p.lower() for p in pools} - self.quarantined
                if fresh:
                    self.log.warning("quarantining pools {} after {}: {}", sorted(fresh), opp_id, reason)
                    self.quarantined |= fresh
                    self.graph = None  # rebuilt without them at the next block
                    if self.status_snapshot is not None:
                        self.status_snapshot = msgspec.structs.replace(
                            self.status_snapshot, quarantined=tuple(sorted(self.quarantined))
                        )
                        self.publish(self.status_snapshot)
            case _:
                return super().receive(msg)
        return None

    def status(self) -> dict[str, Any]:
        snap = self.status_snapshot
        if snap is None:
            return {}
        return {"block": snap.scanned_block, "handed": snap.handed, "scan_ms": snap.scan_s * 1e3,
                "scan_failures": self.scan_failures}

    def _scan(self, market: MarketSnapshot, head_at: float = 0.0) -> None:
        """Search, then hand the best to the executor; head -> decision is measured (the sampler's
        trade.head_to_decision) from `head_at`, when pool-state began the read that found this head."""
        started = time.perf_counter()
        graph = self._graph(market)
        executor = self.executor.snapshot()
        inventory = executor.inventory if isinstance(executor, ExecutorSnapshot) else None
        block = BlockContext(market.block_number, market.base_fee_wei, float(market.timestamp))
        if self.numeraire is not None:
            eth_value = eth_value_in(graph, self.numeraire.token, self.numeraire.decimals)
            self.price_book = msgspec.structs.replace(self.price_book, eth_value=eth_value)
        result = scan(graph, self.gas_policy, self.price_book, block, min_net_profit_wei=self.min_net_profit_wei,
                      max_amount_in=inventory, detected_at=time.time())
        picked = pick(result.opportunities, self.max_per_block)
        metrics.scanned(len(result.opportunities), picked.shares_a_pool, picked.over_limit)
        chosen = [msgspec.structs.replace(o, id=trade_stages.open_trade(o), head_at=head_at)
                  for o in picked.opportunities]
        self.price_history.append(token_prices(graph, self.price_book.eth_value))
        elapsed = time.perf_counter() - started
        stages = [trade_stages.detecting(opp) for opp in chosen]
        handed = 0
        try:
            self.executor.tell(ChainHead(market.block_number, market.block_hash, market.base_fee_wei))
            for opp, stage in zip(chosen, stages, strict=True):
                view = market_view(self.price_history, opp.tokens)
                self.executor.tell(ExecuteOpportunity(opp, view), trace_id=opp.id, span_id=root_span_id(opp.id))
                handed += 1
                self.log.bind(trace_id=opp.id, span_id=span_id(stage)).info(
                    "opportunity at block {}: {} hops, in {} out +{} of {} (net {} wei ETH)",
                    opp.block_number, len(opp.route), opp.amount_in, opp.gross_profit, opp.token_symbol,
                    opp.net_profit_wei,
                )
        except ActorError as exc:
            self.log.warning("executor unavailable, {} opportunities dropped: {}", len(chosen) - handed, exc)
            metrics.not_handed(len(chosen) - handed)
            for opp in chosen[handed:]:
                trade_stages.not_handed(opp, f"executor unavailable: {exc}")
        self.handed += handed
        for stage in stages:  # the detected stages end once every opportunity is on its way
            trade_stages.detected(stage)
        if head_at > 0:
            record(HEAD_TO_DECISION, max(0.0, time.time() - head_at), True, opportunities=len(chosen))
        self.scanned_version = market.version
        self.status_snapshot = StrategySnapshot(
            scanned_block=market.block_number, market_version=market.version, pools=len(graph.pools),
            cycles=graph.cycle_count(), found=len(result.opportunities), handed=self.handed, scan_s=elapsed,
            quarantined=tuple(sorted(self.quarantined)),
            rejected=tuple(f"{r.address}: {r.defect.value}" for r in graph.rejected),
        )
        self.publish(self.status_snapshot)

    def _graph(self, market: MarketSnapshot) -> MarketGraph:
        excluded = frozenset(self.quarantined)
        pools = pool_snapshots(market, excluded)
        keys = frozenset(p.address.lower() for p in pools)
        if self.graph is None or keys != self.graph_pools:
            self.graph = MarketGraph.build(pools, weth=self.weth, base_tokens=self.base_tokens,
                                           blocked_tokens=self.blocked_tokens, max_hops=self.max_hops)
            self.graph_pools = keys
        elif market.version == self.scanned_version + 1:
            changed = {a.lower() for a in market.changed}
            self.graph = self.graph.update(p for p in pools if p.address.lower() in changed)
        else:  # versions were skipped: their changes are not in market.changed, compare every pool
            graph = self.graph
            self.graph = graph.update(
                p for p in pools if p.address not in graph.pool_index or graph.pool(p.address) != p
            )
        return self.graph
