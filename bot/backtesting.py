"""`python run.py backtest` and Phase4Manager.run_backtest: history in, the replay, the report files out.

    run.py backtest --synthetic 6mo [--seed N] [--mode public|bundle] [--operator-reset-after S] [--out DIR]
                    [--config FILE]
    run.py backtest --history DIR [--from BLOCK --to BLOCK] ...

--synthetic generates a seeded synthetic history (labelled so in every report); --history reads a
history directory (blocks.parquet, events.parquet, meta.json: persistence.history's schema; import
CSV files with --blocks/--events/--meta). --config is a JSON file {"strategy": {...}, "options": {...}}
in the camelCase names of backtest.engine.StrategyParams and BacktestOptions. The report is written
as DIR/backtest.json (every figure) and DIR/backtest.html (self-contained, plots inlined).
--from/--to without --history is refused: ingest the range from a node first with
`run.py history fetch` (bot.history_cli), then replay its directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec
from tqdm import tqdm

from backtest.engine import BacktestOptions, StrategyParams, replay
from backtest.history import History, HistoryFileError
from backtest.report import to_html, to_json
from backtest.results import BacktestReport, build_report
from backtest.synthetic import generate, spec_for
from persistence.history import import_files, load

DEFAULT_OUT = "var/backtest"


class BacktestRequest(msgspec.Struct, frozen=True, rename="camel"):
    """Where the history comes from and where the report goes."""

    synthetic: str | None = "6mo"  # a duration (6mo, 30d, 2w, 5000b), unless history is given
    history: str | None = None  # a history directory
    first_block: int | None = None
    last_block: int | None = None
    synthetic_seed: int = 0
    out: str | None = DEFAULT_OUT  # None: no files


class BacktestSetupError(ValueError):
    """The request cannot be run as given (bad range, unbuilt source); nothing was replayed."""


def history_for(request: BacktestRequest) -> History:
    if request.history is not None:
        history = load(request.history)
    elif request.first_block is not None or request.last_block is not None:
        raise BacktestSetupError("--from/--to need --history DIR: ingest the range from a node first with "
                                 "`run.py history fetch --from N --to M ... --out DIR`")
    elif request.synthetic is not None:
        history = generate(spec_for(request.synthetic, request.synthetic_seed))
    else:
        raise BacktestSetupError("give --synthetic DURATION or --history DIR")
    if request.first_block is not None or request.last_block is not None:
        first = request.first_block if request.first_block is not None else int(history.block_number[0])
        last = request.last_block if request.last_block is not None else int(history.block_number[-1])
        if first > last or first > history.block_number[-1] or last < history.block_number[0]:
            raise BacktestSetupError(f"blocks {first}..{last} are outside the history "
                                     f"({history.block_number[0]}..{history.block_number[-1]})")
        history = history.window(first, last)
    return history


def run(strategy: StrategyParams, options: BacktestOptions, request: BacktestRequest,
        *, show_progress: bool = False) -> BacktestReport:
    history = history_for(request)
    bar = tqdm(total=history.blocks, unit="block", unit_scale=True, disable=not show_progress, file=sys.stderr)

    def progress(done: int) -> None:
        bar.update(done - bar.n)

    try:
        result = replay(history, strategy, options, progress)
    finally:
        bar.close()
    report = build_report(history, result, strategy, options)
    if request.out is not None:
        out = Path(request.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "backtest.json").write_bytes(to_json(report))
        (out / "backtest.html").write_text(to_html(report), encoding="utf-8")
    return report


def settings_from(strategy: Any, options: Any) -> tuple[StrategyParams, BacktestOptions, BacktestRequest]:
    """Accept the structs or plain dicts (camelCase): options holds BacktestOptions' and BacktestRequest's keys."""
    params = strategy if isinstance(strategy, StrategyParams) else msgspec.convert(strategy or {}, StrategyParams)
    if isinstance(options, BacktestOptions):
        return params, options, BacktestRequest()
    raw = dict(options or {})
    request_names = {f.encode_name for f in msgspec.structs.fields(BacktestRequest)}
    request = msgspec.convert({k: v for k, v in raw.items() if k in request_names}, BacktestRequest)
    opts = msgspec.convert({k: v for k, v in raw.items() if k not in request_names},
                           BacktestOptions)
    return params, opts, request


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run.py backtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--synthetic", metavar="DURATION", help="a seeded synthetic history: 6mo, 30d, 2w, 5000b")
    source.add_argument("--history", metavar="DIR", help="a history directory (persistence.history's files)")
    parser.add_argument("--blocks", help="import: a blocks .csv or .parquet file (with --events and --meta)")
    parser.add_argument("--events", help="import: an events .csv or .parquet file")
    parser.add_argument("--meta", help="import: the meta .json file")
    parser.add_argument("--from", dest="first", type=int, help="first block (inclusive)")
    parser.add_argument("--to", dest="last", type=int, help="last block (inclusive)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic history and competition draws (default 0)")
    parser.add_argument("--mode", choices=("public", "bundle"), default=None, help="how trades are sent")
    parser.add_argument("--operator-reset-after", type=float, metavar="SECONDS", default=None,
                        help="a stand-in operator resets an emergency stop this long after it fired (simulated "
                             "time; default: never, as live), counted in the report")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"report directory (default {DEFAULT_OUT})")
    parser.add_argument("--config", help='a JSON file {"strategy": {...}, "options": {...}}')
    args = parser.parse_args(argv)
    try:
        config: dict[str, Any] = {}
        if args.config:
            config = msgspec.json.decode(Path(args.config).read_bytes())
        strategy, options, _ = settings_from(config.get("strategy"), config.get("options"))
        options = msgspec.structs.replace(options, seed=args.seed, **({"mode": args.mode} if args.mode else {}))
        if args.operator_reset_after is not None:
            options = msgspec.structs.replace(options, operator_reset_after_s=args.operator_reset_after)
        history_dir = args.history
        if args.blocks or args.events or args.meta:
            if not (args.blocks and args.events and args.meta):
                raise BacktestSetupError("an import needs --blocks, --events and --meta")
            imported = import_files(args.blocks, args.events, args.meta)
            from persistence.history import save

            history_dir = str(save(imported, Path(args.out) / "history"))
        request = BacktestRequest(synthetic=args.synthetic or (None if history_dir else "6mo"), history=history_dir,
                                  first_block=args.first, last_block=args.last, synthetic_seed=args.seed,
                                  out=args.out)
        report = run(strategy, options, request, show_progress=True)
    except (BacktestSetupError, HistoryFileError, msgspec.DecodeError, msgspec.ValidationError, OSError) as exc:
        print(f"run.py backtest: {exc}", file=sys.stderr)
        return 2
    s = report.summary
    print(f"{report.data}")
    print(f"blocks {report.first_block}..{report.last_block}: {s.trades} trades, total return {s.total_return:.2%}, "
          f"Sharpe {s.sharpe_ratio}, max drawdown {s.max_drawdown:.2%} (daily returns, 365 a year)")
    print(f"report: {Path(args.out) / 'backtest.html'} and backtest.json")
    return 0
