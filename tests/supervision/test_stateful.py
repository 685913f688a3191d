"""Stateful property tests: random crashes, normal exits, failing restarts, asks and tells against a
real tree  / (one_for_one) -> /sub (strategy under test) -> workers of random restart types.

After every step the actors' own start/stop log must equal, event for event, what the reference
model (tests/supervision/model.py) says OTP semantics produce: restart order per strategy,
intensity and escalation, temporary/transient rules, reverse shutdown order. Every ask future must
complete within its timeout plus slack, with an answer or an error naming the actor.
"""

from __future__ import annotations

import concurrent.futures

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from supervision import (
    ActorCrashed,
    ActorUnavailable,
    AskTimeout,
    Handle,
    Intensity,
    Restart,
    RestartStrategy,
    registry,
    start_tree,
    stop_tree,
)
from supervision.introspect import find
from supervision.tree import Tree
from tests.supervision.kit import (
    WAIT_S,
    Boom,
    Control,
    EventLog,
    Note,
    Ping,
    Pong,
    Quit,
    Sync,
    logged_supervisor_spec,
    worker_spec,
)
from tests.supervision.model import ROOT, SUB, Expected, TreeModel

ASK_TIMEOUT_S = 5.0
SLACK_S = 2.0  # a future may complete this late after its own timeout, no later

