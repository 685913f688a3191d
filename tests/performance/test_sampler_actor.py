"""The /sampler actor in a real tree: mailbox lag of a stalled actor, per-thread CPU of a spinning one,
GC pauses, real stage measurements drained from other threads, and the published snapshot."""

from __future__ import annotations

import gc
import threading
import time

from performance import recorder
from probes.gc_watch import GC_WATCH
from protocol.performance import PerfSnapshot
from supervision import Handle
from tests.performance.actors import Work
from tests.performance.conftest import SampledTree
from tests.waiting import wait_until

SAMPLER = Handle("/sampler")
WAIT_S = 20.0


def snapshot() -> PerfSnapshot | None:
    snap = SAMPLER.snapshot()
    return snap if isinstance(snap, PerfSnapshot) else None


def test_a_stalled_actor_s_mailbox_lag_is_measured_and_named_the_bottleneck(sampled_tree: SampledTree) -> None:
    stalled = Handle("/stalled")
    stalled.tell(Work(0))
    assert sampled_tree.stalled_entered.wait(WAIT_S)
    before = time.time()
    for n in range(1, 6):
        stalled.tell(Work(n))
    after = time.time()

    def lagging() -> PerfSnapshot | None:
        snap = snapshot()
        if snap is None or not any(f.rule == "mailbox_growing" and f.subject == "/stalled" for f in snap.findings):
            return None
        return snap

    snap = wait_until(lagging, WAIT_S, "the bottleneck finder to name /stalled")
    lag = next(a for a in snap.actors if a.path == "/stalled")
    assert lag.mailbox_depth == 5
    assert lag.oldest_message_age_s is not None
    # the age is measured at the snapshot's own time from the first queued message's sent_at
    assert snap.at - after <= lag.oldest_message_age_s <= snap.at - before
    finding = next(f for f in snap.findings if f.subject == "/stalled")
    assert "shorten its handler" in finding.recommendation
    assert snap.grade != "A"  # a standing finding alone makes it a B at best
    others = [a for a in snap.actors if a.path not in ("/stalled", "/spinner")]
    assert others and all(a.mailbox_depth <= 1 for a in others), others


def test_a_spinning_thread_is_named_by_its_actor_path(sampled_tree: SampledTree) -> None:
    Handle("/spinner").tell(Work())
    assert sampled_tree.spinner_entered.wait(WAIT_S)

    def spinning() -> PerfSnapshot | None:
        snap = snapshot()
        if snap is None or snap.system is None:
            return None
        cpu = snap.system.thread_cpu_pct
        actors = {path: pct for path, pct in cpu.items() if path.startswith("/")}
        return snap if actors and max(actors, key=actors.__getitem__) == "/spinner" and cpu["/spinner"] > 30 else None

    snap = wait_until(spinning, WAIT_S, "per-thread CPU to name /spinner")
    assert snap.system is not None
    assert snap.system.process_cpu_pct >= snap.system.thread_cpu_pct["/spinner"] * 0.9
    sampled_tree.stop_spinning.set()


def test_a_forced_collection_is_recorded_with_its_pause(sampled_tree: SampledTree) -> None:
    assert GC_WATCH.installed, "the sampler installs the GC watch when it starts"
    full_before = GC_WATCH.collections[2]
    started = time.perf_counter()
    gc.collect()
    elapsed = time.perf_counter() - started
    assert GC_WATCH.collections[2] == full_before + 1
    pause = GC_WATCH.recent[-1]
    assert 0 < pause <= elapsed
    snap = wait_until(lambda: (s := snapshot()) and s.gc and s.gc.collections[2] >= full_before + 1 and s,
                      WAIT_S, "the snapshot to show the collection")
    assert snap.gc.pause_max_ms is not None and snap.gc.pause_max_ms >= pause * 1000 * 0.999


def test_measurements_from_other_threads_reach_the_snapshot_without_a_mailbox_hop(sampled_tree: SampledTree) -> None:
    def work() -> None:
        for i in range(50):
            with recorder.measure("test.stage") as m:
                if i % 10 == 0:
                    m.fail(reason="every tenth")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)

    def counted() -> PerfSnapshot | None:
        snap = snapshot()
        m = snap.measurement("test.stage") if snap else None
        # the io loop's lag is None until its 100 ms timer first fires: a loaded machine may drain the
        # measurements into a snapshot taken before that
        return snap if m is not None and m.total >= 200 and snap.io_loop_lag_ms is not None else None

    snap = wait_until(counted, WAIT_S, "200 test.stage measurements and an io loop lag in the snapshot")
    stage = snap.measurement("test.stage")
    assert stage is not None and stage.total == 200 and stage.failures == 20
    minute = stage.window(60)
    assert minute is not None and minute.count == 200 and minute.success_share == 0.9
    assert snap.io_loop_lag_ms >= 0


def test_a_burning_slo_is_logged_at_warning_with_its_fields(sampled_tree: SampledTree) -> None:
    from loguru import logger

    seen: list[dict] = []
    sink = logger.add(lambda m: seen.append(m.record), level="WARNING", filter=lambda r: "perf_event" in r["extra"])
    try:
        for _ in range(30):  # every RPC call failed: both windows of the fast pair burn at 100x
            recorder.record("rpc.call", 0.01, success=False)

        def breach() -> dict | None:
            return next((r for r in list(seen) if r["extra"]["perf_event"] == "SloBreach"), None)

        record = wait_until(breach, WAIT_S, "the rpcLatency breach in the log")
        extra = record["extra"]
        assert record["level"].name == "WARNING"
        assert extra["slo"] == "rpcLatency" and extra["severity"] == "page" and tuple(extra["windows_s"]) == (300, 3600)
        assert extra["measured"] == 0.0 and extra["budget_remaining"] < 0
        snap = snapshot()
        assert snap is not None and "page" in snap.slo("rpcLatency").firing  # type: ignore[union-attr]
    finally:
        logger.remove(sink)
