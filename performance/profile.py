"""The sampling profiler's arithmetic: stack samples in, hottest functions per thread out.

A sample is one thread's stack at one instant, innermost frame first, each frame a hashable key
(the sampler thread passes code objects: cheap to hash, named only once, at the report). Per thread
label (an actor path, or a thread name for the io loop, the timers, the console...) the profile
counts:
- self: samples whose innermost frame is the function (where the time is spent);
- total: samples with the function anywhere on the stack (what the time is spent under), each
  function counted once per sample even when it recurses.

Shares are of that thread's samples, so "/market/strategy: 80 % in amm.search.scan" reads directly.
Threads that only wait (a pykka actor blocked on its inbox) show their waiting function on top;
IDLE_FUNCTIONS names the usual waits so their samples count as idle. A thread blocked inside a C call
(a socket read) looks busy to a stack sampler, so the caller also passes each thread's measured CPU
share, and the report orders threads by it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence

from protocol.performance import HotFunction, ProfileReport, ThreadProfile

#: Where a thread that does nothing sits: samples whose innermost frame is one of these are idle.
IDLE_FUNCTIONS = frozenset({"wait", "get", "select", "poll", "_worker", "accept", "sleep", "run_forever",
                            "_run_once", "readline", "recv_into", "epoll"})
DEFAULT_TOP = 10

#: A thread label and its stack, innermost frame first.
StackKey = tuple[str, tuple[Hashable, ...]]


class ProfileBook:
    """Counts of identical stacks per thread label; fed by the sampler thread, summed once at the end.

    Counting whole stacks (a dict increment per thread per tick) keeps the sampling tick cheap: most
    threads sit in the same wait tick after tick, and self / total counts are derived at the report."""

    def __init__(self) -> None:
        self.stacks: dict[StackKey, int] = {}
        self.ticks = 0
        self.cpu_s = 0.0  # the sampling thread's own CPU time, set by it when it ends
        self.tick_s = 0.0  # wall time the ticks took (the sampler holds the GIL through a tick), set by it

    def add(self, label: str, stack: Sequence[Hashable]) -> StackKey | None:
        """One thread's stack, innermost first; an empty stack is ignored. Returns the stack's key, for `again`."""
        if not stack:
            return None
        key = (label, tuple(stack))
        self.stacks[key] = self.stacks.get(key, 0) + 1
        return key

    def again(self, key: StackKey) -> None:
        """One more sample of a stack already added (a thread still where it was at the last tick)."""
        self.stacks[key] += 1

    def _counts(self) -> tuple[Counter[str], dict[str, Counter[Hashable]], dict[str, Counter[Hashable]]]:
        samples: Counter[str] = Counter()
        own: dict[str, Counter[Hashable]] = {}
        total: dict[str, Counter[Hashable]] = {}
        for (label, stack), n in self.stacks.items():
            samples[label] += n
            own.setdefault(label, Counter())[stack[0]] += n
            under = total.setdefault(label, Counter())
            for key in set(stack):
                under[key] += n
        return samples, own, total

    def report(
        self, duration_s: float, name: Callable[[Hashable], str], top: int = DEFAULT_TOP,
        idle: Callable[[Hashable], bool] | None = None, cpu_share: Mapping[str, float] | None = None,
    ) -> ProfileReport:
        """Per thread, its busiest functions by self share. Threads that used the most CPU come first
        (`cpu_share`, measured by the caller, tells a thread blocked in C from a busy one), then those
        with the most non-idle samples."""
        cpu = cpu_share or {}
        samples, self_counts, total_counts = self._counts()
        threads = []
        for label, count in samples.items():
            own, total = self_counts[label], total_counts[label]
            idle_samples = sum(n for key, n in own.items() if idle is not None and idle(key))
            hottest = [
                HotFunction(name(key), round(n / count, 4), round(total[key] / count, 4))
                for key, n in own.most_common()
                if idle is None or not idle(key)
            ][:top]
            threads.append(ThreadProfile(label, count, round(idle_samples / count, 4), tuple(hottest),
                                         round(cpu[label], 4) if label in cpu else None))
        threads.sort(key=lambda t: (-(t.cpu_share or 0.0), -(t.samples * (1 - t.idle_share)), t.thread))
        return ProfileReport(duration_s=round(duration_s, 3), ticks=self.ticks, threads=tuple(threads),
                             profiler_cpu_share=round(self.cpu_s / duration_s, 4) if duration_s > 0 else None,
                             profiler_tick_us=round(self.tick_s / self.ticks * 1e6, 1) if self.ticks else None,
                             profiler_gil_share=round(self.tick_s / duration_s, 4) if duration_s > 0 else None)