MACHINE_SETTINGS = settings(
    max_examples=60,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _describe(fut: concurrent.futures.Future[object]) -> str:
    return repr(fut.exception() or fut.result())


class SupervisionMachine(RuleBasedStateMachine):
    strategy: RestartStrategy = RestartStrategy.ONE_FOR_ONE

    def __init__(self) -> None:
        super().__init__()
        self.tree: Tree | None = None
        self.mark = 0
        self.armed = 0

    # --- set-up and the step barrier --------------------------------------------------------------

    @initialize(
        restarts=st.lists(st.sampled_from(list(Restart)), min_size=2, max_size=4),
        sub_max=st.integers(1, 5),
        root_max=st.integers(0, 3),
    )
    def start(self, restarts: list[Restart], sub_max: int, root_max: int) -> None:
        registry.clear()
        self.events = EventLog()
        self.control = Control()
        self.model = TreeModel(self.strategy, restarts, sub_max, root_max)
        workers = [worker_spec(f"w{i}", self.events, self.control, r) for i, r in enumerate(restarts)]
        sub = logged_supervisor_spec(
            "sub", workers, self.events, self.control, self.strategy, Intensity(sub_max, 60.0)
        )
        root = logged_supervisor_spec("root", [sub], self.events, self.control, intensity=Intensity(root_max, 60.0))
        self.tree = start_tree(root)
        self.settle(self.model.initial_events())

    def settle(self, expected: Expected) -> None:
        """Wait for the expected events, let the supervisors drain their mailboxes, compare exactly."""
        want = self.mark + len(expected)
        self.events.wait_count(want, WAIT_S)
        for e in self.events.events()[self.mark :]:
            if e.kind == "stop":  # its thread ends after its teardown has told its supervisor
                self.control.threads[e.uid].join(WAIT_S)
        if not self.model.tree_dead:
            # Root first: once it answers, a /sub it restarted is bound; then /sub has handled every exit.
            Handle(ROOT).ask(Sync(), timeout=WAIT_S, wait_s=WAIT_S)
            Handle(SUB).ask(Sync(), timeout=WAIT_S, wait_s=WAIT_S)
        else:
            assert self.tree is not None
            assert self.tree.exited.wait(WAIT_S), "the root escalated but Tree.exited was never set"
        got = [(e.kind, e.path) for e in self.events.events()[self.mark :]]
        assert got == expected, f"\nexpected {expected}\n     got {got}"
        self.mark = want
        # Coverage of the interesting paths, shown by pytest --hypothesis-show-statistics.
        if self.model.sub_escalations:
            event("/sub escalated")
        if self.model.tree_dead:
            event("the root escalated")
        if sum(self.model.fail_budget.values()) < self.armed:
            event("a restart's on_start failed")

    def path(self, i: int) -> str:
        return f"{SUB}/w{i % len(self.model.restarts)}"

    def child_id(self, i: int) -> str:
        return f"w{i % len(self.model.restarts)}"

    def live_uid(self, path: str) -> int:
        uid = self.events.live_uid(path)
        assert uid is not None, f"the model has {path} running but it never logged a start"
        return uid

    def has_running(self) -> bool:
        return bool(self.model.running())

    # --- rules ----------------------------------------------------------------------------------

    @precondition(lambda self: self.has_running())
    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        w = data.draw(st.sampled_from(self.model.running()))
        Handle(w.path).tell(Boom())
        self.settle(self.model.child_exit(w.id, abnormal=True))

    @precondition(lambda self: self.has_running())
    @rule(data=st.data())
    def normal_exit(self, data: st.DataObject) -> None:
        w = data.draw(st.sampled_from(self.model.running()))
        Handle(w.path).tell(Quit())
        self.settle(self.model.child_exit(w.id, abnormal=False))

    @precondition(lambda self: not self.model.tree_dead)
    @rule(i=st.integers(0, 3), n=st.integers(1, 2))
    def arm_start_failure(self, i: int, n: int) -> None:
        """The next n on_starts of this child raise (in a group restart or a supervisor restart)."""
        self.control.arm_start_failures(self.child_id(i), n)
        self.model.arm_start_failures(self.child_id(i), n)
        self.armed += n

    @rule(i=st.integers(0, 3), n=st.integers(0, 1000))
    def ask(self, i: int, n: int) -> None:
        path = self.path(i)
        fut = Handle(path).ask_future(Ping(n), timeout=ASK_TIMEOUT_S)
        concurrent.futures.wait([fut], ASK_TIMEOUT_S + SLACK_S)
        assert fut.done(), f"ask to {path} left pending"
        if self.model.is_running(self.child_id(i)):
            assert fut.result() == Pong(n=n, uid=self.live_uid(path), path=path)
        else:
            exc = fut.exception()
            assert isinstance(exc, ActorUnavailable) and exc.path == path, repr(exc)

    @rule(i=st.integers(0, 3), text=st.text(max_size=5))
    def tell(self, i: int, text: str) -> None:
        path = self.path(i)
        if self.model.is_running(self.child_id(i)):
            Handle(path).tell(Note(text))
            self.settle([("note", path)])
        else:
            try:
                Handle(path).tell(Note(text))
            except ActorUnavailable as exc:
                assert exc.path == path
            else:
                raise AssertionError(f"tell to {path} should have failed fast: the model has it stopped")

    @precondition(lambda self: self.has_running())
    @rule(data=st.data(), before=st.integers(0, 3), after=st.integers(0, 3))
    def asks_around_a_crash(self, data: st.DataObject, before: int, after: int) -> None:
        """Asks queued before a crash are answered by that incarnation; asks after it get the next
        incarnation's answer or an error naming the actor; none is left pending."""
        w = data.draw(st.sampled_from(self.model.running()))
        handle = Handle(w.path)
        old_uid = self.live_uid(w.path)
        early = [handle.ask_future(Ping(k), timeout=ASK_TIMEOUT_S) for k in range(before)]
        handle.tell(Boom())
        late = [handle.ask_future(Ping(k), timeout=ASK_TIMEOUT_S) for k in range(after)]
        _, pending = concurrent.futures.wait(early + late, ASK_TIMEOUT_S + SLACK_S)
        assert not pending, f"{len(pending)} ask(s) to {w.path} left pending"
        for k, fut in enumerate(early):
            assert fut.result() == Pong(n=k, uid=old_uid, path=w.path)
        for fut in late:
            exc = fut.exception()
            if exc is None:
                assert fut.result().uid != old_uid, "the crashed incarnation answered after its crash"
            else:
                assert isinstance(exc, ActorCrashed | ActorUnavailable | AskTimeout), repr(exc)
                assert exc.path == w.path, _describe(fut)
        self.settle(self.model.child_exit(w.id, abnormal=True))

    # --- invariants -----------------------------------------------------------------------------

    @invariant()
    def handles_match_the_model(self) -> None:
        if self.tree is None:
            return
        for i, _ in enumerate(self.model.restarts):
            path = self.path(i)
            running = self.model.is_running(self.child_id(i))
            assert Handle(path).is_alive() == running, f"{path}: handle alive != model running ({running})"
            if running:
                assert Handle(path).resolve().is_alive()

    @invariant()
    def escalations_are_seen_by_the_parent(self) -> None:
        if self.tree is None or self.model.sub_escalations == 0:
            return
        # Exactly one abnormal exit naming the intensity per escalation (a /sub whose start failed also
        # reports an abnormal exit, with its own reason; the root ignores that one, it already knows).
        seen = [
            m
            for p, m in self.control.exits
            if p == ROOT and m.path == SUB and m.abnormal and m.reason.startswith("RestartIntensityExceeded")
        ]
        assert len(seen) == self.model.sub_escalations, [m.reason for _, m in self.control.exits]
        if not self.model.tree_dead and self.model.sub_last_error == "intensity":
            row = find(SUB)
            assert row is not None and row.last_error is not None
            assert "RestartIntensityExceeded" in row.last_error and "/sub" in row.last_error
        if self.model.tree_dead:
            assert self.tree.exit is not None and self.tree.exit.abnormal
            assert self.tree.exit.reason.startswith("RestartIntensityExceeded"), self.tree.exit.reason

    # --- shutdown -------------------------------------------------------------------------------

    def teardown(self) -> None:
        if self.tree is None:
            return
        try:
            expected = self.model.shutdown_events()
            assert stop_tree(timeout_s=WAIT_S), "the tree did not stop within its bound"
            got = [(e.kind, e.path) for e in self.events.events()[self.mark :]]
            assert got == expected, f"shutdown order\nexpected {expected}\n     got {got}"
            for i, _ in enumerate(self.model.restarts):
                fut = Handle(self.path(i)).ask_future(Ping(), timeout=ASK_TIMEOUT_S)
                assert isinstance(fut.exception(timeout=0), ActorUnavailable)
        finally:
            self.control.release_all()
            stop_tree(timeout_s=WAIT_S)
            registry.clear()
            stuck = self.control.join_all(WAIT_S)
            assert not stuck, f"actor threads left running: {stuck}"


class OneForOne(SupervisionMachine):
    strategy = RestartStrategy.ONE_FOR_ONE


class OneForAll(SupervisionMachine):
    strategy = RestartStrategy.ONE_FOR_ALL


class RestForOne(SupervisionMachine):
    strategy = RestartStrategy.REST_FOR_ONE


TestOneForOne = OneForOne.TestCase
TestOneForAll = OneForAll.TestCase
TestRestForOne = RestForOne.TestCase
TestOneForOne.settings = TestOneForAll.settings = TestRestForOne.settings = MACHINE_SETTINGS
