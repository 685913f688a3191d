"""Backtest benchmark: events replayed per second, and the synthetic 6 months x 20+ pools end to end.

Prints one JSON object. replay_events_per_s = the history's Sync events / the replay's wall time
(the vectorised block screen and the sequential live scan + risk book on the blocks it keeps;
generating the history is not counted). six_months_20_pools_s = generate the seeded 6-month
history, replay it, build the figures and write the JSON and HTML report (what
`run.py backtest --synthetic 6mo` does, progress bar aside). Targets (issue 18): >= 3,000,000
events/s and < 30 s on this 2-core machine. The genetic optimiser is not built yet: its two keys
are null, not guessed.
Run: .venv/bin/python benchmarks/bench_backtest.py [--duration 6mo]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from backtest.engine import BacktestOptions, StrategyParams, replay
from backtest.report import to_html, to_json
from backtest.results import build_report
from backtest.synthetic import generate, spec_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", default="6mo")
    args = parser.parse_args()
    strategy, options = StrategyParams(), BacktestOptions()
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    history = generate(spec_for(args.duration))
    t1 = time.perf_counter()
    result = replay(history, strategy, options)
    t2 = time.perf_counter()
    report = build_report(history, result, strategy, options)
    t3 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        (Path(out) / "backtest.json").write_bytes(to_json(report))
        (Path(out) / "backtest.html").write_text(to_html(report))
    t4 = time.perf_counter()
    print(json.dumps({
        "benchmark": "backtest",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "load_average_1m_before": round(load_before, 2),
        "duration": args.duration,
        "blocks": history.blocks,
        "pools": len(history.meta.pools),
        "events": history.events,
        "blocks_kept_by_screen": result.candidate_blocks,
        "blocks_scanned": result.scanned_blocks,
        "trades": len(result.trades),
        "replay_events_per_s": round(history.events / (t2 - t1)),
        "replay_events_per_s_target": 3_000_000,
        "six_months_20_pools_s" if args.duration == "6mo" else "end_to_end_s": round(t4 - t0, 2),
        "six_months_20_pools_s_target": 30,
        "phases_s": {"generate": round(t1 - t0, 2), "screen": round(result.screen_s, 2),
                     "scan_and_book": round(t2 - t1 - result.screen_s, 2), "figures": round(t3 - t2, 2),
                     "report_files": round(t4 - t3, 2)},
        "ga_generations_per_s_local": None,
        "ga_generations_per_s_ray": None,
        "not_built": ["genetic optimiser (optuna NSGA-II, walk-forward, Ray)"],
    }, indent=2))


if __name__ == "__main__":
    main()
