"""The actor's half of a circuit breaker: feed the pure table, carry out its actions. Written once.

An endpoint actor (rpc:<name>) and an alert channel (channel:<kind>) both own a breaker the same
way: they are its single writer, they push every event through `supervision.breaker.transition`
(or `admit`), and they act on what comes back: a state change is logged (and whatever else the
owner does about it), a `WakeAt` becomes a timer that tells the owner its wake message so that the
time-driven moves (OPEN -> HALF_OPEN, a probe's timeout, the end of a park) happen, and a state
change or a new park publishes the owner's snapshot. The owner says only what differs: its wake
message, what a state change means to it, and how it publishes.
"""

from __future__ import annotations

import time
from typing import Any

from supervision.actor import ActorContext
from supervision.breaker import (
    Action,
    BreakerPolicy,
    BreakerState,
    Event,
    Parked,
    StateChanged,
    WakeAt,
    admit,
    transition,
)


class BreakerOwner:
    """Mixin for a SupervisedActor whose breaker is its state (`self.breaker`, `self.policy`)."""

    ctx: ActorContext
    breaker: BreakerState
    policy: BreakerPolicy

    # --- what the owner writes -----------------------------------------------------------------

    def _breaker_wake(self) -> Any:
        """The message a `WakeAt` timer tells this actor; its handler feeds `Tick`."""
        raise NotImplementedError

    def _breaker_changed(self, change: StateChanged) -> None:
        """A state change: log it (and count it, alert on it) in the owner's words."""
        raise NotImplementedError

    def _publish(self) -> None:
        raise NotImplementedError

    # --- the plumbing --------------------------------------------------------------------------

    def _feed(self, event: Event) -> None:
        state, actions = transition(self.breaker, event, self.policy)
        self._apply(state, actions)

    def _admit(self, now: float, *, needs_head: bool = True, rand: float = 0.0) -> bool:
        """May a request go now? Claims the HALF_OPEN probe slot when it may (breaker.admit)."""
        state, allowed, actions = admit(self.breaker, now, self.policy, needs_head=needs_head, rand=rand)
        self._apply(state, actions)
        return allowed

    def _apply(self, state: BreakerState, actions: list[Action]) -> None:
        self.breaker = state
        changed = False
        for action in actions:
            match action:
                case StateChanged():
                    changed = True
                    self._breaker_changed(action)
                case Parked():
                    changed = True
                case WakeAt(at=at):
                    self.ctx.send_after(max(0.0, at - time.monotonic()), self._breaker_wake())
        if changed:
            self._publish()
