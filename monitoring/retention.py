"""Retention rules (pure): which rotated log files go, and when a log file is due to rotate.

Audit segments have their own rule next to the chain (monitoring.audit.prunable): whole segments only,
oldest first, never the one being written, so what remains still verifies.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.monitoring import Retention, Rotation


def due(rule: Rotation, size: int, incoming: int, opened_at: float, now: float) -> bool:
    """A file of `size` bytes opened at `opened_at` rotates before `incoming` more bytes go in when the
    line would take it past max_bytes (an empty file always takes it), or every_s has passed."""
    if rule.every_s is not None and now - opened_at >= rule.every_s:
        return size > 0
    return rule.max_bytes is not None and size > 0 and size + incoming > rule.max_bytes


def doomed(rotated: Sequence[tuple[str, float]], rule: Retention, now: float) -> list[str]:
    """The rotated files (name, modification time) to delete: beyond the newest `count`, or older than
    max_age_s."""
    newest_first = sorted(rotated, key=lambda f: (f[1], f[0]), reverse=True)
    if rule.count is not None:
        return [name for name, _ in newest_first[rule.count:]]
    if rule.max_age_s is not None:
        return [name for name, mtime in newest_first if now - mtime > rule.max_age_s]
    return []
