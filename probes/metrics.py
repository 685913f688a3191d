"""The sampler's figures as Prometheus series, exported at scrape time from what the sampler holds.

The sampler actor is the single writer: after each drain it adds the stage durations to the bucket
counts here (`observe_stages`) and hands over its latest snapshot (`update`); a scrape reads them as
they stand, and the GC series straight from probes.gc_watch. Nothing is paid per measurement on a
caller's thread.

    arbiter_stage_duration_seconds{stage}                  histogram of every measured stage
    arbiter_slo_error_budget_remaining_ratio{slo}          1 untouched, 0 spent, < 0 overspent
    arbiter_slo_compliance_ratio{slo,window}               good share over 5m / 30m / 1h / 6h
    arbiter_slo_burn_rate_ratio{slo,window}                bad share / allowed bad share
    arbiter_actor_mailbox_depth{actor}                     queued messages
    arbiter_actor_mailbox_oldest_age_seconds{actor}        age of the oldest queued message (0 when empty)
    arbiter_io_loop_lag_seconds                            the io loop's largest timer drift in the last tick
    arbiter_thread_cpu_ratio{actor}                        share of one core, per actor thread (or thread name)
    arbiter_process_cpu_ratio                              share of one core, the whole process
    arbiter_process_resident_memory_bytes                  RSS
    arbiter_gc_collections_total{generation}               collections
    arbiter_gc_pause_seconds{generation}                   histogram of GC pauses
    arbiter_performance_grade                              A=5, B=4, C=3, D=2, F=0
"""

from __future__ import annotations

import gc
import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from performance.recorder import Entry
from probes.gc_watch import GC_WATCH, PAUSE_BUCKETS_S, GcWatch
from protocol.performance import PerfSnapshot

STAGE_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
GRADE_VALUE = {"A": 5, "B": 4, "C": 3, "D": 2, "E": 1, "F": 0}


def window_label(seconds: int) -> str:
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"


def _histogram(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, float]]:
    running = 0
    out: list[tuple[str, float]] = []
    for bound, count in zip((*bounds, float("inf")), counts):
        running += count
        out.append(("+Inf" if bound == float("inf") else repr(bound), running))
    return out


class SamplerMetrics(Collector):
    def __init__(self, gc_watch: GcWatch = GC_WATCH) -> None:
        self.gc_watch = gc_watch
        self.stages: dict[str, tuple[list[int], list[float]]] = {}  # name -> (bucket counts, [sum])
        self.snapshot: PerfSnapshot | None = None
        self._lock = threading.Lock()  # a new stage name vs a scrape iterating the dict

    def observe_stages(self, entries: Iterable[Entry]) -> None:
        for name, duration_ns, _ok, _meta, _end in entries:
            stage = self.stages.get(name)
            if stage is None:
                with self._lock:
                    stage = self.stages[name] = ([0] * (len(STAGE_BUCKETS_S) + 1), [0.0])
            seconds = duration_ns / 1e9
            if seconds < 0:
                continue
            stage[0][bisect_left(STAGE_BUCKETS_S, seconds)] += 1
            stage[1][0] += seconds

    def update(self, snapshot: PerfSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        stages = HistogramMetricFamily("arbiter_stage_duration_seconds",
                                       "Duration of each measured stage (RPC call, trade stages, end to end)",
                                       labels=["stage"])
        with self._lock:
            items = list(self.stages.items())
        for name, (counts, total) in items:
            stages.add_metric([name], _histogram(STAGE_BUCKETS_S, list(counts)), total[0])
        yield stages
        yield from self._gc()
        # Every family is declared on every scrape, with samples once the sampler has them: a dashboard
        # or a rule over a family never finds it missing because the bot only just started.
        snap = self.snapshot
        budget = GaugeMetricFamily("arbiter_slo_error_budget_remaining_ratio",
                                   "Error budget left over the budget period: 1 untouched, 0 spent, below 0 overspent",
                                   labels=["slo"])
        compliance = GaugeMetricFamily("arbiter_slo_compliance_ratio", "Share of good events over the window",
                                       labels=["slo", "window"])
        burn = GaugeMetricFamily("arbiter_slo_burn_rate_ratio", "Bad-event share over the window / allowed bad share",
                                 labels=["slo", "window"])
        depth = GaugeMetricFamily("arbiter_actor_mailbox_depth", "Messages queued in the actor's mailbox",
                                  labels=["actor"])
        age = GaugeMetricFamily("arbiter_actor_mailbox_oldest_age_seconds",
                                "Age of the oldest message queued in the actor's mailbox (0 when empty)",
                                labels=["actor"])
        io_lag = GaugeMetricFamily("arbiter_io_loop_lag_seconds",
                                   "Largest timer drift of the shared io loop since the previous sample")
        threads = GaugeMetricFamily("arbiter_thread_cpu_ratio",
                                    "CPU used by each actor's thread (or named thread), as a share of one core",
                                    labels=["actor"])
        process_cpu = GaugeMetricFamily("arbiter_process_cpu_ratio", "CPU used by the process, as a share of one core")
        rss = GaugeMetricFamily("arbiter_process_resident_memory_bytes", "Resident set size of the process")
        grade = GaugeMetricFamily("arbiter_performance_grade",
                                  "The sampler's performance grade as a number: A=5, B=4, C=3, D=2, F=0")
        if snap is not None:
            for slo in snap.slos:
                if slo.budget_remaining is not None:
                    budget.add_metric([slo.name], slo.budget_remaining)
                for w in slo.windows:
                    if w.compliance is not None:
                        compliance.add_metric([slo.name, window_label(w.window_s)], w.compliance)
                    if w.burn_rate is not None:
                        burn.add_metric([slo.name, window_label(w.window_s)], w.burn_rate)
            for lag in snap.actors:
                depth.add_metric([lag.path], lag.mailbox_depth)
                age.add_metric([lag.path], lag.oldest_message_age_s or 0.0)
            if snap.io_loop_lag_ms is not None:
                io_lag.add_metric([], snap.io_loop_lag_ms / 1000)
            system = snap.system
            if system is not None:
                for label, pct in sorted(system.thread_cpu_pct.items()):
                    threads.add_metric([label], pct / 100)
                process_cpu.add_metric([], system.process_cpu_pct / 100)
                rss.add_metric([], system.rss_bytes)
            grade.add_metric([], GRADE_VALUE.get(snap.grade, 0))
        yield from (budget, compliance, burn, depth, age, io_lag, threads, process_cpu, rss, grade)

    def _gc(self) -> Iterator[Metric]:
        watch = self.gc_watch
        collections = CounterMetricFamily("arbiter_gc_collections", "Garbage collections, by generation",
                                          labels=["generation"])
        pauses = HistogramMetricFamily("arbiter_gc_pause_seconds", "Garbage collection pauses, by generation",
                                       labels=["generation"])
        for gen, stats in enumerate(gc.get_stats()):  # since the process started, not since the watch
            collections.add_metric([str(gen)], stats["collections"])
        for gen in range(len(watch.collections)):
            pauses.add_metric([str(gen)], _histogram(PAUSE_BUCKETS_S, list(watch.buckets[gen])),
                              watch.pause_sum_s[gen])
        yield from (collections, pauses)


SAMPLER_METRICS = SamplerMetrics()
REGISTRY.register(SAMPLER_METRICS)
