"""Aggregate a repeated warning: the first occurrence is logged in full, later ones as a periodic count.

Pure: the caller passes the clock and logs what `note` and `due` return. The devnet market
simulator uses it for "a market swap reverted", which otherwise floods the log once prices move.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: One summary line per this many seconds at most, while the warning keeps repeating.
SUMMARY_PERIOD_S = 30.0


@dataclass(frozen=True)
class WarningDigest:
    period_s: float = SUMMARY_PERIOD_S
    total: int = 0  # every occurrence so far
    pending: int = 0  # occurrences since the last line logged
    last_logged_at: float | None = None

    def note(self, now: float) -> tuple[WarningDigest, str | None]:
        """Count one occurrence: ("first", ...) the first time, a summary when one is due, else None."""
        counted = replace(self, total=self.total + 1, pending=self.pending + 1)
        if self.last_logged_at is None:
            return replace(counted, pending=0, last_logged_at=now), "first"
        return counted.due(now)

    def due(self, now: float) -> tuple[WarningDigest, str | None]:
        """A summary of the occurrences since the last line, if any are pending and a period has passed."""
        if self.pending == 0 or self.last_logged_at is None or now - self.last_logged_at < self.period_s:
            return self, None
        line = f"{self.pending} more in the last {now - self.last_logged_at:.0f}s ({self.total} in all)"
        return replace(self, pending=0, last_logged_at=now), line
