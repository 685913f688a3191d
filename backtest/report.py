"""The report: a JSON file of every figure, and one self-contained HTML page with its plots inlined as PNG.

Plots are drawn with matplotlib's object API (no pyplot global state) and embedded as base64 data
URIs, so the page needs nothing else to open. Same report in, same bytes out (no timestamps).
"""

from __future__ import annotations

import base64
import datetime
import html
import io
from collections.abc import Sequence

import msgspec
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from backtest.metrics import DAY_S
from backtest.results import BacktestReport

CONVENTIONS = (
    "Returns are daily (UTC day ends) and annualised over 365 periods (crypto trades every day), risk-free rate 0. "
    "Sharpe = mean / std (ddof 1) x sqrt(365); Sortino uses the downside deviation over all days; "
    "Calmar = annual return (CAGR) / max drawdown; max drawdown is measured on the equity curve from its running "
    "peak. Equity = initial capital + realized PnL in the quote token at each trade's ETH price."
)


def to_json(report: BacktestReport) -> bytes:
    return msgspec.json.format(msgspec.json.encode(report))


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _days(report: BacktestReport, n: int) -> list[datetime.datetime]:
    first = int(report.start_time // DAY_S) * DAY_S
    return [datetime.datetime.fromtimestamp(first + k * DAY_S, datetime.UTC) for k in range(n)]


def equity_plot(report: BacktestReport) -> str:
    fig = Figure(figsize=(10, 6))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    days = _days(report, len(report.daily_equity))
    top.plot(days, report.daily_equity, label="strategy", color="tab:blue", linewidth=2)
    for bench, color in zip(report.benchmarks, ("tab:orange", "tab:gray")):
        top.plot(days[: len(bench.daily_equity)], bench.daily_equity, label=bench.name, color=color, linestyle="--")
    top.set_ylabel("equity (quote token)")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    times = np.array(report.equity_times)
    values = np.array(report.equity_values)
    curve = np.concatenate(([report.summary.start_equity], values))
    drawdown = 1.0 - curve / np.maximum.accumulate(curve)
    when = [datetime.datetime.fromtimestamp(t, datetime.UTC) for t in np.concatenate(([report.start_time], times))]
    bottom.fill_between(when, -100 * drawdown, 0, color="tab:red", alpha=0.5, step="post")
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    fig.suptitle("Equity and drawdown" + (" (SYNTHETIC data)" if report.synthetic else ""))
    return _png(fig)


def pnl_histogram(report: BacktestReport) -> str:
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    pnls = np.array([t.pnl_value for t in report.trades])
    if len(pnls):
        ax.hist(pnls, bins=min(80, max(10, len(pnls) // 20)), color="tab:green", edgecolor="black", linewidth=0.3)
    ax.axvline(0, color="black", linewidth=1)
    ax.set_xlabel("trade PnL (quote token, net of gas)")
    ax.set_ylabel("trades")
    ax.set_title(f"Trade PnL histogram ({len(pnls)} trades)")
    return _png(fig)


def monte_carlo_fan(report: BacktestReport) -> str:
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    if report.intervals is not None:
        fan = report.intervals.fan
        k = [p.trades for p in fan]
        ax.fill_between(k, [p.pnl_p05 for p in fan], [p.pnl_p95 for p in fan], color="tab:purple", alpha=0.3,
                        label="5-95 % of bootstrapped paths")
        ax.plot(k, [p.pnl_p50 for p in fan], color="tab:purple", label="median")
        realized = np.cumsum([t.pnl_value for t in report.trades])
        ax.plot(np.arange(1, len(realized) + 1), realized, color="black", linewidth=1, label="realized")
        ax.legend(loc="upper left")
    ax.set_xlabel("trades")
    ax.set_ylabel("cumulative PnL")
    ax.set_title("Monte Carlo fan (bootstrap with replacement of the trade PnLs)")
    ax.grid(alpha=0.3)
    return _png(fig)


def _fmt(v: object) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.4f}"
    return html.escape(str(v))


def _table(rows: Sequence[tuple[str, object]]) -> str:
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in rows) + "</table>"


def to_html(report: BacktestReport) -> str:
    s = report.summary
    banner = (f'<p class="synthetic">SYNTHETIC DATA: {html.escape(report.data)}</p>' if report.synthetic
              else f"<p>Data: {html.escape(report.data)}</p>")
    summary = _table([
        ("total return", s.total_return), ("annual return (CAGR)", s.annual_return), ("Sharpe", s.sharpe_ratio),
        ("Sortino", s.sortino_ratio), ("Calmar", s.calmar_ratio), ("max drawdown", s.max_drawdown),
        ("win rate", s.win_rate), ("profit factor", s.profit_factor), ("exposure", s.exposure),
        ("trades", s.trades), ("days", s.days), ("start equity", s.start_equity), ("end equity", s.end_equity),
    ])
    bench = "".join(f"<tr><td>{html.escape(b.name)}</td><td>{_fmt(b.total_return)}</td><td>{_fmt(b.max_drawdown)}"
                    f"</td><td>{_fmt(b.sharpe_ratio)}</td></tr>" for b in report.benchmarks)
    c = report.counts
    counts = _table([("blocks", c.blocks), ("events", c.events), ("blocks kept by the screen", c.candidate_blocks),
                     ("blocks scanned", c.scanned_blocks), ("opportunities found", c.opportunities),
                     ("bundles not included", c.not_included), ("emergency stops", c.emergency_stops),
                     ("emergency stop at the end", c.emergency_stop),
                     ("stops reset by a stand-in operator",
                      f"{c.operator_resets} (after {report.options.operator_reset_after_s:g} s)"
                      if report.options.operator_reset_after_s is not None else "none: stopped stays stopped, as live")]
                    + [(f"skipped: {k}", v) for k, v in c.skipped.items()]
                    + [(f"limit hit: {k}", v) for k, v in c.limit_hits.items()])
    mc = ""
    if report.intervals is not None:
        o = report.intervals.outcome
        mc = _table([("paths", o.paths), ("PnL p05", o.pnl_p05), ("PnL p50", o.pnl_p50), ("PnL p95", o.pnl_p95),
                     ("VaR 95 %", o.var_95), ("CVaR 95 %", o.cvar_95),
                     ("P(max drawdown limit reached)", o.prob_max_drawdown)])
    plots = "".join(f'<figure><img alt="{alt}" src="{src}"></figure>' for alt, src in (
        ("equity and drawdown", equity_plot(report)), ("trade PnL histogram", pnl_histogram(report)),
        ("Monte Carlo fan", monte_carlo_fan(report))))
    settings = msgspec.json.format(msgspec.json.encode([report.strategy, report.options])).decode()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>arbiter backtest {report.first_block}-{report.last_block}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}} table{{border-collapse:collapse;margin:1em 0}}
th,td{{border:1px solid #ccc;padding:2px 8px;text-align:left}}
.synthetic{{background:#fe9;padding:8px;font-weight:bold}}
img{{max-width:100%}}</style></head><body>
<h1>Backtest: blocks {report.first_block} to {report.last_block}</h1>
{banner}
<p>{html.escape(CONVENTIONS)}</p>
<h2>Summary</h2>{summary}
<h2>Benchmarks</h2>
<table><tr><th>benchmark</th><th>total return</th><th>max drawdown</th><th>Sharpe</th></tr>{bench}</table>
<h2>Plots</h2>{plots}
<h2>Monte Carlo (bootstrap of {s.trades} trades)</h2>{mc}
<h2>Replay</h2>{counts}
<h2>Settings</h2><pre>{html.escape(settings)}</pre>
</body></html>
"""
