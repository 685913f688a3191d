"""Actors made slow or busy on purpose, for the sampler's tests (real SupervisedActors, real threads)."""

from __future__ import annotations

import threading
from typing import Any

import msgspec

from supervision import ActorContext, SupervisedActor

#: The longest a gate holds a handler: past it the test has failed anyway, and the thread must end.
GATE_BOUND_S = 30.0


class Work(msgspec.Struct, frozen=True):
    n: int = 0


class Stalled(SupervisedActor):
    """Its first message blocks the handler until `gate` opens, so everything after it queues up."""

    def __init__(self, ctx: ActorContext, *, gate: threading.Event, entered: threading.Event) -> None:
        super().__init__(ctx)
        self.gate, self.entered = gate, entered

    def receive(self, msg: Any) -> Any:
        if isinstance(msg, Work):
            self.entered.set()
            self.gate.wait(GATE_BOUND_S)
            return None
        return super().receive(msg)


def spin_until(stop: threading.Event) -> int:
    """Burn CPU in pure Python until `stop` is set; the profiler should find this function."""
    n = 0
    while not stop.is_set():
        for _ in range(10_000):
            n += 1
    return n


class Spinner(SupervisedActor):
    """Its handler spins a core until `stop` is set."""

    def __init__(self, ctx: ActorContext, *, stop: threading.Event, entered: threading.Event) -> None:
        super().__init__(ctx)
        self.halt, self.entered = stop, entered  # not `self.stop`: that is pykka's Actor.stop

    def receive(self, msg: Any) -> Any:
        if isinstance(msg, Work):
            self.entered.set()
            spin_until(self.halt)
            return None
        return super().receive(msg)
