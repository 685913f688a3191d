"""The live tree as data, read without asking any actor (a stalled actor must still show up).

Like Erlang's observer: per actor its state, mailbox depth and the age of its oldest queued message,
restarts, uptime and last error; a supervisor's book gives the children that are restarting too.
"""

from __future__ import annotations

import time
from typing import Any

from protocol.supervision import ActorInfo, Crash
from supervision.actor import SupervisedActor
from supervision.handle import Handle
from supervision.supervisor import ChildRecord, Supervisor
from supervision.tree import ROOT_PATH, current_tree

__all__ = ["ActorInfo", "kill", "snapshot_tree"]


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


def find(path: str) -> ActorInfo | None:
    for info in snapshot_tree():
        if info.path == path:
            return info
    return None


def kill(path: str, reason: str = "killed by operator") -> None:
    """Make the actor at `path` crash (after the messages already queued before this one)."""
    Handle(path).tell(Crash(reason=reason))
