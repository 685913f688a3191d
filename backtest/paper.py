"""Paper trading: live blocks in, the backtest's Trader deciding and filling, the backtest's reports out.

The bot's pool-state publishes each head it reads (its reserves, base fee, timestamp, the pools
that changed); a PaperSession is shown each one. The live strategy's search and the live risk
book's rules decide (backtest.trader.Trader, the same functions the strategy actor and the risk
book call), and instead of being signed and sent, each trade is filled by the backtest's
simulator: exact V2 integers on the head's reserves, gas at the head's base fee plus our tip at
the route's measured gas, the competition model's race and, in bundle mode, inclusion. Fills are
recorded as trades and summarized by the same figures and report as a backtest.

The session also keeps a tape of what it saw, in the history schema (backtest.history): one
block row per head, one Sync-like event per pool whose reserves changed (the first head: every
pool). `compare()` replays that tape through the backtest engine with the same settings and
seed, so an operator sees whether the backtest of the same period makes the same trades: it
should, trade for trade and to the wei, because both are the same Trader on the same reserves.
Where they differ, the first difference is reported; the known cause is the backtest's price
history for the risk book, sampled at the blocks its screen keeps (backtest.engine), where paper
trading samples every head as the live strategy does.

Heads the bot read in a burst (pool-state publishes the newest of several blocks at once) leave a
gap between two heads seen. The tape fills it with rows that repeat the last seen timestamp and
base fee and carry no events, so the history stays gap-free, and the session shows those rows to
the Trader too, at the reserves last seen: so paper trading and the backtest of its tape see the
same blocks and agree by construction (the live strategy would have scanned only the newest head
of the burst; a trade paper trading makes inside a gap is one the bot could have made had it
seen that block).
"""

from __future__ import annotations

import msgspec
import numpy as np

from amm.pools import PoolSnapshot
from backtest.engine import Replay, replay, result_of
from backtest.history import History, HistoryMeta, validate, words_from_ints
from backtest.results import BacktestReport, build_report
from backtest.trader import BacktestOptions, StrategyParams, Trade, Trader

PAPER_LABEL = "PAPER trading on live data"


class Agreement(msgspec.Struct, frozen=True, rename="camel"):
    """Paper trading against the backtest of the same blocks, with the same settings and seed."""

    paper_trades: int
    backtest_trades: int
    same_trades: int  # the longest common prefix of the two trade lists, trade for trade
    agree: bool
    paper_pnl_value: float
    backtest_pnl_value: float
    first_difference: str | None


class PaperReport(msgspec.Struct, frozen=True, rename="camel"):
    paper: BacktestReport
    backtest: BacktestReport  # the backtest of the same period (the tape replayed)
    agreement: Agreement


class PaperTape:
    """The heads a session saw, as history columns."""

    def __init__(self, meta: HistoryMeta) -> None:
        self.meta = meta
        self.numbers: list[int] = []
        self.timestamps: list[int] = []
        self.base_fees: list[int] = []
        self.event_blocks: list[int] = []
        self.event_pools: list[str] = []
        self.reserve0: list[int] = []
        self.reserve1: list[int] = []

    def add(self, block: int, timestamp: int, base_fee: int, synced: list[tuple[int, PoolSnapshot]]) -> list[int]:
        """Put the head on the tape; the blocks of the gap before it (unseen heads) that were added."""
        gaps: list[int] = []
        if self.numbers:
            last = self.numbers[-1]
            if block <= last:
                raise ValueError(f"head {block} after head {last}: a paper tape only moves forward")
            gaps = list(range(last + 1, block))
            for gap in gaps:
                self.numbers.append(gap)
                self.timestamps.append(self.timestamps[-1])
                self.base_fees.append(self.base_fees[-1])
        self.numbers.append(block)
        self.timestamps.append(max(timestamp, self.timestamps[-1] if self.timestamps else timestamp))
        self.base_fees.append(base_fee)
        for _, pool in synced:
            self.event_blocks.append(block)
            self.event_pools.append(pool.address)
            self.reserve0.append(pool.reserve0)
            self.reserve1.append(pool.reserve1)
        return gaps

    @property
    def blocks(self) -> int:
        return len(self.numbers)

    def history(self) -> History:
        if not self.numbers:
            raise ValueError("the paper tape is empty: no head was seen yet")
        blocks = {"block_number": np.array(self.numbers, dtype=np.int64),
                  "timestamp": np.array(self.timestamps, dtype=np.int64),
                  "base_fee_wei": np.array(self.base_fees, dtype=np.int64)}
        event_block = np.array(self.event_blocks, dtype=np.int64)
        # the log index of each pool's event within its block: its position there
        starts = np.searchsorted(event_block, event_block, side="left")
        events = {"block_number": event_block, "log_index": np.arange(len(event_block), dtype=np.int64) - starts,
                  "pool": np.array(self.event_pools, dtype=object), "reserve0": words_from_ints(self.reserve0),
                  "reserve1": words_from_ints(self.reserve1)}
        return validate(self.meta, blocks, events, blocks_file="paper tape blocks", events_file="paper tape events")


