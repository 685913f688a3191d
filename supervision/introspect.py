"""The live tree as data, read without asking any actor (a stalled actor must still show up).

Like Erlang's observer: per actor its state, mailbox depth and the age of its oldest queued message,
restarts, uptime and last error; a supervisor's book gives the children that are restarting too.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from protocol.supervision import ActorInfo, Crash
from supervision.actor import SupervisedActor
from supervision.handle import Handle
from supervision.supervisor import ChildRecord, Supervisor
from supervision.tree import ROOT_PATH, current_tree

__all__ = ["ActorInfo", "ActorThread", "actor_threads", "kill", "mailboxes", "snapshot_tree"]


def _info(path: str, actor: SupervisedActor | None, rec: ChildRecord | None, period_s: float) -> ActorInfo:
    now_mono, now = time.monotonic(), time.time()
    extra: dict[str, Any] = {}
    breaker = None
    if actor is not None:
        try:
            extra = dict(actor.status())
        except Exception as exc:  # status() of a half-built actor; show it, never fail the tree
            extra = {"status_error": repr(exc)}
        breaker = extra.pop("breaker", None)
        extra["lag_last_ms"] = round(actor.lag_last_s * 1000, 3)
        extra["lag_max_ms"] = round(actor.lag_max_s * 1000, 3)
        extra["handled"] = actor.messages_handled
    inbox: Any = actor.actor_inbox if actor is not None else None
    alive = actor is not None and actor.actor_ref.is_alive()
    state = rec.state if rec is not None else ("running" if alive else "stopped")
    return ActorInfo(
        path=path,
        kind=type(actor).__name__ if actor is not None else (rec.spec.start.__name__ if rec else "?"),
        state=state if alive or state != "running" else "stopped",
        breaker=None if breaker is None else str(breaker),
        mailbox_depth=inbox.qsize() if inbox is not None else 0,
        oldest_message_age_s=inbox.oldest_age_s(now) if inbox is not None else None,  # type: ignore[attr-defined]
        restarts_total=rec.restarts_total if rec else 0,
        restarts_recent=sum(1 for t in rec.history if now_mono - t <= period_s) if rec else 0,
        uptime_s=(now - actor.started_at) if alive and actor is not None else None,
        last_error=rec.last_error if rec else (actor.crash_reason if actor else None),
        extra=extra,
    )


def snapshot_tree() -> list[ActorInfo]:
    """Every actor of the current tree, parents before children, in start order."""
    tree = current_tree()
    if tree is None or tree.ref is None:
        return []
    root = tree.ref._actor_weakref()  # type: ignore[attr-defined]
    out: list[ActorInfo] = []

    def walk(path: str, actor: SupervisedActor | None, rec: ChildRecord | None, period_s: float) -> None:
        out.append(_info(path, actor, rec, period_s))
        if isinstance(actor, Supervisor):
            for child in actor.records():
                walk(child.path, child.actor, child, actor.intensity.period_s)

    walk(ROOT_PATH, root, None, 5.0)
    return out


class ActorThread(NamedTuple):
    """One live actor's thread: what per-thread CPU and stack samples are mapped to its path by."""

    path: str
    ident: int | None  # threading.get_ident(), the key of sys._current_frames()
    native_id: int | None  # the OS thread id, psutil's Process.threads() id on Linux
    actor: SupervisedActor


def _actors() -> list[tuple[str, SupervisedActor]]:
    """(path, live actor) for the current tree, parents first; reads supervisors' books, asks nobody."""
    tree = current_tree()
    if tree is None or tree.ref is None:
        return []
    root = tree.ref._actor_weakref()  # type: ignore[attr-defined]
    out: list[tuple[str, SupervisedActor]] = []

    def walk(path: str, actor: SupervisedActor | None) -> None:
        if actor is None:
            return
        out.append((path, actor))
        if isinstance(actor, Supervisor):
            for child in actor.records():
                walk(child.path, child.actor)

    walk(ROOT_PATH, root)
    return out


def actor_threads() -> list[ActorThread]:
    """Every live actor with its thread's ids (the sampler's per-thread CPU and the profiler read these)."""
    return [ActorThread(path, a.thread_ident, a.native_thread_id, a) for path, a in _actors()
            if a.actor_ref.is_alive()]


def mailboxes(now: float | None = None) -> list[tuple[str, int, float | None, float]]:
    """(path, depth, oldest queued message's age in s, last handled message's lag in s) per live actor.

    The cheap cousin of snapshot_tree for the sampler's timer: no status() calls, no ActorInfo."""
    now = time.time() if now is None else now
    out = []
    for path, actor in _actors():
        inbox: Any = actor.actor_inbox
        out.append((path, inbox.qsize(), inbox.oldest_age_s(now), actor.lag_last_s))
    return out


def find(path: str) -> ActorInfo | None:
    for info in snapshot_tree():
        if info.path == path:
            return info
    return None


def kill(path: str, reason: str = "killed by operator") -> None:
    """Make the actor at `path` crash (after the messages already queued before this one)."""
    Handle(path).tell(Crash(reason=reason))
