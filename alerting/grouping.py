"""Grouping in Alertmanager's manner, as a pure state machine over accepted alerts.

Alerts of one type and priority form a group. A new group waits `group_wait_s` for company, then is
notified. After that, the group is notified again only when something changed (a new firing
condition, or one newly resolved), at most every `group_interval_s`; with no change, the still-firing
conditions are repeated every `repeat_interval_s`. A resolved alert clears its condition: it is sent
once as a resolved notice and the condition leaves the group. Critical alerts do not wait: their
group_wait is `critical_group_wait_s` (0 by default), because a stopped bot is not worth 30 s of
company.
"""

from __future__ import annotations

import msgspec

from protocol.alerts import Alert, Priority

#: Alertmanager's defaults (REFERENCE.md).
DEFAULT_GROUP_WAIT_S = 30.0
DEFAULT_GROUP_INTERVAL_S = 300.0
DEFAULT_REPEAT_INTERVAL_S = 4 * 3600.0
DEFAULT_CRITICAL_GROUP_WAIT_S = 0.0


class GroupTimers(msgspec.Struct, frozen=True):
    group_wait_s: float = DEFAULT_GROUP_WAIT_S
    group_interval_s: float = DEFAULT_GROUP_INTERVAL_S
    repeat_interval_s: float = DEFAULT_REPEAT_INTERVAL_S
    critical_group_wait_s: float = DEFAULT_CRITICAL_GROUP_WAIT_S

    def __post_init__(self) -> None:
        if min(self.group_wait_s, self.group_interval_s, self.critical_group_wait_s) < 0 or \
                self.repeat_interval_s <= 0:
            raise ValueError("group timers must be >= 0 and repeat_interval_s > 0")

    def wait_for(self, priority: Priority) -> float:
        return self.critical_group_wait_s if priority is Priority.CRITICAL else self.group_wait_s


class Group(msgspec.Struct, frozen=True):
    key: str
    priority: Priority
    first_at: float
    flushed_at: float | None = None
    firing: dict[str, int] = {}  # condition -> the alert id that raised it
    new: tuple[int, ...] = ()  # firing alerts not yet notified
    resolved: tuple[int, ...] = ()  # resolved alerts not yet notified


class Flush(msgspec.Struct, frozen=True):
    """What one group notification carries: new firing alerts, resolved ones, and the rest still firing."""

    group: str
    priority: Priority
    new: tuple[int, ...]
    resolved: tuple[int, ...]
    still_firing: tuple[int, ...]
    repeat: bool  # nothing changed: the repeat_interval reminder


def group_key(alert: Alert) -> str:
    return f"{alert.type.value}/{alert.priority.value}"


#: Final statuses of an alert the grouping settles without a notice of its own.
CANCELLED = "cancelled"  # fired and cleared before any notice (both), or a clear of nothing told: nothing to tell
MERGED = "merged"  # the condition was already firing: it rides with the alert that raised it (Alertmanager's rule)
SETTLED_STATUSES = (CANCELLED, MERGED)


def firing_in(groups: dict[str, Group], condition: str) -> Group | None:
    """The group where `condition` fires (a condition fires in one group at most)."""
    return next((g for g in groups.values() if condition in g.firing), None)


def add(groups: dict[str, Group], alert: Alert, condition: str) -> tuple[dict[str, Group], dict[int, str]]:
    """The groups with `alert` (already deduplicated and not silenced) taken in, and the alerts this settles
    without a notice: alert id -> CANCELLED | MERGED. Every other alert taken in is held in a group's new or
    resolved alerts until a flush tells it.

    A condition is the alert's type and key, not its priority, so a clear sent at another priority than its
    firing alert still clears it: the clear joins the group where the condition fires. A re-fire at another
    priority moves the condition to the new priority's group (told there as new).
    """
    settled: dict[int, str] = {}
    holder = firing_in(groups, condition)
    if alert.resolved:
        if holder is None:
            return groups, {alert.id: CANCELLED}  # nothing fires: nothing was told that a clear could end
        raised = holder.firing[condition]
        firing = {c: a for c, a in holder.firing.items() if c != condition}
        if raised in holder.new:  # a clear before its firing alert was told cancels both
            group = msgspec.structs.replace(holder, firing=firing, new=tuple(a for a in holder.new if a != raised))
            settled = {raised: CANCELLED, alert.id: CANCELLED}
        else:
            group = msgspec.structs.replace(holder, firing=firing, resolved=(*holder.resolved, alert.id))
        return {**groups, holder.key: group}, settled
    if holder is not None and holder.key == alert.group:
        return groups, {alert.id: MERGED}  # already firing in this group: no change to tell
    out = dict(groups)
    if holder is not None:  # the condition changed priority: it leaves its old group without a word
        raised = holder.firing[condition]
        if raised in holder.new:
            settled[raised] = MERGED
        out[holder.key] = msgspec.structs.replace(
            holder, firing={c: a for c, a in holder.firing.items() if c != condition},
            new=tuple(a for a in holder.new if a != raised))
    group = out.get(alert.group) or Group(key=alert.group, priority=alert.priority, first_at=alert.accepted_at)
    out[alert.group] = msgspec.structs.replace(group, firing={**group.firing, condition: alert.id},
                                               new=(*group.new, alert.id))
    return out, settled


def restore(groups: dict[str, Group], pending: list[tuple[Alert, str]]) -> tuple[dict[str, Group], dict[int, str]]:
    """The groups read back from the outbox, with every `pending` alert (and its condition) that no group holds
    taken in again, oldest first: a crash between an alert's commit and its group's left it in no group."""
    held = {i for g in groups.values() for i in (*g.firing.values(), *g.new, *g.resolved)}
    settled: dict[int, str] = {}
    for alert, condition in sorted(pending, key=lambda p: p[0].id):
        if alert.id not in held:
            groups, more = add(groups, alert, condition)
            settled.update(more)
    return groups, settled


def by_status(settled: dict[int, str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for alert_id, status in settled.items():
        out.setdefault(status, []).append(alert_id)
    return out


def due_at(group: Group, timers: GroupTimers) -> float | None:
    """When this group must be notified next (None: nothing to say, ever, until something is added)."""
    changed = bool(group.new or group.resolved)
    if group.flushed_at is None:
        return group.first_at + timers.wait_for(group.priority) if changed else None
    if changed:
        return group.flushed_at + timers.group_interval_s
    if group.firing:
        return group.flushed_at + timers.repeat_interval_s
    return None


def flush_due(
    groups: dict[str, Group], now: float, timers: GroupTimers
) -> tuple[dict[str, Group], list[Flush]]:
    """Notify every group that is due at `now`. Groups with nothing firing and nothing to say are dropped."""
    out: dict[str, Group] = {}
    flushes: list[Flush] = []
    for key, group in groups.items():
        at = due_at(group, timers)
        if at is not None and at <= now:
            new_set = set(group.new)
            still = tuple(a for a in group.firing.values() if a not in new_set)
            flushes.append(Flush(group=key, priority=group.priority, new=group.new, resolved=group.resolved,
                                 still_firing=still, repeat=not (group.new or group.resolved)))
            group = msgspec.structs.replace(group, flushed_at=now, new=(), resolved=())
        if group.firing or group.new or group.resolved:
            out[key] = group
        elif group.flushed_at is not None and now - group.flushed_at < timers.group_interval_s:
            out[key] = group  # keep the interval: a re-fire right after a clear still waits group_interval
    return out, flushes


def next_wake(groups: dict[str, Group], timers: GroupTimers) -> float | None:
    times = [t for g in groups.values() if (t := due_at(g, timers)) is not None]
    return min(times) if times else None