class PaperSession:
    """One paper-trading run over live heads."""

    def __init__(self, meta: HistoryMeta, strategy: StrategyParams, options: BacktestOptions):
        self.meta = msgspec.structs.replace(meta, synthetic=None)
        self.strategy, self.options = strategy, options
        self.trader: Trader | None = None  # started at the first head, as the replay starts at the first block
        self.tape = PaperTape(self.meta)
        self.index_of = {p.address.lower(): i for i, p in enumerate(self.meta.pools)}
        self.known: dict[int, tuple[int, int]] = {}  # pool -> the reserves last put on the tape

    @property
    def trades(self) -> list[Trade]:
        return self.trader.trades if self.trader is not None else []

    def on_head(self, block: int, timestamp: int, base_fee: int, reserves: dict[str, tuple[int, int]]) -> None:
        """A head and the reserves of the watched pools at it (address -> (reserve0, reserve1)); pools not
        in the session's meta are ignored (they joined after it started)."""
        synced: list[tuple[int, PoolSnapshot]] = []
        for address, (r0, r1) in reserves.items():
            p = self.index_of.get(address.lower())
            if p is None or self.known.get(p) == (r0, r1):
                continue
            self.known[p] = (r0, r1)
            info = self.meta.pools[p]
            synced.append((p, PoolSnapshot(info.address, info.dex, info.token0, info.token1, r0, r1, info.fee_bps)))
        synced.sort(key=lambda s: s[0])
        if not self.tape.blocks and not synced:
            return  # nothing to trade on yet
        before = (float(self.tape.timestamps[-1]), self.tape.base_fees[-1]) if self.tape.blocks else None
        gaps = self.tape.add(block, timestamp, base_fee, synced)
        at = float(self.tape.timestamps[-1])
        if self.trader is None:
            self.trader = Trader(self.meta, self.strategy, self.options, at)
        if before is not None:
            for gap in gaps:  # unseen heads: the reserves last seen
                self.trader.block(gap, before[0], before[1], [])
        self.trader.block(block, at, base_fee, synced)

    def result(self, history: History) -> Replay:
        assert self.trader is not None
        return result_of(self.trader, history, candidates=self.trader.scanned, elapsed_s=0.0, screen_s=0.0)

    def report(self) -> PaperReport:
        """The paper run's figures, the backtest of the same blocks, and whether they agree."""
        history = self.tape.history()
        paper = build_report(history, self.result(history), self.strategy, self.options)
        paper = msgspec.structs.replace(paper, data=PAPER_LABEL)
        backtest = build_report(history, replay(history, self.strategy, self.options), self.strategy, self.options)
        return PaperReport(paper, backtest, compare(list(paper.trades), list(backtest.trades)))


def compare(paper: list[Trade], backtest: list[Trade]) -> Agreement:
    same = 0
    for a, b in zip(paper, backtest):
        if a != b:
            break
        same += 1
    difference = None
    if same < max(len(paper), len(backtest)):
        ours = paper[same] if same < len(paper) else None
        theirs = backtest[same] if same < len(backtest) else None
        difference = f"trade {same + 1}: paper {_describe(ours)}, backtest {_describe(theirs)}"
    return Agreement(len(paper), len(backtest), same, difference is None, sum(t.pnl_value for t in paper),
                     sum(t.pnl_value for t in backtest), difference)


def _describe(trade: Trade | None) -> str:
    if trade is None:
        return "none"
    return (f"block {trade.block} {trade.status} {trade.hops} hops in {trade.amount_in} pnl {trade.pnl_wei} wei "
            f"({trade.opportunity_id})")
