"""A reference model of the supervision semantics (OTP's, as ARCHITECTURE.md adopts them), pure Python.

The stateful test runs a real tree  root (one_for_one) -> /sub (strategy under test) -> workers
and, for every step, asks this model which start/stop events must follow, in which order.

Semantics modelled (one place to read them):
- a child's exit: permanent children are always restarted, transient ones only after an abnormal
  exit, temporary ones never (and they leave the child list);
- a restart counts against the supervisor's intensity; the restart that makes the count exceed
  `max_restarts` escalates instead: the supervisor stops every running child in reverse list order,
  stops itself, and its parent sees it exit abnormally;
- the restarted group (one_for_one: the child; one_for_all: every child; rest_for_one: the child
  and those after it) is stopped in reverse list order, then started in list order; temporary
  members are dropped instead of restarted; transient members that had exited normally are
  started again with their group (as OTP does);
- a child whose on_start fails during a group restart counts as one more restart; the members
  already started in that round are stopped in reverse order and the whole group is retried;
- a supervisor whose own start fails (a child's on_start failed) stops the children it had
  started, in reverse order; its parent counts that as a restart and retries.
Intensity periods are long (60 s) in the test, so no restart is ever forgotten within an example.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from supervision.spec import Restart, RestartStrategy

SUB = "/sub"
ROOT = "/"

Expected = list[tuple[str, str]]  # (kind, path), kind in start | stop | note


@dataclass
class WorkerModel:
    id: str
    restart: Restart
    state: str = "down"  # running | down (present, not running) | gone (left the child list)

    @property
    def path(self) -> str:
        return f"{SUB}/{self.id}"


@dataclass
class TreeModel:
    strategy: RestartStrategy
    restarts: list[Restart]
    sub_max: int
    root_max: int
    workers: list[WorkerModel] = field(default_factory=list)
    sub_restarts: int = 0
    root_restarts: int = 0
    fail_budget: dict[str, int] = field(default_factory=dict)
    tree_dead: bool = False
    sub_escalations: int = 0
    #: What the root last recorded as /sub's error: "intensity" (it escalated) or "start" (its start failed).
    sub_last_error: str | None = None
    ev: Expected = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fail_budget = {f"w{i}": 0 for i in range(len(self.restarts))}
        self.workers = self._fresh_workers()

    def _fresh_workers(self) -> list[WorkerModel]:
        return [WorkerModel(f"w{i}", r) for i, r in enumerate(self.restarts)]

    # --- queries -------------------------------------------------------------------------------

    def worker(self, child_id: str) -> WorkerModel:
        return next(w for w in self.workers if w.id == child_id)

    def running(self) -> list[WorkerModel]:
        return [] if self.tree_dead else [w for w in self.workers if w.state == "running"]

    def is_running(self, child_id: str) -> bool:
        return not self.tree_dead and self.worker(child_id).state == "running"

    def _take(self) -> Expected:
        out, self.ev = self.ev, []
        return out

    # --- steps ---------------------------------------------------------------------------------

    def initial_events(self) -> Expected:
        for w in self.workers:
            self._start(w)
        self.ev += [("start", SUB), ("start", ROOT)]
        return self._take()

    def arm_start_failures(self, child_id: str, n: int) -> None:
        self.fail_budget[child_id] += n

    def child_exit(self, child_id: str, abnormal: bool) -> Expected:
        w = self.worker(child_id)
        assert w.state == "running"
        self._stop(w)
        if w.restart is Restart.TEMPORARY:
            w.state = "gone"
            return self._take()
        if w.restart is Restart.TRANSIENT and not abnormal:
            return self._take()
        if not self._count_sub_restart():
            self._escalate_sub()
            return self._take()
        group = self._group_for(w)
        for other in reversed(group):
            if other is not w and other.state == "running":
                self._stop(other)
        self._restart_group(group)
        return self._take()

    def shutdown_events(self) -> Expected:
        if self.tree_dead:
            return []
        for w in reversed(self.workers):
            if w.state == "running":
                self._stop(w)
        self.ev += [("stop", SUB), ("stop", ROOT)]
        self.tree_dead = True
        return self._take()

    # --- mechanics -----------------------------------------------------------------------------

    def _start(self, w: WorkerModel) -> None:
        w.state = "running"
        self.ev.append(("start", w.path))

    def _stop(self, w: WorkerModel) -> None:
        w.state = "down"
        self.ev.append(("stop", w.path))

    def _count_sub_restart(self) -> bool:
        self.sub_restarts += 1
        return self.sub_restarts <= self.sub_max

    def _group_for(self, w: WorkerModel) -> list[WorkerModel]:
        present = [x for x in self.workers if x.state != "gone"]
        if self.strategy is RestartStrategy.ONE_FOR_ALL:
            return present
        if self.strategy is RestartStrategy.REST_FOR_ONE:
            return present[present.index(w) :]
        return [w]

    def _take_start_failure(self, w: WorkerModel) -> bool:
        if self.fail_budget[w.id] > 0:
            self.fail_budget[w.id] -= 1
            return True
        return False

    def _restart_group(self, group: list[WorkerModel]) -> None:
        while True:
            members = [m for m in group if m.state != "gone"]
            failed = False
            for m in members:
                if m.restart is Restart.TEMPORARY:
                    m.state = "gone"
                    continue
                if self._take_start_failure(m):
                    if not self._count_sub_restart():
                        self._escalate_sub()
                        return
                    for s in reversed(members):
                        if s.state == "running":
                            self._stop(s)
                    failed = True
                    break
                self._start(m)
            if not failed:
                return

    def _escalate_sub(self) -> None:
        for w in reversed(self.workers):
            if w.state == "running":
                self._stop(w)
        self.ev.append(("stop", SUB))
        self.sub_escalations += 1
        self.sub_last_error = "intensity"
        self._sub_exited()

    def _sub_exited(self) -> None:
        """The root saw /sub exit abnormally: restart it (a fresh supervisor, fresh children) or escalate."""
        while True:
            self.root_restarts += 1
            if self.root_restarts > self.root_max:
                self.ev.append(("stop", ROOT))
                self.tree_dead = True
                return
            self.sub_restarts = 0
            self.workers = self._fresh_workers()
            failed = False
            for w in self.workers:
                if self._take_start_failure(w):
                    failed = True
                    break
                self._start(w)
            if not failed:
                self.ev.append(("start", SUB))
                return
            for w in reversed(self.workers):
                if w.state == "running":
                    self._stop(w)
            self.sub_last_error = "start"
