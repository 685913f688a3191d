"""Test actors, their messages and a thread-safe event log for the supervision tests.

Everything here runs on the real runtime: the actors are SupervisedActors started by real
Supervisors, and they record what happens to them (start, stop, notes, ticks) into an EventLog
that the tests wait on with timeouts. Nothing of the runtime is mocked.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from protocol.supervision import ChildExited
from supervision import ActorContext, SupervisedActor, Supervisor
from supervision.spec import Backoff, ChildSpec, Intensity, Restart, RestartStrategy
from supervision.timers import scheduler
from tests.waiting import wait_until

#: Restarts in the tests back off for a millisecond or so: the backoff path is exercised, the suite stays fast.
TINY_BACKOFF = Backoff(min_s=0.001, max_s=0.01)
#: A generous bound for anything that should happen "promptly"; only reached when something is broken.
WAIT_S = 10.0

_uids = itertools.count(1)


# --- messages ----------------------------------------------------------------------------------


class Ping(msgspec.Struct, frozen=True):
    n: int = 0


class Pong(msgspec.Struct, frozen=True):
    n: int
    uid: int  # which incarnation answered (unique across restarts and supervisor restarts)
    path: str


class Boom(msgspec.Struct, frozen=True):
    """Told: the handler raises, the actor crashes. Asked: the caller gets the error, the actor lives."""

    reason: str = "boom"


class Quit(msgspec.Struct, frozen=True):
    """The actor stops itself: a normal exit."""


class Note(msgspec.Struct, frozen=True):
    text: str


class Stall(msgspec.Struct, frozen=True):
    """Block the handler on the Control gate named `gate` (set `entered` first)."""

    gate: str


class Sync(msgspec.Struct, frozen=True):
    """A barrier: answered once everything queued before it has been handled."""


class StartTimers(msgspec.Struct, frozen=True):
    after_s: float
    every_s: float


class Tick(msgspec.Struct, frozen=True):
    kind: str


class PipeFrom(msgspec.Struct, frozen=True):
    """Pipe the Control future named `key` back to self as Piped."""

    key: str


class Piped(msgspec.Struct, frozen=True):
    outcome: Any


class WhoAmI(msgspec.Struct, frozen=True):
    """Answered with the trace id of the message being handled."""


# --- the log and the knobs ---------------------------------------------------------------------


class Event(NamedTuple):
    kind: str  # start | stop | note | tick | piped
    path: str
    uid: int
    detail: Any = None


class EventLog:
    """Append-only, thread-safe record of what the actors did, in the order they did it."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._cond = threading.Condition()

    def record(self, kind: str, path: str, uid: int, detail: Any = None) -> None:
        with self._cond:
            self._events.append(Event(kind, path, uid, detail))
            self._cond.notify_all()

    def events(self) -> list[Event]:
        with self._cond:
            return list(self._events)

    def wait_until(self, predicate: Callable[[list[Event]], bool], timeout: float = WAIT_S) -> bool:
        """Wait (re-checked on every record) until `predicate(events)` holds; fail showing the events."""
        try:
            return wait_until(lambda: predicate(self._events), timeout, "the event log to match", changed=self._cond)
        except AssertionError as e:
            raise AssertionError(f"{e}; events: {self.events()}") from None

    def wait_count(self, n: int, timeout: float = WAIT_S) -> bool:
        return self.wait_until(lambda evs: len(evs) >= n, timeout)

    def live_uid(self, path: str) -> int | None:
        """The uid of the incarnation at `path` that started and has not stopped, if any."""
        live: int | None = None
        for e in self.events():
            if e.path != path:
                continue
            if e.kind == "start":
                live = e.uid
            elif e.kind == "stop" and e.uid == live:
                live = None
        return live


class StartFailed(Exception):
    """Raised by on_start when the test armed a start failure."""


