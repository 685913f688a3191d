"""The Supervisor actor: OTP's supervisor semantics on pykka.

A child's exit reaches the supervisor as a ChildExited message (never polled). The supervisor
applies its strategy, waits out the child's backoff with a RestartChild message to itself (its
mailbox stays live meanwhile), and past its intensity stops every child in reverse start order and
crashes with RestartIntensityExceeded, so that its own supervisor decides.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pykka

from protocol.supervision import ChildExited, RestartChild
from supervision import metrics, registry
from supervision.actor import ActorContext, SupervisedActor
from supervision.errors import RestartIntensityExceeded
from supervision.spec import Backoff, ChildSpec, Intensity, Restart, RestartStrategy

DEFAULT_INTENSITY = Intensity()
DEFAULT_BACKOFF = Backoff()


@dataclass
class ChildRecord:
    """The supervisor's book on one child (mutated only in the supervisor's thread)."""

    spec: ChildSpec
    path: str
    ref: pykka.ActorRef[Any] | None = None
    actor: SupervisedActor | None = None
    incarnation: int = 0
    state: str = "stopped"  # running | restarting | stopped | failed
    restarts_total: int = 0
    backoff_attempt: int = 0
    last_restart_at: float = 0.0
    last_error: str | None = None
    generation: int = 0  # bumps on every stop/start so stale RestartChild notes are ignored
    history: deque[float] = field(default_factory=deque)


class Supervisor(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        children: tuple[ChildSpec, ...],
        strategy: RestartStrategy = RestartStrategy.ONE_FOR_ONE,
        intensity: Intensity = DEFAULT_INTENSITY,
        backoff: Backoff = DEFAULT_BACKOFF,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(ctx)
        ids = [c.id for c in children]
        if len(set(ids)) != len(ids):
            raise ValueError(f"supervisor {ctx.path}: duplicate child ids {ids}")
        self.strategy = strategy
        self.intensity = intensity
        self.backoff = backoff
        self.rng = rng or random.Random()
        self.children: list[ChildRecord] = [ChildRecord(spec=c, path=ctx.child_path(c.id)) for c in children]
        self.restart_times: deque[float] = deque()
        self._terminated = False

    # --- lifecycle -------------------------------------------------------------------------------

    def on_start(self) -> None:
        for rec in self.children:
            if not self._start_child(rec):
                # OTP: a child that cannot start fails the supervisor's own start.
                self._stop_children(self.children)
                raise RuntimeError(f"child {rec.path} failed to start: {rec.last_error}")

    def on_terminate(self) -> None:
        if not self._terminated:
            self._terminated = True
            self._stop_children(self.children)

    def status(self) -> dict[str, Any]:
        return {"strategy": str(self.strategy), "children": len(self.children)}

    def records(self) -> list[ChildRecord]:
        return list(self.children)

    # --- messages --------------------------------------------------------------------------------

    def receive(self, msg: Any) -> Any:
        match msg:
            case ChildExited():
                self._on_child_exit(msg)
            case RestartChild():
                self._on_restart_due(msg)
            case _:
                return super().receive(msg)
        return None

    def _on_child_exit(self, msg: ChildExited) -> None:
        rec = self._record(msg.child_id)
        if rec is None or rec.incarnation != msg.incarnation or rec.state != "running":
            return  # an exit we caused (stopping it) or an old incarnation's
        wants_restart = rec.spec.restart is Restart.PERMANENT or (
            rec.spec.restart is Restart.TRANSIENT and msg.abnormal
        )
        registry.unbind(rec.path, rec.ref, why="restarting" if wants_restart else "stopped")
        rec.ref, rec.actor = None, None
        rec.state = "stopped"
        if msg.abnormal:
            rec.last_error = msg.reason
        if not wants_restart:
            if rec.spec.restart is Restart.TEMPORARY:
                self.children.remove(rec)
            return
        self._count_restart()
        group = self._group_for(rec)
        for other in reversed(group):
            if other is not rec:
                self._stop_child(other)
        for member in group:
            member.state = "restarting"
            member.generation += 1
            registry.mark_down(member.path, "restarting")
        self._schedule_restart(rec, group, msg.reason if msg.abnormal else "a normal exit")

    def _on_restart_due(self, msg: RestartChild) -> None:
        rec = self._record(msg.child_id)
        if rec is None or rec.generation != msg.generation or rec.state != "restarting":
            return
        group = [r for r in self._group_for(rec) if r.state == "restarting"]
        for member in [m for m in group if m.spec.restart is Restart.TEMPORARY]:
            # Dropped before anyone starts: while the others start, a tell to it already says it left the tree.
            self.children.remove(member)
            group.remove(member)
            registry.mark_down(member.path, "stopped")
        for member in group:
            if not self._start_child(member, restart=True):
                # A restart that fails is one more crash: counted, backed off, retried by message.
                # The retry is keyed on `rec`, the group's head: keyed on `member`, a rest_for_one
                # retry would restart only `member` and those after it, stranding the ones before.
                self._count_restart()
                for started in reversed(group):
                    if started.state == "running":
                        self._stop_child(started)
                    started.state = "restarting"
                    started.generation += 1
                    registry.mark_down(started.path, "restarting")
                self._schedule_restart(rec, group, f"its restart failed: {member.last_error}")
                return

    # --- mechanics -------------------------------------------------------------------------------

    def _count_restart(self) -> None:
        now = time.monotonic()
        self.restart_times.append(now)
        while self.restart_times and now - self.restart_times[0] > self.intensity.period_s:
            self.restart_times.popleft()
        if len(self.restart_times) > self.intensity.max_restarts:
            self.on_terminate()
            raise RestartIntensityExceeded(self.ctx.path, self.intensity.max_restarts, self.intensity.period_s)

    def _group_for(self, rec: ChildRecord) -> list[ChildRecord]:
        if self.strategy is RestartStrategy.ONE_FOR_ALL:
            return list(self.children)
        if self.strategy is RestartStrategy.REST_FOR_ONE:
            return self.children[self.children.index(rec) :]
        return [rec]

    def _schedule_restart(self, rec: ChildRecord, group: list[ChildRecord], cause: str) -> None:
        now = time.monotonic()
        if now - rec.last_restart_at > self.backoff.quiet_period_s:
            rec.backoff_attempt = 0
        delay = self.backoff.delay(rec.backoff_attempt, self.rng.random())
        rec.backoff_attempt += 1
        with_others = [m.path for m in group if m is not rec]
        first_line = (cause.splitlines() or [""])[0]
        self.log.warning("restarting {} in {:.2f}s after {} (restart {}{})", rec.path, delay, first_line,
                         rec.restarts_total + 1, f"; with {', '.join(with_others)}" if with_others else "")
        rec.last_restart_at = now
        note = RestartChild(child_id=rec.spec.id, generation=rec.generation)
        if delay <= 0:
            self.ctx.tell_self(note)
        else:
            self.ctx.send_after(delay, note)

    def _start_child(self, rec: ChildRecord, restart: bool = False) -> bool:
        """Start `rec`'s next incarnation. Its path is bound as soon as it has a mailbox, before its on_start
        runs (OTP: a registered name resolves once the process exists), so a tell sent while it starts waits
        in its mailbox; if the start fails, the path is unbound and what was queued is refused by the dying
        incarnation (asks fail naming it, tells are counted as dead letters)."""
        rec.incarnation += 1
        ctx = ActorContext(rec.path, rec.spec.id, rec.incarnation, parent=self.actor_ref)
        ctx.on_spawned = lambda ref: registry.bind(rec.path, ref)
        why_down = "restarting" if restart else "not started"
        try:
            ref = rec.spec.start.start(ctx, **rec.spec.kwargs)
        except Exception as exc:  # the constructor raised (the path was not bound: no mailbox yet)
            rec.last_error = f"{type(exc).__name__}: {exc}"
            rec.state = "failed"
            self.log.error("start of {} failed: {}", rec.path, rec.last_error)
            return False
        actor = ctx.actor
        assert actor is not None, f"{rec.spec.start.__name__} is not a SupervisedActor"
        if not actor.ready.wait(rec.spec.start_timeout_s) or actor.start_error is not None:
            rec.last_error = actor.start_error or f"on_start took over {rec.spec.start_timeout_s}s"
            rec.state = "failed"
            registry.unbind(rec.path, ref, why=why_down)
            if ref.is_alive():
                ref.stop(block=False)
            return False
        rec.ref, rec.actor, rec.state = ref, actor, "running"
        if restart:
            rec.restarts_total += 1
            rec.history.append(time.monotonic())
            metrics.restarted(rec.path)
        return True

    def _stop_child(self, rec: ChildRecord) -> None:
        ref = rec.ref
        rec.generation += 1
        rec.ref, rec.actor = None, None
        rec.state = "stopped"
        if ref is None:
            registry.mark_down(rec.path, "stopped")  # a restart it was waiting for is called off
            return
        registry.unbind(rec.path, ref)
        try:
            stopped = ref.stop(block=True, timeout=rec.spec.shutdown_s)
        except pykka.Timeout:
            stopped = False
        if not stopped and ref.is_alive():
            self.log.error("{} did not stop within {}s; abandoned", rec.path, rec.spec.shutdown_s)

    def _stop_children(self, records: list[ChildRecord]) -> None:
        for rec in reversed(records):
            self._stop_child(rec)

    def _record(self, child_id: str) -> ChildRecord | None:
        for rec in self.children:
            if rec.spec.id == child_id:
                return rec
        return None
