"""Grouping and the outbox as one state machine: nothing accepted stays pending with no due group.

Random sequences of fire / resolve / tick / channel failure / restart over the pure grouping and the
real SQLite outbox, each step doing what the router does with them. After every step: each alert in
the outbox is settled (notified, with each of its deliveries queued, delivered, failed or expired;
or settled without a notice: cancelled, merged) or belongs to a group whose due time is not past
and not later than its group_wait / group_interval bound from the alert's acceptance. A restart
reopens the outbox and reads the groups back as the router does, including the alerts whose group
state a crash lost before the commit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgspec
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from alerting import grouping
from alerting.grouping import GroupTimers
from persistence.alert_outbox import AlertOutbox
from protocol.alerts import Alert, AlertType, ChannelKind, Notification, NotificationLine, Priority

TIMERS = GroupTimers(group_wait_s=30, group_interval_s=300, repeat_interval_s=3600, critical_group_wait_s=0)
BOUND_S = max(TIMERS.group_wait_s, TIMERS.group_interval_s)
CHANNELS = (ChannelKind.LOG, ChannelKind.DISCORD)
SETTLED = ("notified", *grouping.SETTLED_STATUSES)
conditions = st.sampled_from(["endpoint-down", "slo-burn", "trend", "estop"])
priorities = st.sampled_from([Priority.LOW, Priority.HIGH, Priority.CRITICAL])


class GroupingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None)  # fsyncs, fast
        self.path = Path(self.dir.name) / "outbox.sqlite3"
        self.db = AlertOutbox(self.path)
        self.groups: dict[str, grouping.Group] = {}
        self.now = 1000.0
        self.told_resolved: list[int] = []

    def teardown(self) -> None:
        # far in the future every group has told what it holds: nothing is left pending
        self.now += 10 * TIMERS.repeat_interval_s
        self._flush()
        pending = self._statuses().get("pending", [])
        assert not pending, f"alerts {pending} stayed pending with every group long due"
        self.db.close()
        self.dir.cleanup()

    # --- the router's steps -----------------------------------------------------------------------

    def _accept(self, condition: str, priority: Priority, resolved: bool, save: bool = True) -> None:
        alert = Alert(id=0, fingerprint=condition, group="", type=AlertType.SYSTEM, priority=priority,
                      title=condition, data={}, source="machine", resolved=resolved, accepted_at=self.now)
        alert = msgspec.structs.replace(alert, group=grouping.group_key(alert))
        alert = msgspec.structs.replace(alert, id=self.db.add_alert(alert, condition, "pending"))
        if not save:
            self.db.commit()  # the row landed, the group state did not: the crash the router's restore repairs
            return
        self.groups, settled = grouping.add(self.groups, alert, condition)
        for status, ids in grouping.by_status(settled).items():
            self.db.set_alert_status(ids, status)
        self._flush()  # the router pumps after each commit: a group already past its interval goes out now

    def _flush(self) -> None:
        self.groups, flushes = grouping.flush_due(self.groups, self.now, TIMERS)
        for flush in flushes:
            ids = (*flush.new, *flush.resolved, *(flush.still_firing if flush.repeat else ()))
            flush_id = self.db.next_flush_id()
            for channel in CHANNELS:
                lines = tuple(NotificationLine(alert_id=i, priority=flush.priority, title=str(i)) for i in ids)
                note = Notification(ref="", channel=channel, type=AlertType.SYSTEM, priority=flush.priority,
                                    title="t", lines=lines)
                self.db.add_delivery(flush_id, channel, note, ids, self.now)
            self.db.set_alert_status((*flush.new, *flush.resolved), "notified")
            self.told_resolved += flush.resolved
        self._save()

    def _save(self) -> None:
        stored = {key for key, _ in self.db.groups()}
        for key in stored | set(self.groups):
            group = self.groups.get(key)
            self.db.save_group(key, msgspec.json.encode(group) if group is not None else None)
        self.db.commit()

    def _statuses(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for alert_id, _, _, _, status, _ in self.db.recent_alerts(10**6):
            out.setdefault(status, []).append(alert_id)
        return out

    # --- rules ------------------------------------------------------------------------------------

    @rule(condition=conditions, priority=priorities)
    def fire(self, condition: str, priority: Priority) -> None:
        self._accept(condition, priority, resolved=False)

    @rule(condition=conditions, priority=priorities)
    def resolve(self, condition: str, priority: Priority) -> None:
        self._accept(condition, priority, resolved=True)

    @rule(condition=conditions, priority=priorities)
    def fire_then_crash(self, condition: str, priority: Priority) -> None:
        self._accept(condition, priority, resolved=False, save=False)
        self.restart()

    @rule(seconds=st.sampled_from([0.0, 1.0, 29.0, 31.0, 299.0, 301.0, 3601.0]))
    def tick(self, seconds: float) -> None:
        self.now += seconds
        self._flush()

    @precondition(lambda self: bool(self.db.queued()))
    @rule(channel=st.sampled_from(CHANNELS), delivered=st.booleans())
    def channel_answers(self, channel: ChannelKind, delivered: bool) -> None:
        rows = [r.id for r in self.db.queued(channel)]
        for row in rows:
            self.db.mark_sending(row, [row], 1)
            self.db.finish(row, "delivered" if delivered else "failed", "" if delivered else "503", self.now)
        self.db.commit()

    @rule()
    def restart(self) -> None:
        self.db.close()
        self.db = AlertOutbox(self.path)
        loaded = {key: msgspec.json.decode(blob, type=grouping.Group) for key, blob in self.db.groups()}
        self.groups, settled = grouping.restore(loaded, self.db.pending_alerts())
        for status, ids in grouping.by_status(settled).items():
            self.db.set_alert_status(ids, status)
        self._flush()  # the router pumps at start: what the crash left overdue goes out now

    # --- invariants -------------------------------------------------------------------------------

    @invariant()
    def every_alert_is_settled_or_in_a_due_group(self) -> None:
        holder = {i: g for g in self.groups.values() for i in (*g.new, *g.resolved)}
        accepted = {a.id: a.accepted_at for a, _ in self.db.pending_alerts()}
        for status, ids in self._statuses().items():
            if status == "pending":
                for alert_id in ids:
                    group = holder.get(alert_id)
                    assert group is not None, f"alert {alert_id} pending in no group"
                    due = grouping.due_at(group, TIMERS)
                    assert due is not None, f"alert {alert_id} pending in group {group.key} that is never due"
                    assert self.now <= due <= accepted[alert_id] + BOUND_S, (alert_id, due, self.now)
            else:
                assert status in SETTLED, status
        for status in self.db.status_counts():
            assert status in ("queued", "delivered", "failed", "expired"), status

    @invariant()
    def a_condition_fires_in_one_group_and_a_clear_is_told_once(self) -> None:
        seen: set[str] = set()
        for group in self.groups.values():
            assert not seen & group.firing.keys()
            seen |= group.firing.keys()
        assert len(self.told_resolved) == len(set(self.told_resolved))


GroupingMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
test_grouping_machine = GroupingMachine.TestCase