class Control:
    """Shared knobs the test turns and records the actors leave (all thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fail_starts: dict[str, int] = defaultdict(int)
        self.gates: dict[str, threading.Event] = defaultdict(threading.Event)
        self.entered: dict[str, threading.Event] = defaultdict(threading.Event)
        self.futures: dict[str, concurrent.futures.Future[Any]] = {}
        self.threads: dict[int, threading.Thread] = {}
        self.actors: dict[int, SupervisedActor] = {}
        self.exits: list[tuple[str, ChildExited]] = []  # (supervisor path, what it was told)
        self.status: dict[str, dict[str, Any]] = {}
        #: child id -> (entered, gate) for its next on_start, which sets `entered` and waits on `gate`.
        self.start_holds: dict[str, tuple[threading.Event, threading.Event]] = {}
        self.hold_gates: list[threading.Event] = []  # every gate handed out, opened by release_all

    def arm_start_failures(self, child_id: str, n: int) -> None:
        with self._lock:
            self.fail_starts[child_id] += n

    def take_start_failure(self, child_id: str) -> bool:
        with self._lock:
            if self.fail_starts[child_id] > 0:
                self.fail_starts[child_id] -= 1
                return True
            return False

    def hold_next_start(self, child_id: str) -> tuple[threading.Event, threading.Event]:
        """The next on_start of `child_id` sets `entered` and then waits for `gate`: a start held open."""
        hold = (threading.Event(), threading.Event())
        with self._lock:
            self.start_holds[child_id] = hold
            self.hold_gates.append(hold[1])
        return hold

    def take_start_hold(self, child_id: str) -> tuple[threading.Event, threading.Event] | None:
        with self._lock:
            return self.start_holds.pop(child_id, None)

    def enter(self, actor: SupervisedActor, uid: int) -> None:
        with self._lock:
            self.threads[uid] = threading.current_thread()
            self.actors[uid] = actor

    def release_all(self) -> None:
        for gate in list(self.gates.values()):
            gate.set()
        with self._lock:
            self.start_holds.clear()
            gates = list(self.hold_gates)
        for gate in gates:
            gate.set()

    def join_all(self, timeout: float = WAIT_S) -> list[str]:
        """Join every actor thread; return the names of those still alive."""
        for thread in list(self.threads.values()):
            thread.join(timeout)
        return [t.name for t in self.threads.values() if t.is_alive()]


def wait_for_timer(delay_s: float) -> None:
    """Return once the process-wide scheduler has run a timer due `delay_s` from now.

    Timers fire in due order, so any timer due earlier has had its turn by then."""
    fired = threading.Event()
    scheduler().call_later(delay_s, fired.set)
    assert fired.wait(WAIT_S)


# --- the actors --------------------------------------------------------------------------------


class Worker(SupervisedActor):
    """A worker that does what its messages say and logs its lifecycle."""

    def __init__(self, ctx: ActorContext, *, events: EventLog, control: Control) -> None:
        super().__init__(ctx)
        self.uid = next(_uids)
        self.events = events
        self.control = control
        self.started_ok = False
        self.stop_logged = False
        self.timer_tokens: list[Any] = []
        self.ticks = 0

    def on_start(self) -> None:
        self.control.enter(self, self.uid)
        hold = self.control.take_start_hold(self.ctx.child_id)
        if hold is not None:
            entered, gate = hold
            entered.set()
            gate.wait(WAIT_S * 3)
        if self.control.take_start_failure(self.ctx.child_id):
            raise StartFailed(f"{self.ctx.path} refused to start (armed by the test)")
        self.started_ok = True
        self.events.record("start", self.ctx.path, self.uid)

    def on_terminate(self) -> None:
        # Called on a normal stop (on_stop) and after a crash (teardown); log each incarnation once.
        if self.started_ok and not self.stop_logged:
            self.stop_logged = True
            self.events.record("stop", self.ctx.path, self.uid)

    def status(self) -> dict[str, Any]:
        return dict(self.control.status.get(self.ctx.path, {}))

    def receive(self, msg: Any) -> Any:
        match msg:
            case Ping(n=n):
                return Pong(n=n, uid=self.uid, path=self.ctx.path)
            case Boom(reason=reason):
                raise RuntimeError(f"{reason} in {self.ctx.path}")
            case Quit():
                self.stop()
            case Note(text=text):
                self.events.record("note", self.ctx.path, self.uid, text)
            case Stall(gate=gate):
                self.control.entered[gate].set()
                self.control.gates[gate].wait(WAIT_S * 3)
            case StartTimers(after_s=after_s, every_s=every_s):
                self.timer_tokens.append(self.ctx.send_after(after_s, Tick("after")))
                self.timer_tokens.append(self.ctx.send_interval(every_s, Tick("interval")))
            case Tick(kind=kind):
                self.ticks += 1
                self.events.record("tick", self.ctx.path, self.uid, kind)
            case PipeFrom(key=key):
                self.ctx.pipe(self.control.futures[key], Piped)
            case Piped(outcome=outcome):
                self.events.record("piped", self.ctx.path, self.uid, (outcome, self.ctx.current_trace_id))
            case WhoAmI():
                return self.ctx.current_trace_id
            case Sync():
                return True
            case _:
                return super().receive(msg)
        return None


class LoggedSupervisor(Supervisor):
    """A real Supervisor that also logs its own start/stop and the exits it is told about."""

    def __init__(self, ctx: ActorContext, *, events: EventLog, control: Control, **kwargs: Any) -> None:
        super().__init__(ctx, **kwargs)
        self.uid = next(_uids)
        self.events = events
        self.control = control
        self.started_ok = False
        self.stop_logged = False

    def on_start(self) -> None:
        self.control.enter(self, self.uid)
        super().on_start()  # starts the children in order; raises if one fails
        self.started_ok = True
        self.events.record("start", self.ctx.path, self.uid)

    def on_terminate(self) -> None:
        super().on_terminate()  # stops the children in reverse order
        if self.started_ok and not self.stop_logged:
            self.stop_logged = True
            self.events.record("stop", self.ctx.path, self.uid)

    def receive(self, msg: Any) -> Any:
        if isinstance(msg, ChildExited):
            with self.control._lock:
                self.control.exits.append((self.ctx.path, msg))
        if isinstance(msg, Sync):
            return True
        return super().receive(msg)


# --- tree builders -----------------------------------------------------------------------------


def worker_spec(
    child_id: str,
    events: EventLog,
    control: Control,
    restart: Restart = Restart.PERMANENT,
    shutdown_s: float = 5.0,
) -> ChildSpec:
    return ChildSpec(
        id=child_id,
        start=Worker,
        kwargs={"events": events, "control": control},
        restart=restart,
        shutdown_s=shutdown_s,
    )


def logged_supervisor_spec(
    child_id: str,
    children: list[ChildSpec],
    events: EventLog,
    control: Control,
    strategy: RestartStrategy = RestartStrategy.ONE_FOR_ONE,
    intensity: Intensity | None = None,
    backoff: Backoff = TINY_BACKOFF,
    shutdown_s: float = 10.0,
) -> ChildSpec:
    return ChildSpec(
        id=child_id,
        start=LoggedSupervisor,
        kwargs={
            "children": tuple(children),
            "strategy": strategy,
            "intensity": intensity or Intensity(max_restarts=100, period_s=60.0),
            "backoff": backoff,
            "events": events,
            "control": control,
        },
        shutdown_s=shutdown_s,
    )
