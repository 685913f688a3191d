"""Console commands of the monitoring service: `trace ID`, `traces --slow N | --failed N`, `errors [FP]`."""

from __future__ import annotations

import argparse
import datetime
from typing import Any

import msgspec

from actors.monitor import MONITOR_PATH, GetErrors
from console.registry import CommandError, count_of
from console.wire import Table
from monitoring import tracing
from supervision import Handle

ASK_TIMEOUT_S = 5.0


def _store() -> tracing.TraceStore:
    store = tracing.store()
    if store is None:
        raise CommandError("tracing is off (TRACING=false): no traces are kept")
    return store


def _when(ns: int) -> str:
    return datetime.datetime.fromtimestamp(ns / 1e9, datetime.UTC).strftime("%H:%M:%S.%f")[:-3]


def trace(args: argparse.Namespace) -> Table:
    spans = _store().timeline(args.trace_id)
    if not spans:
        raise CommandError(f"no trace {args.trace_id!r} in the store (it keeps the last "
                           f"{_store().max_traces}); `traces --slow 10` lists some")
    t0 = spans[0].start_ns
    rows: list[list[Any]] = []
    for s in spans:
        attrs = " ".join(f"{k}={v}" for k, v in sorted(s.attributes.items()))
        rows.append([s.name, f"+{(s.start_ns - t0) / 1e6:.1f}", f"{s.duration_ms:.2f}", "ERROR" if s.error else "",
                     attrs])
    return Table(columns=["STAGE", "AT MS", "TOOK MS", "", "ATTRIBUTES"], rows=rows,
                 title=f"trace {args.trace_id}: {len(spans)} spans from {_when(t0)} UTC")


def traces(args: argparse.Namespace) -> Table:
    store = _store()
    if args.failed is not None:
        found, title = store.failed(args.failed), f"the {args.failed} most recent failed traces"
    else:
        n = args.slow if args.slow is not None else 10
        found, title = store.slowest(n), f"the {n} slowest traces"
    rows = [[s.trace_id, _when(s.started_ns), f"{s.duration_ms:.1f}", s.spans, s.last] for s in found]
    return Table(columns=["TRACE", "STARTED", "MS", "SPANS", "ENDED IN"], rows=rows,
                 title=f"{title} (of {len(store)} kept)")


def errors(args: argparse.Namespace) -> Any:
    answer = Handle(MONITOR_PATH).ask(GetErrors(args.fingerprint), timeout=ASK_TIMEOUT_S)
    if args.fingerprint:
        if answer is None:
            raise CommandError(f"no error with fingerprint {args.fingerprint!r}; `errors` lists them")
        return msgspec.to_builtins(answer)
    rows = [[g.fingerprint, g.count, _when(int(g.first_seen * 1e9)), _when(int(g.last_seen * 1e9)), g.actor,
             g.exc_type or "-", g.pattern[:60]] for g in answer]
    return Table(columns=["FINGERPRINT", "COUNT", "FIRST", "LAST", "ACTOR", "TYPE", "MESSAGE"], rows=rows,
                 title=f"{len(rows)} distinct errors; `errors FINGERPRINT` shows one with its example")


def register_monitor_commands(registry: Any) -> None:
    p = argparse.ArgumentParser(prog="trace", description="One opportunity's trace: each stage, its duration and "
                                                          "attributes.")
    p.add_argument("trace_id", help="the opportunity's trace id (in its log lines)")
    registry.register_command("trace", p, trace)
    p = argparse.ArgumentParser(prog="traces", description="The slowest or the most recent failed traces.")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--slow", type=count_of("traces"), metavar="N", help="the N slowest (default 10)")
    group.add_argument("--failed", type=count_of("traces"), metavar="N", help="the N most recent that failed")
    registry.register_command("traces", p, traces)
    p = argparse.ArgumentParser(prog="errors", description="Errors by fingerprint: count, first and last seen.")
    p.add_argument("fingerprint", nargs="?", help="one fingerprint (a prefix will do): its example and trace id")
    registry.register_command("errors", p, errors)
