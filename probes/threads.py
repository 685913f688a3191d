"""Which thread is whom: actor threads by their path, the others (io loop, timers, console) by name.

pykka names an actor's thread `<ActorClass>-<n>` (pykka/_threading.py), which says nothing about its
place in the tree; every SupervisedActor records its thread's ids when its loop starts
(supervision.actor), and supervision.introspect.actor_threads() lists them by path.
"""

from __future__ import annotations

import threading

from supervision.introspect import actor_threads


def thread_labels() -> tuple[dict[int, str], dict[int, str]]:
    """(python ident -> label, native id -> label) for every live thread; an actor's label is its path."""
    by_ident: dict[int, str] = {}
    by_native: dict[int, str] = {}
    for thread in threading.enumerate():
        if thread.ident is not None:
            by_ident[thread.ident] = thread.name
        if thread.native_id is not None:
            by_native[thread.native_id] = thread.name
    for actor in actor_threads():
        if actor.ident is not None:
            by_ident[actor.ident] = actor.path
        if actor.native_id is not None:
            by_native[actor.native_id] = actor.path
    return by_ident, by_native
