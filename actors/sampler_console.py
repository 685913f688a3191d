"""Console commands of the sampler: `perf` (SLO table with budgets, grade, top bottleneck), `perf --watch`
(redrawn by the client), `perf profile SECONDS` (the sampling profiler: hottest functions per actor),
`perf threads` (every OS thread of the process under its label, with its CPU share) and `health`
(every component's status and reasons).

They read /sampler's published snapshot and the tree directly (no mailbox hop), so they answer while
an actor is stalled. `perf profile` runs the profiler in the console's worker thread for its duration.
"""

from __future__ import annotations

import argparse
from typing import Any

import msgspec
import psutil

from console.registry import CommandError
from console.wire import Table
from performance.report import SLO_COLUMNS, perf_title, slo_row
from probes.health import health_check
from probes.profiler import MAX_SECONDS, BadProfileRequest, ProfileBusy, profile
from probes.threads import thread_labels
from protocol.performance import PerfSnapshot
from supervision import Handle

SAMPLER_PATH = "/sampler"
PROFILE_COLUMNS = ["THREAD", "CPU", "IDLE", "FUNCTION", "SELF", "TOTAL"]
PROFILE_TOP = 5
THREAD_COLUMNS = ["THREAD", "NATIVE ID", "CPU"]
#: A thread that used less CPU than this during the profile is left out of the table.
QUIET_CPU_SHARE = 0.005


def perf(args: argparse.Namespace) -> Any:
    if args.action == "profile":
        return profile_table(args.seconds)
    if args.action == "threads":
        return threads_table()
    snap = Handle(SAMPLER_PATH).snapshot()
    if not isinstance(snap, PerfSnapshot):
        raise CommandError(f"no performance snapshot: is {SAMPLER_PATH} running? (`tree` shows it)")
    return Table(columns=SLO_COLUMNS, rows=[slo_row(s) for s in snap.slos], title=perf_title(snap))


def profile_table(seconds: Any) -> Table:
    if seconds is None:
        raise CommandError("perf profile needs a duration: `perf profile 10`")
    try:
        report = profile(seconds, top=PROFILE_TOP)
    except (BadProfileRequest, ProfileBusy) as exc:
        raise CommandError(str(exc)) from None
    rows: list[list[Any]] = []
    for t in report.threads:
        if t.idle_share >= 1.0 or (t.cpu_share is not None and t.cpu_share < QUIET_CPU_SHARE):
            continue  # parked for the whole profile: nothing to show
        for i, fn in enumerate(t.hottest or ()):
            first = i == 0
            rows.append([t.thread if first else "", (f"{t.cpu_share:.1%}" if t.cpu_share is not None else None)
                         if first else "", f"{t.idle_share:.0%}" if first else "", fn.function,
                         f"{fn.self_share:.1%}", f"{fn.total_share:.1%}"])
    return Table(columns=PROFILE_COLUMNS, rows=rows,
                 title=f"{report.ticks} samples of every thread over {report.duration_s:g} s (the profiler used "
                       f"{report.profiler_cpu_share or 0:.1%} of a core and held the GIL "
                       f"{report.profiler_gil_share or 0:.1%} of the time, {report.profiler_tick_us or 0:g} us a "
                       "sample); CPU: share of one core; SELF: innermost "
                       "frame, TOTAL: anywhere on the stack; idle threads left out")


def threads_table() -> Table:
    """Every OS thread now: an actor's under its path, a Python thread under its name, a thread Python
    does not know (a native library's) as `tid:<id>`; CPU is the sampler's last per-label share."""
    _, by_native = thread_labels()
    snap = Handle(SAMPLER_PATH).snapshot()
    cpu = snap.system.thread_cpu_pct if isinstance(snap, PerfSnapshot) and snap.system is not None else {}
    rows = []
    for t in psutil.Process().threads():
        label = by_native.get(t.id, f"tid:{t.id}")
        share = cpu.get(label)
        rows.append([label, t.id, None if share is None else f"{share:.1f}%"])
    rows.sort(key=lambda r: (not str(r[0]).startswith("/"), str(r[0])))
    return Table(columns=THREAD_COLUMNS, rows=rows, title=f"{len(rows)} threads (actors by path, then the others; "
                 "CPU: share of one core at the sampler's last tick, shared by threads of one name)")


def health(args: argparse.Namespace) -> Any:
    check = health_check()
    return msgspec.to_builtins(check)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r}: a profile lasts more than 0 and at most {MAX_SECONDS:g} s")
    return value


def register_sampler_commands(registry: Any) -> None:
    p = argparse.ArgumentParser(prog="perf", description="SLOs with their error budgets, the grade and the top "
                                "bottleneck; `perf profile SECONDS` samples every thread's stack; "
                                "`perf threads` lists the threads.")
    p.add_argument("action", nargs="?", choices=["profile", "threads"],
                   help="profile: run the sampling profiler; threads: list every thread of the process")
    p.add_argument("seconds", nargs="?", type=_seconds, help=f"profile duration, at most {MAX_SECONDS:g} s")
    p.add_argument("--watch", "-w", action="store_true", help="refresh every second (handled by the client)")
    registry.register_command("perf", p, perf)
    h = argparse.ArgumentParser(prog="health", description="Every component's health with its reasons.")
    registry.register_command("health", h, health)
