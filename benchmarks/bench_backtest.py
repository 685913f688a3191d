"""Backtest benchmark: events replayed per second, and the synthetic 6 months x 20+ pools end to end,
and the genetic search's generations per second.

Prints one JSON object. replay_events_per_s = the history's Sync events / the replay's wall time
(the vectorised block screen and the sequential live scan + risk book on the blocks it keeps;
generating the history is not counted). six_months_20_pools_s = generate the seeded 6-month
history, replay it, build the figures and write the JSON and HTML report (what
`run.py backtest --synthetic 6mo` does, progress bar aside). Targets (issue 18): >= 3,000,000
events/s and < 30 s on this 2-core machine. ga_generations_per_s_*: NSGA-II generations of a fixed
population (GA_POPULATION replays of a GA_DAYS-day synthetic window) per second, in one process, over
two local processes and over a local Ray instance with two CPUs: each figure is the search's wall
time / generations, the process pool's or Ray's start-up included, as an operator waits for it.
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
from backtest.synthetic import SyntheticSpec, generate, spec_for
from bot.optimizing import search

GA_POPULATION, GA_GENERATIONS, GA_DAYS = 8, 3, 3.0  # replays of ~1 s: long enough for start-up to amortise


def bench_ga(workers: int, ray_address: str | None) -> float:
    window = generate(SyntheticSpec(seed=11, days=GA_DAYS))
    options = BacktestOptions(monte_carlo_paths=10)
    started = time.perf_counter()
    search(window, population=GA_POPULATION, generations=GA_GENERATIONS, seed=0, base=StrategyParams(),
           options=options, workers=workers, ray_address=ray_address)
    return GA_GENERATIONS / (time.perf_counter() - started)


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
    ga_local = bench_ga(1, None)
    ga_processes = bench_ga(2, None)
    try:
        ga_ray: float | None = bench_ga(2, "local")
    except ImportError:  # the optional ray extra is not installed
        ga_ray = None
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
        "ga_population": GA_POPULATION,
        "ga_generations_per_s_local": round(ga_local, 3),
        "ga_generations_per_s_local_2_processes": round(ga_processes, 3),
        "ga_generations_per_s_ray": None if ga_ray is None else round(ga_ray, 3),
        "ga_speedup_2_processes": round(ga_processes / ga_local, 2),
        "ga_speedup_ray": None if ga_ray is None else round(ga_ray / ga_local, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
