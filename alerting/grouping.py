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


def add(groups: dict[str, Group], alert: Alert, condition: str) -> dict[str, Group]:
    """The groups with `alert` (already deduplicated and not silenced) taken in."""
    key = alert.group
    group = groups.get(key) or Group(key=key, priority=alert.priority, first_at=alert.accepted_at)
    firing = dict(group.firing)
    if alert.resolved:
        firing.pop(condition, None)
        # a clear that arrives before its firing one was notified cancels it (nothing to tell)
        cleared = {a for c, a in group.firing.items() if c == condition}
        new = tuple(a for a in group.new if a not in cleared)
        resolved = group.resolved if cleared & set(group.new) else (*group.resolved, alert.id)
        group = msgspec.structs.replace(group, firing=firing, new=new, resolved=resolved)
    elif condition in firing:
        return groups  # already firing in this group: no change to tell (Alertmanager's rule)
    else:
        firing[condition] = alert.id
        group = msgspec.structs.replace(group, firing=firing, new=(*group.new, alert.id))
    return {**groups, key: group}


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
