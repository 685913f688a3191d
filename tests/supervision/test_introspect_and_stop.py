"""The console's view of the tree (introspect), `kill`, and stopping a tree with a stuck actor."""

from __future__ import annotations

import concurrent.futures
import time

from loguru import logger
from prometheus_client import REGISTRY

from supervision import ActorUnavailable, Handle, start_tree, stop_tree
from supervision.introspect import find, kill, snapshot_tree
from tests.supervision.kit import (
    WAIT_S,
    Boom,
    Control,
    EventLog,
    Note,
    Ping,
    Stall,
    Sync,
    logged_supervisor_spec,
    wait_for_timer,
    worker_spec,
)


def restarts(path: str) -> float:
    return REGISTRY.get_sample_value("arbiter_actor_restarts_total", {"path": path}) or 0.0


def crash_and_wait_restart(events: EventLog, path: str, crash: Boom) -> None:
    old = events.live_uid(path)
    Handle(path).tell(crash)
    assert events.wait_until(lambda _: events.live_uid(path) not in (None, old))
    Handle("/").ask(Sync(), timeout=WAIT_S)  # the supervisor has finished the restart


def test_snapshot_shows_a_stalled_actors_queue_restarts_uptime_and_last_error(
    events: EventLog, control: Control
) -> None:
    control.status["/w1"] = {"breaker": "OPEN", "failures": 3}
    before_start = time.time()
    start_tree(
        logged_supervisor_spec(
            "root", [worker_spec("w0", events, control), worker_spec("w1", events, control)], events, control
        )
    )
    after_start = time.time()

    Handle("/w0").tell(Stall("g"))
    assert control.entered["g"].wait(WAIT_S)
    first_sent = time.time()
    for k in range(3):
        Handle("/w0").tell(Note(f"queued {k}"))
    last_sent = time.time()
    wait_for_timer(0.05)  # let the queued messages age a little
    aged = time.time()
    rows = snapshot_tree()  # read without asking anyone: /w0 could not answer now
    done = time.time()

    assert [r.path for r in rows] == ["/", "/w0", "/w1"]
    root, w0, w1 = rows
    assert root.kind == "LoggedSupervisor" and root.extra["strategy"] == "one_for_one"
    assert w0.kind == "Worker" and w0.state == "running"
    assert w0.mailbox_depth == 3
    assert w0.oldest_message_age_s is not None
    # The oldest was sent in [first_sent, last_sent] and measured in [aged, done].
    assert aged - last_sent <= w0.oldest_message_age_s <= done - first_sent
    assert w0.uptime_s is not None and aged - after_start <= w0.uptime_s <= done - before_start
    assert (w0.restarts_total, w0.restarts_recent, w0.last_error, w0.breaker) == (0, 0, None, None)
    assert w1.breaker == "OPEN" and w1.extra["failures"] == 3 and "breaker" not in w1.extra
    assert {"lag_last_ms", "lag_max_ms", "handled"} <= set(w1.extra)

    control.gates["g"].set()
    assert events.wait_until(lambda evs: sum(e.kind == "note" for e in evs) == 3)
    Handle("/w0").ask(Sync(), timeout=WAIT_S)
    w0 = find("/w0")  # type: ignore[assignment]
    assert w0 is not None and w0.mailbox_depth == 0 and w0.oldest_message_age_s is None
    assert w0.extra["handled"] == 5  # Stall, three Notes, Sync

    for n in (1, 2):
        crash_and_wait_restart(events, "/w1", Boom(f"crash {n}"))
    w1 = find("/w1")  # type: ignore[assignment]
    assert w1 is not None and w1.state == "running"
    assert (w1.restarts_total, w1.restarts_recent) == (2, 2)
    assert w1.last_error is not None and "crash 2 in /w1" in w1.last_error
    assert w1.uptime_s is not None and w1.uptime_s <= time.time() - after_start


def test_kill_makes_the_actor_crash_and_it_is_restarted(events: EventLog, control: Control) -> None:
    start_tree(logged_supervisor_spec("root", [worker_spec("w0", events, control)], events, control))
    old = events.live_uid("/w0")
    restarts_before = restarts("/w0")
    kill("/w0", reason="console says so")
    assert events.wait_until(lambda _: events.live_uid("/w0") not in (None, old))
    new = events.live_uid("/w0")
    # The stable handle reaches the new incarnation (waiting a bounded while if it is still binding).
    assert Handle("/w0").ask(Ping(), timeout=WAIT_S, wait_s=WAIT_S).uid == new
    Handle("/").ask(Sync(), timeout=WAIT_S)
    row = find("/w0")
    assert row is not None and row.state == "running" and row.restarts_total == 1
    assert row.last_error is not None and "InjectedCrash" in row.last_error and "console says so" in row.last_error
    assert restarts("/w0") == restarts_before + 1  # counted by the supervisor, once


def test_tree_stop_returns_within_its_bound_with_an_actor_stuck_in_a_handler(
    events: EventLog, control: Control
) -> None:
    children = [
        worker_spec("stuck", events, control, shutdown_s=0.2),
        worker_spec("w1", events, control),
        worker_spec("w2", events, control),
    ]
    start_tree(logged_supervisor_spec("root", children, events, control))
    mark = len(events.events())
    Handle("/stuck").tell(Stall("never"))
    assert control.entered["never"].wait(WAIT_S)

    errors: list[str] = []
    logger.enable("supervision")
    sink = logger.add(lambda m: errors.append(m.record["message"]), level="ERROR", filter="supervision")
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            stopping = pool.submit(stop_tree, WAIT_S)
            assert stopping.result(timeout=WAIT_S * 3) is True, "stop_tree did not return within its bound"
    finally:
        logger.remove(sink)
        logger.disable("supervision")

    got = [(e.kind, e.path) for e in events.events()[mark:]]
    assert got == [("stop", "/w2"), ("stop", "/w1"), ("stop", "/")], "reverse start order, the stuck one abandoned"
    assert any("/stuck" in m and "abandoned" in m for m in errors), errors
    for path in ("/", "/stuck", "/w1", "/w2"):
        fut = Handle(path).ask_future(Ping(), timeout=WAIT_S)
        assert fut.done() and isinstance(fut.exception(), ActorUnavailable)
    # Released, the abandoned actor finishes its handler, sees its stop request and ends.
    control.gates["never"].set()
    assert events.wait_until(lambda evs: ("stop", "/stuck") in [(e.kind, e.path) for e in evs])
