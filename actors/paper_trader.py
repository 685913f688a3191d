"""Paper trader: with PAPER_MODE (or `run.py paper`), every head pool-state reads is traded on paper.

A thin shell over backtest.paper.PaperSession: on each ReservesUpdated it reads pool-state's
published MarketSnapshot (no mailbox hop) and shows the session the head's reserves, base fee and
timestamp. The session's Trader decides with the live strategy's search and the live risk book's
rules and fills with the backtest's simulator instead of sending (the executor runs in paper mode
beside it and sends nothing). Each fill is logged like a trade; every `report_every` heads, and when
the actor stops, the report is written to `out_dir`: paper.json (the paper figures, the backtest of
the same heads, and whether the two agree), paper.html and backtest.html (the same report pages as
`run.py backtest`), and the tape of heads as a history directory (tape/, persistence.history's files)
that `run.py backtest --history DIR/tape` replays again.

The session's pools are those of the first snapshot; a pool pool-state discovers later is left out of
paper trading until the next start (the log says so once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from backtest.history import HistoryMeta, PoolInfo, TokenInfo
from backtest.paper import PaperReport, PaperSession
from backtest.report import to_html
from backtest.trader import BacktestOptions, StrategyParams
from persistence.history import save
from protocol.market import MarketSnapshot, ReservesUpdated
from supervision import ActorContext, Handle, SupervisedActor

REPORT_EVERY_HEADS = 100


def meta_from(market: MarketSnapshot, weth: str, quote: str, quote_decimals: int,
              symbols: dict[str, str]) -> HistoryMeta:
    """The session's meta from pool-state's snapshot. Decimals are known for WETH and the numeraire only;
    the engine reads no other token's (it trades in wei and values through WETH)."""
    pools = tuple(PoolInfo(r.pool.address, r.pool.dex, r.pool.token0, r.pool.token1, r.pool.fee_bps)
                  for r in market.pools)
    tokens = {t: TokenInfo(symbols.get(t, t[:10]), 18) for p in pools for t in (p.token0, p.token1)}
    tokens[weth] = TokenInfo(symbols.get(weth, "WETH"), 18)
    tokens[quote] = TokenInfo(symbols.get(quote, "USD"), quote_decimals)
    return HistoryMeta(weth=weth, quote=quote, tokens=tokens, pools=pools)


class PaperTrader(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        pool_state_path: str,
        weth: str,
        quote: str,
        quote_decimals: int,
        out_dir: str,
        symbols: dict[str, str] | None = None,
        strategy: StrategyParams = StrategyParams(),  # noqa: B008 - frozen value
        options: BacktestOptions = BacktestOptions(),  # noqa: B008 - frozen value
        report_every: int = REPORT_EVERY_HEADS,
    ) -> None:
        super().__init__(ctx)
        self.pool_state = Handle(pool_state_path)
        self.weth, self.quote, self.quote_decimals = weth, quote, quote_decimals
        self.symbols = dict(symbols or {})
        self.out = Path(out_dir)
        self.strategy, self.options = strategy, options
        self.report_every = report_every
        self.session: PaperSession | None = None
        self.version = 0
        self.heads = 0
        self.reports = 0
        self.last_report: PaperReport | None = None
        self.told_new_pools = False

    def on_start(self) -> None:
        self.log.info("paper trading: fills simulated by the backtest engine ({} mode, competition {}); reports in {}",
                      self.options.mode, "on" if self.options.competition.enabled else "off", self.out)
        self._read_market()  # a head published before this actor started (pool-state starts first)

    def on_terminate(self) -> None:
        if self.session is not None and self.session.tape.blocks:
            try:
                self._write_report()
            except Exception as exc:  # stopping either way: what was lost must be on record
                self.log.opt(exception=exc).error("paper report not written at stop: {}", exc)

    def receive(self, msg: Any) -> Any:
        if isinstance(msg, ReservesUpdated):
            self._read_market()
            return None
        return super().receive(msg)

    def _read_market(self) -> None:
        market = self.pool_state.snapshot()
        if isinstance(market, MarketSnapshot) and market.version > self.version:
            self.version = market.version
            self._on_head(market)

    def status(self) -> dict[str, Any]:
        trades = self.session.trades if self.session is not None else []
        agreement = self.last_report.agreement if self.last_report is not None else None
        return {"heads": self.heads, "trades": len(trades), "pnl_value": sum(t.pnl_value for t in trades),
                "reports": self.reports, "agrees_with_backtest": None if agreement is None else agreement.agree}

    def _on_head(self, market: MarketSnapshot) -> None:
        if self.session is None:
            meta = meta_from(market, self.weth, self.quote, self.quote_decimals, self.symbols)
            self.session = PaperSession(meta, self.strategy, self.options)
        reserves = {r.pool.address: (r.reserve0, r.reserve1) for r in market.pools}
        if not self.told_new_pools and set(map(str.lower, reserves)) - set(self.session.index_of):
            self.told_new_pools = True
            self.log.warning("paper trading: pools discovered after the start are left out until the next start")
        before = len(self.session.trades)
        self.session.on_head(market.block_number, market.timestamp, market.base_fee_wei, reserves)
        self.heads += 1
        for trade in self.session.trades[before:]:
            self.log.info("paper trade {} at block {}: {} ({} hops, in {} wei), pnl {} wei = {:.2f} (P(lose) {:.2f})",
                          trade.opportunity_id, trade.block, trade.status, trade.hops, trade.amount_in, trade.pnl_wei,
                          trade.pnl_value, trade.lose_probability)
        if self.heads % self.report_every == 0:
            self._write_report()

    def _write_report(self) -> None:
        assert self.session is not None
        report = self.session.report()
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "paper.json").write_bytes(msgspec.json.format(msgspec.json.encode(report)))
        (self.out / "paper.html").write_text(to_html(report.paper), encoding="utf-8")
        (self.out / "backtest.html").write_text(to_html(report.backtest), encoding="utf-8")
        save(self.session.tape.history(), self.out / "tape")
        self.last_report = report
        self.reports += 1
        a = report.agreement
        self.log.info("paper report {}: {} trades, pnl {:.2f}; the backtest of the same {} heads: {} trades, {}",
                      self.out / "paper.html", a.paper_trades, a.paper_pnl_value, self.session.tape.blocks,
                      a.backtest_trades, "the same" if a.agree else f"differs at {a.first_difference}")
