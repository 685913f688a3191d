"""Which WebSocket endpoint carries the subscription stream. Pure: the caller passes the clock.

Endpoints are tried in configured order. One that fails cools down for min * 2^(failures-1), capped,
before it is picked again; a head from it resets the count. The other endpoints run heads-only
*standby* streams: their heads tell how far each endpoint has got, so an active stream that falls
`lag_blocks` behind the best standby is failed over without waiting for the stall timeout, and a
standby that lags is passed over when picking.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Cooldown of a failed endpoint: COOLDOWN_MIN_S * 2^(failures-1), at most COOLDOWN_MAX_S.
COOLDOWN_MIN_S = 0.2
COOLDOWN_MAX_S = 5.0
#: An active stream this many blocks behind the best standby head is lagging.
DEFAULT_LAG_BLOCKS = 3


class EndpointPicker:
    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        cooldown_min_s: float = COOLDOWN_MIN_S,
        cooldown_max_s: float = COOLDOWN_MAX_S,
        lag_blocks: int = DEFAULT_LAG_BLOCKS,
    ) -> None:
        if not endpoints:
            raise ValueError("no WebSocket endpoint to pick from")
        if len(set(endpoints)) != len(endpoints):
            raise ValueError(f"WebSocket endpoint names repeat: {list(endpoints)}")
        self.endpoints = list(endpoints)
        self.cooldown_min_s = cooldown_min_s
        self.cooldown_max_s = cooldown_max_s
        self.lag_blocks = lag_blocks
        self.failures = dict.fromkeys(self.endpoints, 0)
        self.down_until = dict.fromkeys(self.endpoints, 0.0)
        self.heads: dict[str, int] = {}  # the highest head each endpoint has shown

    def failed(self, name: str, now: float) -> float:
        """Record a failure; returns the cooldown before `name` may be picked again."""
        self.failures[name] += 1
        cooldown = min(self.cooldown_max_s, self.cooldown_min_s * 2 ** (self.failures[name] - 1))
        self.down_until[name] = now + cooldown
        return cooldown

    def saw_head(self, name: str, number: int) -> None:
        """A head from `name` (active or standby): it works, and it has got this far."""
        self.failures[name] = 0
        self.heads[name] = max(number, self.heads.get(name, -1))

    def best_head(self) -> tuple[str, int] | None:
        if not self.heads:
            return None
        name = max(self.heads, key=lambda n: self.heads[n])
        return name, self.heads[name]

    def lagging(self, name: str, head: int) -> tuple[str, int] | None:
        """(the endpoint ahead, by how many blocks) if `name` at `head` is lag_blocks behind another."""
        best = max(((n, h) for n, h in self.heads.items() if n != name), key=lambda nh: nh[1], default=None)
        if best is not None and best[1] - head >= self.lag_blocks:
            return best[0], best[1] - head
        return None

    def pick(self, now: float, after: str | None = None) -> tuple[str, float]:
        """The endpoint to stream from next and how long to wait before opening it (0: now).

        Configured order, starting after `after`; endpoints cooling down are skipped, and so are
        standbys known to lag, unless nothing else is left.
        """
        start = self.endpoints.index(after) + 1 if after in self.endpoints else 0
        ring = self.endpoints[start:] + self.endpoints[:start]  # the one that just failed comes last
        best = self.best_head()
        top = best[1] if best else None

        def behind(n: str) -> bool:
            return top is not None and n in self.heads and top - self.heads[n] >= self.lag_blocks

        ready = [n for n in ring if self.down_until[n] <= now]
        for candidates in ([n for n in ready if not behind(n)], ready):
            if candidates:
                return candidates[0], 0.0
        soonest = min(ring, key=lambda n: self.down_until[n])
        return soonest, self.down_until[soonest] - now
