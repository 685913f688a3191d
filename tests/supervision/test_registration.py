"""A path resolves from the moment its supervisor begins starting it: a tell sent while it starts is
queued, never dropped; a tell to a path that is not in the tree fails at once, naming it and why.

A stateful property test on a real tree  / (one_for_one) -> /sub (strategy drawn) -> workers of drawn
restart types. A worker's on_start can be held open (its supervisor has begun starting it and has not
finished), and the rules tell, crash, exit, crash-while-starting and release in random interleavings.
Checked at every step:
- a tell to a starting or running path never raises; one sent while the path starts is handled by that
  incarnation after its on_start, in the order told;
- per path, every accepted tell is handled exactly once or, if the incarnation that got it died first,
  counted as that incarnation's dead letter: nothing is lost without a trace, even when tells race a
  crash and the restart that follows;
- a tell to a path whose restart has not begun yet, that left the tree, or that never existed raises
  ActorUnavailable naming the path and the reason ("restarting", "stopped", "not started").
"""

from __future__ import annotations

import dataclasses
import itertools

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from supervision import (
    ActorError,
    ActorUnavailable,
    Handle,
    Intensity,
    Restart,
    RestartStrategy,
    registry,
    start_tree,
    stop_tree,
)
from tests.supervision.kit import (
    WAIT_S,
    Boom,
    Control,
    EventLog,
    Note,
    Quit,
    Sync,
    Worker,
    logged_supervisor_spec,
    worker_spec,
)
from tests.supervision.model import SUB

#: A held start must not hit the start timeout (10 s by default) on a loaded machine.
HELD_START_TIMEOUT_S = 120.0
GHOSTS = (f"{SUB}/ghost", "/nowhere", f"{SUB}/w9")

