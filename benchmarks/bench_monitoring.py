"""What the monitoring service costs: a log call, a span, a durable audit append, tracing on the hot path.

- log_call_us: the caller's cost of one structured log call (a bound extra field) to the bot's real
  sinks (bot.logging: patcher with redaction and the JSON line, the queued file sink), median and p99;
  log_lines_per_s: lines the file sink writes per second (N lines from the first call until the
  enqueued sink has written the last; the file is read back and counted).
- span_us: one stage span (start + end) through the OTel SDK into the in-memory trace store.
- audit_append_us: one durable append to the audit trail on this machine's disk, as the caller waits
  for it (median, p99), with appends/s and fsyncs per append; by one writer and by 8 threads appending
  at once, each with the product's group commit (appends written during an fsync share the next one)
  and with the former one-fsync-per-append path (write + fsync under the lock, `fsync_each`, kept here
  as the baseline) in the same run on the same disk, in alternating batches.
- trace_overhead: the strategy benchmark's 1,000-pool head-to-decision (MarketGraph.update of every
  pool + scan + the pick of what is handed off, with each picked opportunity's trace opened: its root
  span, whose trace id is the opportunity's id) p50 with tracing on / off (`ratio`, target <= 1.05);
  then, as the strategy does around the hand-off, each `detected` span is started and ended:
  `ratio_with_spans` is the same p50 ratio up to the last span, the whole handler's cost of tracing.
  Blocks alternate on and off so drift hits both alike.

Prints one JSON object. Usage: python benchmarks/bench_monitoring.py [--quick]
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
from loguru import logger
from opentelemetry.sdk.trace import TracerProvider

from amm import BlockContext, GasPolicy, MarketGraph, PriceBook, scan
from amm.selection import pick
from bot.logging import setup_logging
from devnet.synthetic_pools import WETH, next_block, synthetic_market
from monitoring import audit, tracing, trade_stages
from persistence.audit_trail import AuditTrail, plain

TRACE_TARGET = 1.05


def q(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def bench_logging(directory: Path, lines: int) -> dict[str, float]:
    path = directory / "bench.jsonl"
    sink = setup_logging("INFO", json_path=path, stderr=False)
    assert sink is not None
    log = logger.bind(actor="/bench")
    costs = []
    started = time.perf_counter()
    for i in range(lines):
        t = time.perf_counter_ns()
        log.bind(seq=i, trace_id="ab" * 16).info("opportunity at block {}: {} hops", i, 2)
        costs.append((time.perf_counter_ns() - t) / 1e3)
    sink.drain(60.0)  # the writer thread has written the last line
    elapsed = time.perf_counter() - started
    logger.remove()
    written = sum(1 for _ in path.open("rb"))
    assert written == lines, f"{written} of {lines} lines written"
    return {"log_call_us": round(statistics.median(costs), 2), "log_call_p99_us": round(q(costs, 0.99), 2),
            "log_lines_per_s": round(lines / elapsed)}


def install_tracing() -> TracerProvider:
    provider = TracerProvider()
    store = tracing.TraceStore()
    provider.add_span_processor(tracing.StoreProcessor(store))
    tracing.install(provider.get_tracer("bench"), store)
    return provider


def bench_spans(n: int) -> dict[str, float]:
    provider = install_tracing()
    attributes = {"pools": ["0x" + "ab" * 20, "0x" + "cd" * 20], "block": 123, "size": str(10**18)}
    costs = []
    for _ in range(n):
        trace_id = tracing.open_trade(time.time_ns())
        root = tracing.root_span_id(trace_id)
        t = time.perf_counter_ns()
        tracing.end_stage(tracing.start_stage(trace_id, "detected", root, None, attributes))
        costs.append((time.perf_counter_ns() - t) / 1e3)
        tracing.end_trade(trace_id, "included")
    tracing.install(None)
    provider.shutdown()
    return {"span_us": round(statistics.median(costs), 2), "span_p99_us": round(q(costs, 0.99), 2)}


AUDIT_BODY = {"opportunity": "ab" * 16, "approved": True, "reasons": [], "size_offered": 1234.5,
              "size_approved": 1000.0, "max_loss": 4.5, "score": 0.16}


def append_fsync_each(trail: AuditTrail, kind: str, body: Any, actor: str, trace_id: str) -> audit.AuditRecord:
    """The baseline: the trail's append as it was before group commit, one fsync per record, under the lock."""
    data = plain(body)
    with trail._lock, trail._flock():
        trail._sync_tail(recover=False)
        now = trail.clock()
        if trail._fd is None or trail._size >= trail.segment_bytes or now - trail._opened_at >= trail.segment_s:
            trail._rotate(now)
        record = trail._write(kind, data, actor, trace_id, now)
        assert trail._fd is not None
        os.fsync(trail._fd)
        return record


def group_commit(trail: AuditTrail, kind: str, body: Any, actor: str, trace_id: str) -> audit.AuditRecord:
    return trail.append(kind, body, actor=actor, trace_id=trace_id)


