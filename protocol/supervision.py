"""Lifecycle messages and introspection records of the actor runtime."""

from __future__ import annotations

import msgspec


class ChildExited(msgspec.Struct, frozen=True):
    """Sent by an actor's teardown to its supervisor: a crash (abnormal) or a normal stop."""

    child_id: str
    path: str
    incarnation: int
    abnormal: bool
    reason: str
    dead_letters: int = 0


class RestartChild(msgspec.Struct, frozen=True):
    """A supervisor's note to itself: the backoff for `child_id` is over, start it (the group) again."""

    child_id: str
    generation: int


class Crash(msgspec.Struct, frozen=True):
    """Makes the receiving actor raise InjectedCrash: the console's `kill`."""

    reason: str


class ActorInfo(msgspec.Struct, frozen=True):
    """One row of the live tree, as the console shows it."""

    path: str
    kind: str
    state: str  # running | restarting | stopped | failed
    breaker: str | None
    mailbox_depth: int
    oldest_message_age_s: float | None
    restarts_total: int
    restarts_recent: int
    uptime_s: float | None
    last_error: str | None
    extra: dict[str, object] = {}