MACHINE_SETTINGS = settings(
    max_examples=60,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclasses.dataclass
class W:
    """The model of one worker: its state as a handle must see it, and how many starts/stops it is owed."""

    id: str
    restart: Restart
    state: str = "running"  # running | starting (held) | pending (restart not begun) | down | gone
    starts: int = 1
    stops: int = 0

    @property
    def path(self) -> str:
        return f"{SUB}/{self.id}"


class RegistrationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.started = False
        self.texts = itertools.count()
        #: path -> texts of the tells the handle accepted, in the order told.
        self.accepted: dict[str, list[str]] = {}
        #: (path, text) told while the path was starting with no crash queued ahead: its starting incarnation
        #: must handle them.
        self.owed_to_starting: list[tuple[str, str]] = []
        self.held: W | None = None
        self.boom_queued = False

    # --- set-up ----------------------------------------------------------------------------------

    @initialize(restarts=st.lists(st.sampled_from(list(Restart)), min_size=2, max_size=4),
                strategy=st.sampled_from(list(RestartStrategy)))
    def start(self, restarts: list[Restart], strategy: RestartStrategy) -> None:
        registry.clear()
        self.events = EventLog()
        self.control = Control()
        self.strategy = strategy
        self.workers = [W(f"w{i}", r) for i, r in enumerate(restarts)]
        specs = [dataclasses.replace(worker_spec(w.id, self.events, self.control, w.restart),
                                     start_timeout_s=HELD_START_TIMEOUT_S) for w in self.workers]
        sub = logged_supervisor_spec("sub", specs, self.events, self.control, strategy, Intensity(10_000, 60.0))
        start_tree(logged_supervisor_spec("root", [sub], self.events, self.control))
        self.started = True
        self.settle()

    # --- the model's transitions -------------------------------------------------------------------

    def in_tree(self) -> list[W]:
        return [w for w in self.workers if w.state != "gone"]

    def running(self) -> list[W]:
        return [w for w in self.workers if w.state == "running"]

    def _group(self, w: W) -> list[W]:
        members = self.in_tree()
        if self.strategy is RestartStrategy.ONE_FOR_ONE:
            return [w]
        if self.strategy is RestartStrategy.REST_FOR_ONE:
            return members[members.index(w):]
        return members

    @staticmethod
    def _restarted(w: W, abnormal: bool) -> bool:
        return w.restart is Restart.PERMANENT or (w.restart is Restart.TRANSIENT and abnormal)

    def restarted_group(self, w: W, abnormal: bool) -> list[W]:
        """The members `w`'s exit restarts, in start order (none if `w` itself is not restarted)."""
        if not self._restarted(w, abnormal):
            return []
        return [m for m in self._group(w) if m.restart is not Restart.TEMPORARY]

    def _exit(self, w: W, abnormal: bool, hold: int | None = None) -> None:
        """What `w`'s exit does (supervisor.py's rules); with `hold`, that member of the restarted group is
        held in its on_start and the members after it have not begun."""
        w.stops += 1
        if not self._restarted(w, abnormal):
            w.state = "gone" if w.restart is Restart.TEMPORARY else "down"
            return
        group = self._group(w)
        for m in group:
            if m is not w and m.state == "running":
                m.stops += 1
            if m.restart is Restart.TEMPORARY:
                m.state = "gone"  # dropped from the tree instead of restarted
        restarted = self.restarted_group(w, abnormal)
        for k, m in enumerate(restarted):
            m.starts += 1
            m.state = "running" if hold is None or k < hold else "starting" if k == hold else "pending"
        if hold is not None:
            self.held = restarted[hold]

    # --- waiting for the tree to catch up with the model ---------------------------------------------

    def _count(self, kind: str, path: str) -> int:
        return sum(1 for e in self.events.events() if e.kind == kind and e.path == path)

    def settle(self) -> None:
        """Wait until every start and stop the model owes has happened, every dead incarnation has torn
        down, the supervisor has handled every exit and each running worker has handled its mailbox."""
        assert self.held is None
        self.events.wait_until(lambda evs: all(
            sum(1 for e in evs if e.kind == "start" and e.path == w.path) == w.starts
            and sum(1 for e in evs if e.kind == "stop" and e.path == w.path) == w.stops for w in self.workers))
        for e in self.events.events():
            if e.kind == "stop":  # its teardown counted its dead letters and told the supervisor
                self.control.threads[e.uid].join(WAIT_S)
        Handle(SUB).ask(Sync(), timeout=WAIT_S)
        for w in self.running():
            assert Handle(w.path).ask(Sync(), timeout=WAIT_S) is True
        self.check_accounting()

    def _incarnations(self, path: str) -> list[Worker]:
        return [a for a in list(self.control.actors.values()) if isinstance(a, Worker) and a.ctx.path == path]

    def check_accounting(self) -> None:
        for w in self.workers:
            told = self.accepted.get(w.path, [])
            handled = [(e.uid, e.detail) for e in self.events.events() if e.kind == "note" and e.path == w.path]
            texts = [t for _, t in handled]
            assert len(set(texts)) == len(texts), f"{w.path}: a tell handled twice: {texts}"
            assert set(texts) <= set(told), f"{w.path}: handled tells nobody sent: {set(texts) - set(told)}"
            dead = sum(a.dead_letters for a in self._incarnations(w.path))
            assert len(told) == len(texts) + dead, (
                f"{w.path}: {len(told)} tells accepted, {len(texts)} handled, {dead} dead letters: "
                f"{len(told) - len(texts) - dead} lost without a trace")
            for uid in {u for u, _ in handled}:  # each incarnation handles its tells in the order told
                mine = [t for u, t in handled if u == uid]
                assert mine == [t for t in told if t in set(mine)], f"{w.path}: out of order: {mine}"
            if dead:
                event("a tell became a dead letter")

    # --- telling -----------------------------------------------------------------------------------

    def _tell(self, path: str) -> str:
        text = f"n{next(self.texts)}"
        Handle(path).tell(Note(text))
        self.accepted.setdefault(path, []).append(text)
        return text

    def _refused(self, path: str, reasons: tuple[str, ...]) -> None:
        try:
            Handle(path).tell(Note("never"))
        except ActorUnavailable as exc:
            assert exc.path == path and exc.reason in reasons, f"{path}: {exc.reason!r}, wanted one of {reasons}"
        else:
            raise AssertionError(f"a tell to {path} was accepted; the model has it out of the tree ({reasons})")

    @rule(i=st.integers(0, 3))
    def tell(self, i: int) -> None:
        w = self.workers[i % len(self.workers)]
        if w.state == "running":
            text = self._tell(w.path)
            self.events.wait_until(lambda evs: any(e.kind == "note" and e.detail == text for e in evs))
        elif w.state == "starting":
            text = self._tell(w.path)  # queued behind on_start: must not raise
            if not self.boom_queued:
                self.owed_to_starting.append((w.path, text))
            event("told a starting path")
        elif w.state == "pending":
            self._refused(w.path, ("restarting",))
            event("told a path whose restart has not begun")
        else:
            self._refused(w.path, ("stopped",))

    @rule()
    def tell_every_path(self) -> None:
        """One tell to each worker's path, whatever its state (while a start is held: every state at once)."""
        for i in range(len(self.workers)):
            self.tell(i)

    @rule(ghost=st.sampled_from(GHOSTS))
    def tell_a_path_never_in_the_tree(self, ghost: str) -> None:
        if ghost.endswith("/w9") and any(w.id == "w9" for w in self.workers):
            return
        self._refused(ghost, ("not started",))

    # --- crashes, exits, held starts ---------------------------------------------------------------

    @precondition(lambda self: self.held is None and bool(self.running()))
    @rule(data=st.data(), hold=st.one_of(st.none(), st.integers(0, 3)))
    def crash(self, data: st.DataObject, hold: int | None) -> None:
        """Crash a worker; optionally hold one member of the group it restarts in its on_start."""
        w = data.draw(st.sampled_from(self.running()))
        group = self.restarted_group(w, abnormal=True)
        k = None if hold is None or not group else hold % len(group)
        held = None if k is None else group[k]
        entered = None if held is None else self.control.hold_next_start(held.id)[0]
        Handle(w.path).tell(Boom())
        self._exit(w, abnormal=True, hold=k)
        if held is not None and entered is not None:
            assert entered.wait(WAIT_S), f"{held.path} was never restarted"
            event("a restart held in on_start")
        else:
            self.settle()

    @precondition(lambda self: self.held is None and bool(self.running()))
    @rule(data=st.data())
    def normal_exit(self, data: st.DataObject) -> None:
        w = data.draw(st.sampled_from(self.running()))
        Handle(w.path).tell(Quit())
        self._exit(w, abnormal=False)
        self.settle()

    @precondition(lambda self: self.held is None and bool(self.running()))
    @rule(data=st.data(), n=st.integers(1, 20))
    def tells_racing_a_crash(self, data: st.DataObject, n: int) -> None:
        """Tells right behind a crash land in the dying mailbox (dead letters), are refused while the path is
        unbound (restarting), or reach the next incarnation: each is accounted for, none is lost."""
        w = data.draw(st.sampled_from(self.running()))
        Handle(w.path).tell(Boom())
        refused = 0
        for _ in range(n):
            try:
                self._tell(w.path)
            except ActorUnavailable as exc:
                assert exc.path == w.path and exc.reason in ("restarting", "stopped"), repr(exc)
                refused += 1
        if refused:
            event("a tell racing a crash was refused")
        self._exit(w, abnormal=True)
        self.settle()

    @precondition(lambda self: self.held is not None and not self.boom_queued)
    @rule()
    def crash_while_starting(self) -> None:
        """A crash told to a starting path waits behind its on_start like any tell."""
        assert self.held is not None
        Handle(self.held.path).tell(Boom())
        self.boom_queued = True

    @precondition(lambda self: self.held is not None)
    @rule()
    def release(self) -> None:
        held = self.held
        assert held is not None
        (incarnation,) = [a for a in self._incarnations(held.path) if not a.started_ok]
        uid = incarnation.uid
        self.control.release_all()
        self.held = None
        for w in self.workers:
            if w.state in ("starting", "pending"):
                w.state = "running"
        if self.boom_queued:
            self.boom_queued = False
            self._exit(held, abnormal=True)
        self.settle()
        for path, text in self.owed_to_starting:
            assert any(e.kind == "note" and e.detail == text and e.uid == uid for e in self.events.events()), (
                f"{text} told to {path} while it started was not handled by that incarnation")
        self.owed_to_starting.clear()

    # --- invariants --------------------------------------------------------------------------------

    @invariant()
    def handles_resolve_what_the_model_has_in_the_tree(self) -> None:
        if not self.started:
            return
        for w in self.workers:
            if w.state in ("running", "starting"):
                assert Handle(w.path).is_alive(), f"{w.path} is {w.state} but its handle does not resolve"

    def teardown(self) -> None:
        if not self.started:
            return
        try:
            self.control.release_all()
            assert stop_tree(timeout_s=WAIT_S), "the tree did not stop within its bound"
            for w in self.workers:
                self._refused(w.path, ("stopped",))
        finally:
            self.control.release_all()
            stop_tree(timeout_s=WAIT_S)
            registry.clear()
            stuck = self.control.join_all(WAIT_S)
            assert not stuck, f"actor threads left running: {stuck}"


TestRegistration = RegistrationMachine.TestCase
TestRegistration.settings = MACHINE_SETTINGS


def test_errors_name_the_path() -> None:
    """The refusal an operator reads names the path and why (a smoke check of the message itself)."""
    try:
        Handle("/nowhere").tell(Note("x"))
    except ActorError as exc:
        assert str(exc) == "actor /nowhere is unavailable: not started"
    else:
        raise AssertionError("a tell to a path never started was accepted")
