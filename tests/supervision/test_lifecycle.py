"""Tree-level lifecycle: restarts older than the intensity period are forgotten, the root's escalation
is reported through Tree.exited, and a tree whose child cannot start fails to start cleanly."""

from __future__ import annotations

import pytest

from supervision import ActorUnavailable, ChildSpec, Handle, Intensity, RestartStrategy, registry, start_tree
from tests.supervision.kit import (
    WAIT_S,
    Boom,
    Control,
    EventLog,
    Ping,
    Sync,
    Worker,
    logged_supervisor_spec,
    wait_for_timer,
    worker_spec,
)


def crash_and_wait_restart(events: EventLog, path: str) -> None:
    old = events.live_uid(path)
    Handle(path).tell(Boom())
    assert events.wait_until(lambda _: events.live_uid(path) not in (None, old))
    Handle("/").ask(Sync(), timeout=WAIT_S)


def test_restarts_older_than_the_period_are_forgotten_and_the_root_escalation_reaches_tree_exited(
    events: EventLog, control: Control
) -> None:
    period_s = 0.5
    spec = logged_supervisor_spec(
        "root", [worker_spec("w0", events, control)], events, control, intensity=Intensity(1, period_s)
    )
    tree = start_tree(spec)
    crash_and_wait_restart(events, "/w0")
    wait_for_timer(period_s * 1.2)  # the first restart is now older than the period
    crash_and_wait_restart(events, "/w0")  # one restart in the period: allowed
    assert not tree.exited.is_set()

    Handle("/w0").tell(Boom())  # a second restart within the period: more than 1, the root gives up
    assert tree.exited.wait(WAIT_S)
    assert tree.exit is not None and tree.exit.abnormal and tree.exit.path == "/"
    assert tree.exit.reason.startswith("RestartIntensityExceeded") and "1 restarts in 0.5s" in tree.exit.reason
    assert [(e.kind, e.path) for e in events.events()[-3:]] == [("start", "/w0"), ("stop", "/w0"), ("stop", "/")]
    with pytest.raises(ActorUnavailable):
        Handle("/w0").ask(Ping(), timeout=WAIT_S)


def test_a_tree_whose_child_cannot_start_fails_to_start_and_leaves_nothing_running(
    events: EventLog, control: Control
) -> None:
    control.arm_start_failures("w1", 1)
    spec = logged_supervisor_spec(
        "root", [worker_spec(f"w{i}", events, control) for i in range(3)], events, control
    )
    with pytest.raises(RuntimeError, match="/w1 failed to start"):
        start_tree(spec)
    # w0 had started; it was stopped again. w2 was never started.
    assert [(e.kind, e.path) for e in events.events()] == [("start", "/w0"), ("stop", "/w0")]
    assert control.join_all(WAIT_S) == []
    assert not any(p.startswith("/w") for p in registry.paths())


@pytest.mark.parametrize(
    ("strategy", "fails", "expected"),
    [
        # one_for_all, w2 fails its restart once: w0, w1 had started in that round and are stopped in
        # reverse order; then the whole group is retried in order.
        (
            RestartStrategy.ONE_FOR_ALL,
            "w2",
            ["-w0", "-w2", "-w1", "+w0", "+w1", "-w1", "-w0", "+w0", "+w1", "+w2"],
        ),
        # rest_for_one, w1 fails its restart once: the retry restarts the group from w0 (the crashed
        # head), not just from w1 onwards, which would leave w0 down for good.
        (
            RestartStrategy.REST_FOR_ONE,
            "w1",
            ["-w0", "-w2", "-w1", "+w0", "-w0", "+w0", "+w1", "+w2"],
        ),
    ],
)
def test_a_group_restart_whose_start_fails_is_undone_in_reverse_and_retried_whole(
    events: EventLog, control: Control, strategy: RestartStrategy, fails: str, expected: list[str]
) -> None:
    children = [worker_spec(f"w{i}", events, control) for i in range(3)]
    start_tree(logged_supervisor_spec("root", children, events, control, strategy=strategy))
    mark = len(events.events())
    control.arm_start_failures(fails, 1)
    Handle("/w0").tell(Boom())
    events.wait_count(mark + len(expected))  # on a timeout it fails listing the events seen
    Handle("/").ask(Sync(), timeout=WAIT_S)
    got = [("+" if e.kind == "start" else "-") + e.path.lstrip("/") for e in events.events()[mark:]]
    assert got == expected
    for i in range(3):
        assert Handle(f"/w{i}").ask(Ping(), timeout=WAIT_S).uid == events.live_uid(f"/w{i}")


def test_a_child_whose_constructor_fails_names_itself_and_the_error(events: EventLog, control: Control) -> None:
    broken = ChildSpec(id="w1", start=Worker, kwargs={"events": events, "control": control, "surplus": 1})
    spec = logged_supervisor_spec("root", [worker_spec("w0", events, control), broken], events, control)
    with pytest.raises(RuntimeError, match=r"/w1 failed to start: TypeError: .*surplus"):
        start_tree(spec)
    assert [(e.kind, e.path) for e in events.events()] == [("start", "/w0"), ("stop", "/w0")]
    assert control.join_all(WAIT_S) == []


def test_a_restart_gets_a_line_naming_the_actor_the_cause_and_the_count(events: EventLog, control: Control) -> None:
    from loguru import logger

    lines: list[str] = []
    start_tree(logged_supervisor_spec("root", [worker_spec("w0", events, control)], events, control))
    logger.enable("supervision")
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="WARNING",
                      filter=lambda r: r["message"].startswith("restarting"))
    try:
        crash_and_wait_restart(events, "/w0")
        crash_and_wait_restart(events, "/w0")
    finally:
        logger.remove(sink)
        logger.disable("supervision")
    assert len(lines) == 2, lines
    assert lines[0].startswith("restarting /w0 in ") and "boom" in lines[0] and "(restart 1)" in lines[0]
    assert "(restart 2)" in lines[1]
