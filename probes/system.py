"""The process and machine as psutil sees them, one SystemSample per call.

CPU figures are shares of one core over the last span of at least MIN_CPU_SPAN_S (the first
samples have none to compare with and report 0): process CPU from the process's user+system
time, per-thread CPU from each OS thread's times (psutil's Process.threads(), keyed by the native
thread id on Linux) under its label
(an actor path or a thread name). Two threads with the same name (console workers) add up. Network
counters are the machine's (the kernel keeps none per process); disk I/O is the process's where
the platform allows reading it, else 0.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

import psutil

from protocol.performance import SystemSample

#: CPU shares are computed over at least this span: thread times tick in 10 ms, so a short span
#: (two sampler ticks close together) would report noise such as 165 % of a core.
MIN_CPU_SPAN_S = 1.0


class SystemProbe:
    def __init__(self, pid: int | None = None) -> None:
        self.process = psutil.Process(pid or os.getpid())
        self._last_at: float | None = None
        self._last_cpu = 0.0
        self._last_threads: dict[int, float] = {}
        self._last_threads_at = 0.0
        self._process_pct = 0.0
        self._thread_pct: dict[str, float] = {}
        psutil.cpu_percent(None)  # arms the machine-wide figure: the next call reports since now

    def sample(self, labels: Mapping[int, str] | None = None, now: float | None = None) -> SystemSample:
        """One look; `labels` maps native thread ids to what to call them (unlabelled ones are `tid:<id>`)."""
        p = self.process
        wall = time.monotonic()
        with p.oneshot():
            times = p.cpu_times()
            rss = p.memory_info().rss
            threads = p.threads()
            # Reading every thread's times can take long on a loaded box while the threads keep running:
            # their span is timed at their own read, or a busy thread shows more than a whole core.
            threads_at = time.monotonic()
            try:
                fds = p.num_fds()
            except (AttributeError, psutil.Error):  # not on this platform
                fds = 0
            try:
                io = p.io_counters()
                read_bytes, write_bytes = io.read_bytes, io.write_bytes
            except (AttributeError, psutil.Error):
                read_bytes = write_bytes = 0
        cpu = times.user + times.system
        per_thread = {t.id: t.user_time + t.system_time for t in threads}
        if self._last_at is None:
            self._last_at, self._last_cpu, self._last_threads = wall, cpu, per_thread
            self._last_threads_at = threads_at
        elif wall - self._last_at >= MIN_CPU_SPAN_S:
            span = wall - self._last_at
            thread_span = max(threads_at - self._last_threads_at, 1e-9)
            thread_pct: dict[str, float] = {}
            process_pct = max(0.0, (cpu - self._last_cpu) / span * 100)
            for tid, spent in per_thread.items():
                used = spent - self._last_threads.get(tid, 0.0)
                if used <= 0:
                    continue
                label = (labels or {}).get(tid, f"tid:{tid}")
                thread_pct[label] = round(thread_pct.get(label, 0.0) + used / thread_span * 100, 2)
            self._process_pct, self._thread_pct = process_pct, thread_pct
            self._last_at, self._last_cpu, self._last_threads = wall, cpu, per_thread
            self._last_threads_at = threads_at
        net = psutil.net_io_counters()
        return SystemSample(
            at=time.time() if now is None else now,
            process_cpu_pct=round(self._process_pct, 2),
            rss_bytes=rss,
            threads=len(threads),
            open_fds=fds,
            io_read_bytes=read_bytes,
            io_write_bytes=write_bytes,
            net_sent_bytes=net.bytes_sent if net else 0,
            net_recv_bytes=net.bytes_recv if net else 0,
            machine_cpu_pct=psutil.cpu_percent(None),
            machine_memory_pct=psutil.virtual_memory().percent,
            thread_cpu_pct=dict(self._thread_pct),
        )
