"""Unit tests of the runtime's promises around one actor: asks, deaths, dead letters, timeouts,
pipe and timers. Each test starts a real tree and drives real actors."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

from protocol.envelope import Envelope
from supervision import (
    ActorCrashed,
    ActorUnavailable,
    AskTimeout,
    Backoff,
    Handle,
    start_tree,
    stop_tree,
)
from supervision.introspect import find
from supervision.io_loop import io_loop
from supervision.mailbox import Delivery, Reply, post
from supervision.timers import COMPACT_AFTER, scheduler
from supervision.tree import Tree
from tests.supervision.kit import (
    TINY_BACKOFF,
    WAIT_S,
    Boom,
    Control,
    EventLog,
    Note,
    Ping,
    PipeFrom,
    Pong,
    Stall,
    StartTimers,
    Sync,
    WhoAmI,
    Worker,
    logged_supervisor_spec,
    wait_for_timer,
    worker_spec,
)

#: A backoff long enough that a crashed child is still "restarting" when the test looks at it.
SLOW_BACKOFF = Backoff(min_s=30.0, max_s=30.0, random_factor=0.0)


def start(events: EventLog, control: Control, n: int = 1, backoff: Backoff | None = None) -> Tree:
    children = [worker_spec(f"w{i}", events, control) for i in range(n)]
    return start_tree(logged_supervisor_spec("root", children, events, control, backoff=backoff or TINY_BACKOFF))


def stall(control: Control, path: str, gate: str) -> None:
    """Block the actor at `path` in a handler until the test opens `gate`."""
    Handle(path).tell(Stall(gate))
    assert control.entered[gate].wait(WAIT_S)


def worker_at(control: Control, events: EventLog, path: str) -> Worker:
    uid = events.live_uid(path)
    assert uid is not None, f"no live incarnation at {path}"
    actor = control.actors[uid]
    assert isinstance(actor, Worker)
    return actor


def test_pending_asks_of_a_crashing_actor_fail_naming_it_and_queued_tells_are_dead_letters(
    events: EventLog, control: Control
) -> None:
    start(events, control, backoff=SLOW_BACKOFF)
    h = Handle("/w0")
    old = worker_at(control, events, "/w0")
    old_ref = h.resolve()
    stall(control, "/w0", "g")
    h.tell(Boom("fatal"))
    asks = [h.ask_future(Ping(k), timeout=WAIT_S) for k in range(3)]
    h.tell(Note("never handled"))
    h.tell(Note("never handled either"))
    control.gates["g"].set()

    _, pending = concurrent.futures.wait(asks, WAIT_S + 2.0)
    assert not pending
    for fut in asks:
        exc = fut.exception()
        assert isinstance(exc, ActorCrashed), repr(exc)
        assert exc.path == "/w0" and "fatal in /w0" in exc.error and "/w0" in str(exc)

    control.threads[old.uid].join(WAIT_S)
    Handle("/").ask(Sync(), timeout=WAIT_S)  # the supervisor has handled the exit
    exits = [m for p, m in control.exits if m.path == "/w0"]
    assert len(exits) == 1 and exits[0].abnormal and exits[0].dead_letters == 2
    assert old.dead_letters == 2
    assert not any(e.kind == "note" for e in events.events()), "a tell queued behind the crash was handled"

    # While it waits out its backoff: everything fails fast, naming the actor.
    row = find("/w0")
    assert row is not None and row.state == "restarting" and "fatal in /w0" in (row.last_error or "")
    fut = h.ask_future(Ping(), timeout=WAIT_S)
    assert fut.done(), "an ask to a dead actor must fail at once, not wait for its timeout"
    assert isinstance(fut.exception(), ActorUnavailable) and fut.exception().path == "/w0"  # type: ignore[union-attr]
    with pytest.raises(ActorUnavailable, match="/w0 is unavailable: restarting"):
        h.ask(Ping(), timeout=WAIT_S)
    with pytest.raises(ActorUnavailable, match="/w0"):
        h.tell(Note("to nobody"))
    with pytest.raises(ActorUnavailable, match="/w0"):
        h.ask(Ping(), timeout=WAIT_S, wait_s=0.05)  # waits a bounded while for a new incarnation, none comes
    # A caller that kept the dead incarnation's ref is answered too: its inbox is closed, not a black hole.
    reply = Reply()
    post(old_ref, Delivery(Envelope.wrap(Ping()), reply))
    assert reply.done() and isinstance(reply.exception(), ActorCrashed)


def test_answered_asks_do_not_pile_up_their_deadline_timers(events: EventLog, control: Control) -> None:
    start(events, control)
    uid = events.live_uid("/w0")
    asks = 3 * COMPACT_AFTER
    for _ in range(asks):  # each ask is answered, by the one live incarnation
        assert Handle("/w0").ask_future(Ping(), timeout=60).result(WAIT_S).uid == uid
    # every one of those deadlines was cancelled when its answer came; the heap keeps only a bounded rest
    assert len(scheduler()._heap) < 2 * COMPACT_AFTER < asks


def test_ask_timeout_names_the_path_and_the_message_type(events: EventLog, control: Control) -> None:
    start(events, control)
    h = Handle("/w0")
    stall(control, "/w0", "g")
    with pytest.raises(AskTimeout) as info:
        h.ask(Ping(), timeout=0.05)
    assert info.value.path == "/w0" and info.value.message_type == "Ping" and info.value.timeout == 0.05
    assert "Ping" in str(info.value) and "/w0" in str(info.value)

    fut = h.ask_future(WhoAmI(), timeout=0.05)
    exc = fut.exception(timeout=WAIT_S)
    assert isinstance(exc, AskTimeout) and exc.path == "/w0" and exc.message_type == "WhoAmI"

    control.gates["g"].set()
    # The actor lives on; the late answers to the timed-out asks change nothing.
    assert h.ask(Ping(7), timeout=WAIT_S) == Pong(7, worker_at(control, events, "/w0").uid, "/w0")
    assert isinstance(fut.exception(), AskTimeout)


def test_an_error_in_an_ask_handler_goes_to_the_caller_and_the_actor_lives(events: EventLog, control: Control) -> None:
    start(events, control)
    h = Handle("/w0")
    uid = events.live_uid("/w0")
    with pytest.raises(RuntimeError, match="asked to fail in /w0"):
        h.ask(Boom("asked to fail"), timeout=WAIT_S)
    assert h.ask(Ping(1), timeout=WAIT_S).uid == uid
    assert [e.kind for e in events.events() if e.path == "/w0"] == ["start"]


def test_the_trace_id_travels_with_the_message(events: EventLog, control: Control) -> None:
    start(events, control)
    assert Handle("/w0").ask(WhoAmI(), timeout=WAIT_S, trace_id="cafe0001") == "cafe0001"
    minted = Handle("/w0").ask(WhoAmI(), timeout=WAIT_S)
    assert isinstance(minted, str) and len(minted) == 32 and int(minted, 16)  # a 128-bit OTel trace id


def test_pipe_delivers_results_and_exceptions_as_messages(events: EventLog, control: Control) -> None:
    start(events, control)
    h = Handle("/w0")
    ok: concurrent.futures.Future[object] = concurrent.futures.Future()
    bad: concurrent.futures.Future[object] = concurrent.futures.Future()
    cancelled: concurrent.futures.Future[object] = concurrent.futures.Future()

    async def io_answer() -> int:
        await asyncio.sleep(0)
        return 7

    control.futures.update({"ok": ok, "bad": bad, "cancelled": cancelled, "io": io_loop().submit(io_answer())})
    for key in ("ok", "bad", "cancelled", "io"):
        h.tell(PipeFrom(key), trace_id=f"trace-{key}")
    h.ask(Sync(), timeout=WAIT_S)  # every pipe is wired before the futures complete
    ok.set_result(42)
    bad.set_exception(ValueError("quote rejected"))
    cancelled.cancel()

    assert events.wait_until(lambda evs: sum(e.kind == "piped" for e in evs) == 4)
    piped = {trace: outcome for _, _, _, (outcome, trace) in (e for e in events.events() if e.kind == "piped")}
    assert piped["trace-ok"] == 42 and piped["trace-io"] == 7
    assert isinstance(piped["trace-bad"], ValueError) and str(piped["trace-bad"]) == "quote rejected"
    assert isinstance(piped["trace-cancelled"], concurrent.futures.CancelledError)


def test_timers_deliver_and_are_cancelled_when_the_actor_crashes(events: EventLog, control: Control) -> None:
    start(events, control)
    h = Handle("/w0")
    first = worker_at(control, events, "/w0")
    h.tell(StartTimers(after_s=0.01, every_s=0.01))

    def ticks(uid: int, kind: str) -> int:
        return sum(1 for e in events.events() if e.kind == "tick" and e.uid == uid and e.detail == kind)

    assert events.wait_until(lambda _: ticks(first.uid, "after") == 1 and ticks(first.uid, "interval") >= 3)
    h.tell(Boom())
    assert events.wait_until(lambda _: events.live_uid("/w0") not in (None, first.uid))
    control.threads[first.uid].join(WAIT_S)
    second = worker_at(control, events, "/w0")
    assert all(t.cancelled for t in first.timer_tokens)
    lost_before = first.dead_letters
    wait_for_timer(0.1)  # ten interval periods: an uncancelled timer would have fired by now
    assert first.dead_letters == lost_before, "a cancelled timer still tried to deliver"
    assert ticks(second.uid, "interval") == 0 and ticks(second.uid, "after") == 0
    assert ticks(first.uid, "after") == 1


def test_timers_are_cancelled_when_the_tree_stops(events: EventLog, control: Control) -> None:
    start(events, control)
    worker = worker_at(control, events, "/w0")
    Handle("/w0").tell(StartTimers(after_s=5.0, every_s=0.01))
    assert events.wait_until(lambda evs: any(e.kind == "tick" for e in evs))
    assert stop_tree(timeout_s=WAIT_S)
    control.threads[worker.uid].join(WAIT_S)
    assert all(t.cancelled for t in worker.timer_tokens) and len(worker.timer_tokens) == 2
    lost_before = worker.dead_letters
    wait_for_timer(0.1)
    assert worker.dead_letters == lost_before
