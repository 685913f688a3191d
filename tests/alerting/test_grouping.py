"""Grouping does what Alertmanager's definitions say, on an injected clock."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from alerting import grouping
from alerting.grouping import GroupTimers
from protocol.alerts import Alert, AlertType, Priority

TIMERS = GroupTimers(group_wait_s=30, group_interval_s=300, repeat_interval_s=4 * 3600, critical_group_wait_s=0)


def _alert(i: int, cond: str, now: float, resolved: bool = False, priority: Priority = Priority.HIGH) -> Alert:
    a = Alert(id=i, fingerprint=cond, group="", type=AlertType.NETWORK, priority=priority, title=cond, data={},
              source="t", resolved=resolved, accepted_at=now)
    return Alert(**{**{f: getattr(a, f) for f in a.__struct_fields__}, "group": grouping.group_key(a)})


events = st.lists(st.tuples(st.floats(0, 400, allow_nan=False), st.sampled_from(["a", "b", "c", "d"]),
                            st.booleans()), max_size=60)


@settings(max_examples=300, deadline=None)
@given(events, st.lists(st.floats(0, 200, allow_nan=False), min_size=1, max_size=60))
def test_grouping_invariants(evs: list[tuple[float, str, bool]], ticks: list[float]) -> None:
    groups: dict[str, grouping.Group] = {}
    now, next_id = 0.0, 1
    first_at: float | None = None
    flush_times: list[tuple[float, bool]] = []
    notified_new: list[int] = []
    firing_ids: dict[str, int] = {}
    ticks_iter = iter(ticks)
    for gap, cond, resolved in evs:
        now += gap
        groups, flushes = grouping.flush_due(groups, now, TIMERS)
        flush_times += [(now, f.repeat) for f in flushes]
        notified_new += [a for f in flushes for a in f.new]
        alert = _alert(next_id, cond, now, resolved)
        next_id += 1
        if first_at is None:
            first_at = now
        groups, _ = grouping.add(groups, alert, cond)
        if not resolved and cond not in firing_ids:
            firing_ids[cond] = alert.id
        elif resolved:
            firing_ids.pop(cond, None)
        now += next(ticks_iter, 0.0)
    # far in the future, everything still firing has been told exactly once as new
    groups, flushes = grouping.flush_due(groups, now + 10**6, TIMERS)
    notified_new += [a for f in flushes for a in f.new]
    assert len(notified_new) == len(set(notified_new))  # no alert is told twice as new
    for alert_id in firing_ids.values():
        assert alert_id in notified_new
    if flush_times and first_at is not None:
        assert flush_times[0][0] >= first_at + TIMERS.group_wait_s  # the group waited for company
    for (a, _), (b, repeat) in itertools.pairwise(flush_times):
        # not before the previous flush plus the interval, in the module's own arithmetic (b - a can round below)
        assert b >= a + (TIMERS.repeat_interval_s if repeat else TIMERS.group_interval_s)


def test_a_critical_alert_does_not_wait_and_a_clear_is_told_once() -> None:
    groups, _ = grouping.add({}, _alert(1, "down", 100.0, priority=Priority.CRITICAL), "down")
    groups, flushes = grouping.flush_due(groups, 100.0, TIMERS)
    assert [f.new for f in flushes] == [(1,)]
    groups, _ = grouping.add(groups, _alert(2, "down", 101.0, resolved=True, priority=Priority.CRITICAL), "down")
    groups, flushes = grouping.flush_due(groups, 200.0, TIMERS)
    assert flushes == []  # the group_interval still runs
    groups, flushes = grouping.flush_due(groups, 400.0, TIMERS)
    assert [(f.new, f.resolved) for f in flushes] == [((), (2,))]
    groups, flushes = grouping.flush_due(groups, 400.0 + 5 * 3600, TIMERS)
    assert flushes == [] and groups == {}


def test_still_firing_is_repeated_after_repeat_interval_only() -> None:
    groups, _ = grouping.add({}, _alert(1, "a", 0.0), "a")
    groups, flushes = grouping.flush_due(groups, 30.0, TIMERS)
    assert len(flushes) == 1
    groups, flushes = grouping.flush_due(groups, 30.0 + 3600, TIMERS)
    assert flushes == []
    groups, flushes = grouping.flush_due(groups, 30.0 + 4 * 3600, TIMERS)
    assert [(f.repeat, f.still_firing) for f in flushes] == [(True, (1,))]


def test_a_clear_before_the_first_notice_cancels_both() -> None:
    groups, _ = grouping.add({}, _alert(1, "a", 0.0), "a")
    groups, _ = grouping.add(groups, _alert(2, "a", 5.0, resolved=True), "a")
    groups, flushes = grouping.flush_due(groups, 60.0, TIMERS)
    assert flushes == []