class FsyncCount:
    """os.fsync, counted (to show how many appends share one)."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = os.fsync

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.real(fd)


class AuditRun:
    """One way of appending (`append`) by `writers` threads at once, measured over batches."""

    def __init__(self, directory: Path, append: Callable[..., audit.AuditRecord], writers: int) -> None:
        self.trail = AuditTrail(directory)
        self.trail.append("config", {})  # the segment is created outside the measurement
        self.append, self.writers = append, writers
        self.costs: list[float] = []
        self.elapsed = 0.0
        self.fsyncs = 0

    def batch(self, n: int) -> None:
        """`n` appends, `n // writers` by each thread, all released at once: each caller's wait is kept."""
        costs: list[list[float]] = [[] for _ in range(self.writers)]
        start = threading.Barrier(self.writers + 1)

        def writer(i: int) -> None:
            mine = costs[i]
            start.wait()
            for _ in range(n // self.writers):
                t = time.perf_counter_ns()
                self.append(self.trail, "risk_decision", AUDIT_BODY, f"/risk-book/{i}", "ab" * 16)
                mine.append((time.perf_counter_ns() - t) / 1e3)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(self.writers)]
        for t in threads:
            t.start()
        counter = FsyncCount()
        os.fsync = counter  # type: ignore[assignment]  # both paths call os.fsync through the module
        try:
            started = time.perf_counter()
            start.wait()
            for t in threads:
                t.join()
            self.elapsed += time.perf_counter() - started
        finally:
            os.fsync = counter.real
        self.fsyncs += counter.calls
        self.costs.extend(c for mine in costs for c in mine)

    def result(self) -> dict[str, float]:
        self.trail.close()
        every = self.costs
        return {"median": round(statistics.median(every), 1), "p99": round(q(every, 0.99), 1),
                "appends_per_s": round(len(every) / self.elapsed),
                "fsyncs_per_append": round(self.fsyncs / len(every), 3), "appends": len(every)}


def bench_audit(directory: Path, n: int, writers: int = 8, rounds: int = 10) -> dict[str, object]:
    """Group commit and the fsync-per-append baseline, batches alternating so the disk's drift (other
    processes' I/O) hits both alike."""
    out: dict[str, object] = {}
    for label, count in (("single_writer", 1), (f"writers_{writers}", writers)):
        runs = {name: AuditRun(directory / f"audit-{label}-{name}", append, count)
                for name, append in (("group_commit", group_commit), ("fsync_each", append_fsync_each))}
        for r in range(rounds):
            order = list(runs.values())
            for run in order if r % 2 == 0 else reversed(order):  # neither always goes first
                run.batch(n // rounds)
        out[label] = {name: run.result() for name, run in runs.items()}
    return out


def bench_trace_overhead(blocks: int) -> dict[str, object]:
    pools = synthetic_market(1_000, seed=1_000, spread=0.005)
    graph = MarketGraph.build(pools, weth=WETH)
    heads = [next_block(pools, seed=1_000 + b) for b in range(blocks)]
    policy, prices = GasPolicy(), PriceBook(eth_value=3_000.0)
    provider = install_tracing()
    tracer = tracing.tracer()
    store = tracing.store()
    on: list[float] = []
    off: list[float] = []
    on_spans: list[float] = []
    off_spans: list[float] = []
    handed = 0
    for number, changed in enumerate(heads):
        traced = number % 2 == 1
        tracing.install(tracer if traced else None, store)
        block = BlockContext(number=number, base_fee_wei=10**9)
        gc.disable()
        started = time.perf_counter()
        graph = graph.update(changed)
        result = scan(graph, policy, prices, block, detected_at=time.time())
        chosen = [msgspec.structs.replace(o, id=trade_stages.open_trade(o))
                  for o in pick(result.opportunities, 4).opportunities]
        decided = time.perf_counter()
        stages = [trade_stages.detecting(opp) for opp in chosen]
        for stage in stages:
            trade_stages.detected(stage)
        handed += len(chosen)
        (on if traced else off).append((decided - started) * 1e3)
        (on_spans if traced else off_spans).append((time.perf_counter() - started) * 1e3)
        tracing.end_open_trades("included")  # the executor's part, not the strategy's handler
        gc.enable()
    tracing.install(None)
    provider.shutdown()
    ratio = statistics.median(on) / statistics.median(off)
    with_spans = statistics.median(on_spans) / statistics.median(off_spans)
    return {"ratio": round(ratio, 4), "p50_on_ms": round(statistics.median(on), 3),
            "p50_off_ms": round(statistics.median(off), 3), "ratio_with_spans": round(with_spans, 4),
            "p50_with_spans_on_ms": round(statistics.median(on_spans), 3),
            "p50_with_spans_off_ms": round(statistics.median(off_spans), 3),
            "blocks": blocks, "handed": handed,
            "target_max": TRACE_TARGET, "met": ratio <= TRACE_TARGET}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        logs = bench_logging(directory, 20_000 if quick else 100_000)
        spans = bench_spans(5_000 if quick else 50_000)
        audit = bench_audit(directory, 300 if quick else 2_000)
    overhead = bench_trace_overhead(40 if quick else 300)
    print(json.dumps({
        "benchmark": "monitoring",
        **logs,
        **spans,
        "audit_append_us": audit,
        "trace_overhead": overhead,
        "disk": "the temporary directory's filesystem (fsync is real on it)",
        "load_average_1m": round(os.getloadavg()[0], 2),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
