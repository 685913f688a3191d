"""The best head any endpoint has reported, and what it says about each answer. Pure: no clock, no I/O.

Every head an endpoint reports (an eth_blockNumber answer, a health check, a head probe, a WebSocket
newHeads the router heard of) goes through `HeadTracker.observe`, which says whether to take it:

- `AHEAD_LIE`: a head further ahead of every other endpoint than the chain can have moved since they
  reported (`lie_ahead_blocks` beyond what their heads plus the elapsed block intervals allow), with at
  least two others whose heads are still moving to compare with (a frozen majority proves nothing, and
  with no block interval learned yet nothing is judged). It is not recorded: a liar must not raise the
  best head. The client treats it as a suspicion, asks the others afresh and only then calls it a lie.
- `BEHIND`: more than `tolerance_blocks` below the best head. A lag sample for the endpoint's breaker at
  once, and a read to retry elsewhere; the endpoint stays `behind` until it reports a head near the best.
- `OK` otherwise. An endpoint whose highest head is below the best, reported after the best rose, is
  `trailing`: within the tolerance, but a head read is better sent to one at the best head. (A report
  older than the rise says nothing: the endpoint may have the new block already.)

Heads come from endpoints that serve reads and from witnesses that do not (a WebSocket stream's
newHeads, named `ws:<endpoint>`): both raise the best head and bear witness against a liar.

Two guarantees for the client that owns a tracker, whatever the endpoints do: no head below `floor`
(the highest head already handed out) is ever handed out (`deliver`), and no answer more than
`tolerance_blocks` behind the best head reported so far is taken.

The tracker also learns the block interval (the gaps between rises of the best head) so the client can
probe other endpoints when a block is due and the endpoint carrying the traffic has not shown it: an
endpoint whose head froze keeps answering promptly, and only another endpoint can tell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import Enum

#: An answer more than this many blocks behind the best reported head is not taken.
DEFAULT_TOLERANCE_BLOCKS = 1
#: A head this many blocks beyond what every other endpoint's head allows is a lie.
DEFAULT_LIE_AHEAD_BLOCKS = 4
#: The learned block interval is kept within these bounds (seconds).
MIN_INTERVAL_S = 0.05
MAX_INTERVAL_S = 60.0
#: An endpoint whose head has not risen for this many block intervals is not a witness against another.
FROZEN_INTERVALS = 3
#: Weight of the newest gap in the interval's moving average.
INTERVAL_WEIGHT = 0.3
#: While a block is overdue, probes go out this fraction of an interval apart, doubling up to the cap:
#: the first ones close together (the block is usually just late), then backing off (a missed slot).
PROBE_FRACTION = 0.02
MAX_PROBE_SPACING_S = 1.0


class HeadVerdict(Enum):
    OK = "ok"
    BEHIND = "behind"
    AHEAD_LIE = "ahead_lie"


class HeadTracker:
    """Per-endpoint heads, the best of them, the monotonic floor and the learned block interval."""

    __slots__ = ("ahead", "behind", "best", "best_at", "floor", "heads", "interval_s", "moved_at", "probe_at",
                 "probe_spacing", "seen_at", "tolerance", "top", "trailing")

    def __init__(self, tolerance_blocks: int = DEFAULT_TOLERANCE_BLOCKS,
                 lie_ahead_blocks: int = DEFAULT_LIE_AHEAD_BLOCKS) -> None:
        if tolerance_blocks < 0 or lie_ahead_blocks < 1:
            raise ValueError("tolerance_blocks must be >= 0 and lie_ahead_blocks >= 1")
        self.tolerance = tolerance_blocks
        self.ahead = lie_ahead_blocks
        self.heads: dict[str, int] = {}  # the latest head each endpoint reported
        self.seen_at: dict[str, float] = {}  # when it reported it
        self.moved_at: dict[str, float] = {}  # when its head last rose
        self.top: dict[str, int] = {}  # the highest head each endpoint reported
        self.behind: set[str] = set()  # endpoints whose latest head is beyond the tolerance
        self.trailing: set[str] = set()  # endpoints that reported, since the best rose, a top below it
        self.best: int | None = None
        self.best_at = 0.0  # when the best head last rose
        self.floor = -1  # the highest head handed out
        self.interval_s: float | None = None
        self.probe_at = -math.inf
        self.probe_spacing = 0.0

    # --- judging heads ------------------------------------------------------------------------

    def judge(self, name: str, head: int, now: float) -> HeadVerdict:
        """What `head` from `name` is worth, without recording it."""
        if self._far_ahead(name, head, now):
            return HeadVerdict.AHEAD_LIE
        if self.best is not None and head < self.best - self.tolerance:
            return HeadVerdict.BEHIND
        return HeadVerdict.OK

    def observe(self, name: str, head: int, now: float) -> HeadVerdict:
        """Judge `head` and record it unless it is a lie."""
        verdict = self.judge(name, head, now)
        if verdict is not HeadVerdict.AHEAD_LIE:
            self._record(name, head, now)
        return verdict

    def _far_ahead(self, name: str, head: int, now: float) -> bool:
        interval = self.interval_s
        if interval is None or self.best is None or head <= self.best + self.ahead:
            return False
        moving = FROZEN_INTERVALS * interval
        others = [(h, self.seen_at[n]) for n, h in self.heads.items()
                  if n != name and now - self.moved_at.get(n, -math.inf) <= moving]
        if len(others) < 2:
            return False  # with one other endpoint, nobody can tell which of the two is lying
        allowed = max(h + math.ceil(max(0.0, now - at) / interval) for h, at in others)
        return head > allowed + self.ahead

    def _record(self, name: str, head: int, now: float, fresh: bool = True) -> None:
        """Record a head; `fresh`: reported just now (an answer), not merged from a snapshot of unknown age."""
        if head > self.heads.get(name, -1):
            self.moved_at[name] = now
        self.heads[name] = head
        self.seen_at[name] = now
        top = self.top[name] = max(head, self.top.get(name, -1))  # an answer long in flight may be older
        if self.best is None or head > self.best:
            self._rise(head, now)
        else:
            self._judge_behind(name)
            if top < self.best:
                if fresh:
                    self.trailing.add(name)
            else:
                self.trailing.discard(name)

    def _rise(self, head: int, now: float) -> None:
        now = max(now, self.best_at)  # a synced head may carry an older time than the last rise
        if self.best is not None:
            gap = (now - self.best_at) / (head - self.best)
            gap = min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, gap))
            self.interval_s = gap if self.interval_s is None else (
                (1 - INTERVAL_WEIGHT) * self.interval_s + INTERVAL_WEIGHT * gap)
        self.best, self.best_at = head, now
        self.probe_at, self.probe_spacing = -math.inf, 0.0
        self.behind = {n for n, h in self.heads.items() if h < head - self.tolerance}
        self.trailing = set()  # every other report is older than this head

    def _judge_behind(self, name: str) -> None:
        assert self.best is not None
        if self.heads[name] < self.best - self.tolerance:
            self.behind.add(name)
        else:
            self.behind.discard(name)

    # --- what the client does with it ---------------------------------------------------------

    def deliver(self, head: int) -> int:
        """The head to hand out for an accepted answer of `head`: never below one handed out before."""
        if head > self.floor:
            self.floor = head
        return self.floor

    def forget(self, name: str) -> None:
        """An endpoint left the routes (quarantined, lagging, gone): its head no longer counts."""
        if self.heads.pop(name, None) is None:
            return
        self.seen_at.pop(name, None)
        self.moved_at.pop(name, None)
        self.top.pop(name, None)
        self.behind.discard(name)
        self.trailing.discard(name)
        if self.heads:
            best = max(self.heads.values())
            if self.best is not None and best < self.best:  # the best came from it: fall back, no interval sample
                self.best = best
                self.behind = {n for n, h in self.heads.items() if h < best - self.tolerance}
                self.trailing = {n for n in self.trailing if self.top.get(n, -1) < best}
        else:
            self.best = None

    def sync(self, routed: Mapping[str, tuple[int, float] | None], now: float) -> list[tuple[str, int]]:
        """Adopt the router's view: endpoints not routed are forgotten, heads from health checks merged.

        `routed` maps each routable endpoint to (head, when it was seen) from its snapshot, or None.
        Returns the (endpoint, head) pairs judged AHEAD_LIE, left unrecorded for the caller to verify."""
        for name in [n for n in self.heads if n not in routed]:
            self.forget(name)
        suspects = []
        for name, seen in routed.items():
            if seen is None or seen[0] <= self.heads.get(name, -1):
                continue
            head, at = seen[0], min(seen[1], now)
            if self.judge(name, head, now) is HeadVerdict.AHEAD_LIE:
                suspects.append((name, head))
            else:
                self._record(name, head, at, fresh=False)
        return suspects

    def pin_block(self, names: list[str]) -> int | None:
        """A block every one of `names` has (the lowest of their heads), or None if one head is unknown."""
        heads = [self.heads.get(n) for n in names]
        known = [h for h in heads if h is not None]
        return min(known) if known and len(known) == len(heads) else None

    def probe_due(self, now: float) -> bool:
        """True when a block is overdue and no probe went out lately; claims the probe when True."""
        if self.best is None or self.interval_s is None or now < self.best_at + self.interval_s:
            return False
        if now < self.probe_at + self.probe_spacing:
            return False
        self.probe_spacing = min(MAX_PROBE_SPACING_S, max(self.probe_spacing * 2, PROBE_FRACTION * self.interval_s))
        self.probe_at = now
        return True
