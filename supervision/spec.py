"""Supervision policies as immutable values (child specs, strategies, intensity, backoff)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

#: OTP's default is 1 restart in 5 s; a bot that talks to flaky RPC endpoints needs a little more slack.
DEFAULT_MAX_RESTARTS = 3
DEFAULT_PERIOD_S = 5.0
#: OTP waits 5 s for a worker to stop before it kills it.
DEFAULT_SHUTDOWN_S = 5.0
#: How long a supervisor waits for a child's on_start before it counts the start as a crash.
DEFAULT_START_TIMEOUT_S = 10.0


class Restart(StrEnum):
    PERMANENT = "permanent"  # always restarted
    TRANSIENT = "transient"  # restarted only after an abnormal exit
    TEMPORARY = "temporary"  # never restarted, not even in a group restart


class RestartStrategy(StrEnum):
    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


@dataclasses.dataclass(frozen=True)
class Intensity:
    """At most `max_restarts` restarts within `period_s`; restarts older than the period are forgotten."""

    max_restarts: int = DEFAULT_MAX_RESTARTS
    period_s: float = DEFAULT_PERIOD_S


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Akka's restartWithBackoff: delay = min(max, min * 2^n) * (1 + U[0,1) * random_factor).

    n counts the child's restarts since it last stayed up for `reset_after_s` (default (min+max)/2).
    """

    min_s: float = 0.05
    max_s: float = 2.0
    random_factor: float = 0.2
    reset_after_s: float | None = None

    def delay(self, attempt: int, unit_random: float) -> float:
        base = min(self.max_s, self.min_s * (2.0 ** max(0, attempt)))
        return base * (1.0 + unit_random * self.random_factor)

    @property
    def quiet_period_s(self) -> float:
        return self.reset_after_s if self.reset_after_s is not None else (self.min_s + self.max_s) / 2.0


NO_BACKOFF = Backoff(min_s=0.0, max_s=0.0, random_factor=0.0)


@dataclasses.dataclass(frozen=True)
class ChildSpec:
    """How to start, restart and stop one child. `start` is an actor class taking (ctx, **kwargs)."""

    id: str
    start: type[Any]
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    restart: Restart = Restart.PERMANENT
    shutdown_s: float = DEFAULT_SHUTDOWN_S
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S


def supervisor_spec(
    id: str,
    children: list[ChildSpec],
    strategy: RestartStrategy = RestartStrategy.ONE_FOR_ONE,
    intensity: Intensity = Intensity(),
    backoff: Backoff = Backoff(),
    restart: Restart = Restart.PERMANENT,
) -> ChildSpec:
    """A ChildSpec that starts a Supervisor over `children`; reads like the tree it builds."""
    from supervision.supervisor import Supervisor

    return ChildSpec(
        id=id,
        start=Supervisor,
        kwargs={"children": tuple(children), "strategy": strategy, "intensity": intensity, "backoff": backoff},
        restart=restart,
        shutdown_s=30.0,
    )
