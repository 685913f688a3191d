"""`python run.py optimize`: a genetic search over strategy parameters, validated walk-forward.

    run.py optimize [--synthetic 8d | --history DIR] [--folds 2] [--population 8] [--generations 3] [--seed 0]

The search is optuna's NSGA-II sampler (a well-kept multi-objective genetic algorithm: crossover and
mutation over mixed int / float / log-scale parameters, seeded, with the Pareto front kept for us)
maximising the training window's total return and minimising its max drawdown. From each fold's
Pareto front the trial with the best return per unit of drawdown is taken, then replayed on the next
window, which the search never saw (backtest.walkforward). Printed: the last fold's parameters, the
walk-forward (out-of-sample) score and the overfitting gap = mean in-sample - mean out-of-sample score.
Score = total return / max(max drawdown, 1 %).

Each generation's population is asked from the sampler at once and replayed in parallel: in this
process (--workers 1), over local processes (--workers N, concurrent.futures), or over Ray when
--ray-address is given (`local` starts a local instance; Ray is the optional `ray` extra). The
results are told back in trial order, so the search is the same, trial for trial, however it runs.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import multiprocessing
import sys
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import optuna

from backtest.engine import BacktestOptions, StrategyParams, replay
from backtest.history import History
from backtest.results import build_report
from backtest.walkforward import Fold, folds
from bot.backtesting import BacktestRequest, BacktestSetupError, history_for

MIN_DRAWDOWN = 0.01  # the score's floor on drawdown: a curve without one is not infinitely good


class FoldResult(msgspec.Struct, frozen=True, rename="camel"):
    fold: Fold
    params: dict[str, Any]
    in_sample_score: float
    out_of_sample_score: float
    trials: int


class Optimisation(msgspec.Struct, frozen=True, rename="camel"):
    best_params: dict[str, Any]
    walk_forward_score: float
    in_sample_score: float
    overfitting_gap: float
    folds: tuple[FoldResult, ...]


def strategy_from(params: dict[str, Any], base: StrategyParams) -> StrategyParams:
    limits = msgspec.structs.replace(base.limits, max_position_size=params["max_position_size"],
                                     max_gas_share=params["max_gas_share"],
                                     max_consecutive_losses=params["max_consecutive_losses"])
    return msgspec.structs.replace(base, min_net_profit_wei=params["min_net_profit_wei"], max_hops=params["max_hops"],
                                   priority_fee_wei=params["priority_fee_wei"], limits=limits)


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "min_net_profit_wei": trial.suggest_int("min_net_profit_wei", 1, 10**16, log=True),
        "max_hops": trial.suggest_int("max_hops", 2, 3),
        "max_position_size": trial.suggest_float("max_position_size", 0.05, 1.0),
        "priority_fee_wei": trial.suggest_int("priority_fee_wei", 10**8, 5 * 10**9, log=True),
        "max_gas_share": trial.suggest_float("max_gas_share", 0.3, 0.95),
        "max_consecutive_losses": trial.suggest_int("max_consecutive_losses", 2, 10),
    }


def evaluate(history: History, strategy: StrategyParams, options: BacktestOptions) -> tuple[float, float]:
    """(total return, max drawdown) of one replay."""
    s = build_report(history, replay(history, strategy, options), strategy, options).summary
    return s.total_return, s.max_drawdown


def score(total_return: float, max_drawdown: float) -> float:
    return total_return / max(max_drawdown, MIN_DRAWDOWN)


Batch = Callable[[list[dict[str, Any]]], list[tuple[float, float]]]
_WINDOW: tuple[History, StrategyParams, BacktestOptions] | None = None  # a worker process's training window


def _init_worker(history: History, base: StrategyParams, options: BacktestOptions) -> None:
    global _WINDOW
    _WINDOW = (history, base, options)


def _evaluate_in_worker(params: dict[str, Any]) -> tuple[float, float]:
    assert _WINDOW is not None
    history, base, options = _WINDOW
    return evaluate(history, strategy_from(params, base), options)


@contextlib.contextmanager
def evaluator(history: History, base: StrategyParams, options: BacktestOptions, *, workers: int = 1,
              ray_address: str | None = None) -> Iterator[Batch]:
    """A function replaying a batch of parameter sets on `history`, results in order."""
    if ray_address is not None:
        import ray

        started = not ray.is_initialized()
        if started:
            ray.init(address=None if ray_address == "local" else ray_address,
                     num_cpus=workers if ray_address == "local" else None, include_dashboard=False,
                     log_to_driver=False)
        window = ray.put((history, base, options))
        remote = ray.remote(_evaluate_remote)
        try:
            yield lambda batch: ray.get([remote.remote(window, p) for p in batch])
        finally:
            if started:
                ray.shutdown()
    elif workers > 1:
        context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                                    initargs=(history, base, options)) as pool:
            yield lambda batch: list(pool.map(_evaluate_in_worker, batch))
    else:
        yield lambda batch: [evaluate(history, strategy_from(p, base), options) for p in batch]


def _evaluate_remote(window: tuple[History, StrategyParams, BacktestOptions],
                     params: dict[str, Any]) -> tuple[float, float]:
    history, base, options = window
    return evaluate(history, strategy_from(params, base), options)


def search(history: History, *, population: int, generations: int, seed: int, base: StrategyParams,
           options: BacktestOptions, workers: int = 1, ray_address: str | None = None) -> optuna.Study:
    """NSGA-II on one window: `generations` batches of `population` replays, told back in trial order."""
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    with evaluator(history, base, options, workers=workers, ray_address=ray_address) as run_batch:
        for _generation in range(generations):
            trials = [study.ask() for _ in range(population)]
            batch = [suggest(t) for t in trials]
            for trial, values in zip(trials, run_batch(batch)):
                study.tell(trial, values)
    return study


def optimise(history: History, *, fold_count: int = 2, population: int = 8, generations: int = 3, seed: int = 0,
             base: StrategyParams = StrategyParams(), options: BacktestOptions = BacktestOptions(),  # noqa: B008
             windows_seen: list[tuple[str, int, int]] | None = None, workers: int = 1,
             ray_address: str | None = None) -> Optimisation:
    """Walk-forward NSGA-II; windows_seen (if given) records every (role, first, last) block window replayed."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    options = msgspec.structs.replace(options, monte_carlo_paths=10)  # the search reads the summary only
    results = []
    for k, fold in enumerate(folds(int(history.block_number[0]), int(history.block_number[-1]), fold_count)):
        train = history.window(fold.train_first, fold.train_last)
        test = history.window(fold.test_first, fold.test_last)

        if windows_seen is not None:
            windows_seen.extend(("train", fold.train_first, fold.train_last) for _ in range(population * generations))
        study = search(train, population=population, generations=generations, seed=seed + k, base=base,
                       options=options, workers=workers, ray_address=ray_address)
        best = max(study.best_trials, key=lambda t: (score(*t.values), -t.number))
        if windows_seen is not None:
            windows_seen.append(("test", fold.test_first, fold.test_last))
        test_return, test_drawdown = evaluate(test, strategy_from(best.params, base), options)
        results.append(FoldResult(fold, dict(best.params), score(*best.values), score(test_return, test_drawdown),
                                  len(study.trials)))
    in_sample = sum(r.in_sample_score for r in results) / len(results)
    out_of_sample = sum(r.out_of_sample_score for r in results) / len(results)
    return Optimisation(results[-1].params, out_of_sample, in_sample, in_sample - out_of_sample, tuple(results))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run.py optimize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--synthetic", metavar="DURATION", default=None, help="seeded synthetic history (default 8d)")
    source.add_argument("--history", metavar="DIR")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="parallel replays (local processes, or Ray CPUs)")
    parser.add_argument("--ray-address", help="a Ray cluster address, or `local` to start a local Ray instance")
    args = parser.parse_args(argv)
    try:
        history = history_for(BacktestRequest(synthetic=args.synthetic or (None if args.history else "8d"),
                                              history=args.history, synthetic_seed=args.seed, out=None))
        result = optimise(history, fold_count=args.folds, population=args.population,
                          generations=args.generations, seed=args.seed, workers=args.workers,
                          ray_address=args.ray_address)
    except (BacktestSetupError, ValueError, OSError) as exc:
        print(f"run.py optimize: {exc}", file=sys.stderr)
        return 2
    if history.meta.synthetic:
        print(history.meta.synthetic)
    print(msgspec.json.format(msgspec.json.encode({
        "bestParams": result.best_params, "walkForwardScore": result.walk_forward_score,
        "inSampleScore": result.in_sample_score, "overfittingGap": result.overfitting_gap,
        "folds": result.folds})).decode())
    return 0
