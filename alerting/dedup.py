"""Fingerprints and the dedup window.

Two alerts are the same condition when their type, key (or title, without a key) and resolved flag
agree; the priority and the data are not part of it, so a flapping value does not defeat dedup. A
repeat within `window_s` of the last accepted one is counted and dropped. A resolved alert always
passes once after a firing one, so the clear is never deduplicated away.
"""

from __future__ import annotations

import hashlib

import msgspec

from protocol.alerts import SendAlert

#: Repeats of one condition within this window are dropped (counted as deduplicated).
DEFAULT_DEDUP_WINDOW_S = 60.0


def condition_key(alert: SendAlert) -> str:
    return f"{alert.type.value}:{alert.key or alert.title}"


def fingerprint(alert: SendAlert) -> str:
    """16 hex digits over the condition and whether it is the clear."""
    text = f"{condition_key(alert)}|{'resolved' if alert.resolved else 'firing'}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class DedupState(msgspec.Struct, frozen=True):
    last_seen: dict[str, float] = {}  # fingerprint -> when it was last accepted


def observe(state: DedupState, fp: str, now: float, window_s: float) -> tuple[DedupState, bool]:
    """(new state, duplicate?). Entries older than the window are forgotten, so the state stays small."""
    last = state.last_seen.get(fp)
    if last is not None and now - last < window_s:
        return state, True
    kept = {k: t for k, t in state.last_seen.items() if now - t < window_s}
    kept[fp] = now
    return DedupState(last_seen=kept), False


def forget(state: DedupState, fp: str) -> DedupState:
    """Forget `fp` (its opposite was seen: a clear re-arms the firing alert and vice versa)."""
    if fp not in state.last_seen:
        return state
    return DedupState(last_seen={k: t for k, t in state.last_seen.items() if k != fp})
