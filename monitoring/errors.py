"""Error aggregation: every ERROR record and every actor crash gets a fingerprint, and the book counts
them. A new fingerprint, or a known one whose rate spikes, is an event for the alerting layer.

The fingerprint is the SHA-256 (first 12 hex digits) of the exception type, the code location and the
message with what varies between occurrences normalised away: hex (hashes, addresses), numbers, quoted
strings and UUIDs, so `nonce 41 too low for 0xabc...` and `nonce 42 too low for 0xdef...` are one error.
Pure: records in, (book, events) out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

import msgspec

#: A known fingerprint spikes when its count over SPIKE_WINDOW_S reaches SPIKE_FACTOR times its average
#: per window since first seen, and at least SPIKE_MIN occurrences.
SPIKE_WINDOW_S = 60.0
SPIKE_FACTOR = 5.0
SPIKE_MIN = 10
MAX_FINGERPRINTS = 1000  # the book forgets the least recently seen beyond this

_NORMALISE = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I), "<uuid>"),
    (re.compile(r"0x[0-9a-f]+", re.I), "<hex>"),
    (re.compile(r"\d+\.\d+(?:e[+-]?\d+)?", re.I), "<n>"),  # decimals before ids: their digits are not hex ids
    (re.compile(r"\b[0-9a-f]{16,}\b", re.I), "<id>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    (re.compile(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", re.I), "<n>"),
)


def normalise(message: str) -> str:
    text = message.splitlines()[0] if message else ""
    for pattern, token in _NORMALISE:
        text = pattern.sub(token, text)
    return text


def fingerprint(exc_type: str, location: str, message: str) -> str:
    return hashlib.sha256(f"{exc_type}|{location}|{normalise(message)}".encode()).hexdigest()[:12]


class ErrorGroup(msgspec.Struct, frozen=True):
    fingerprint: str
    exc_type: str
    location: str
    pattern: str  # the normalised message
    count: int
    first_seen: float
    last_seen: float
    example: str  # the first occurrence's (redacted) message
    example_trace_id: str | None
    actor: str
    window_start: float = 0.0
    window_count: int = 0


class NewError(msgspec.Struct, frozen=True, tag=True):
    group: ErrorGroup


class ErrorSpike(msgspec.Struct, frozen=True, tag=True):
    group: ErrorGroup
    in_window: int
    window_s: float
    usual: float  # the average per window before


ErrorEvent = NewError | ErrorSpike


class ErrorOccurrence(msgspec.Struct, frozen=True):
    exc_type: str
    location: str
    message: str
    at: float
    actor: str
    trace_id: str | None = None


def observe(book: Mapping[str, ErrorGroup], occ: ErrorOccurrence) -> tuple[dict[str, ErrorGroup], list[ErrorEvent]]:
    """The book with `occ` counted, and the events it raises (a new fingerprint, a spike)."""
    fp = fingerprint(occ.exc_type, occ.location, occ.message)
    groups = dict(book)
    known = groups.get(fp)
    events: list[ErrorEvent] = []
    if known is None:
        group = ErrorGroup(fingerprint=fp, exc_type=occ.exc_type, location=occ.location,
                           pattern=normalise(occ.message), count=1, first_seen=occ.at, last_seen=occ.at,
                           example=occ.message, example_trace_id=occ.trace_id, actor=occ.actor,
                           window_start=occ.at, window_count=1)
        events.append(NewError(group))
        if len(groups) >= MAX_FINGERPRINTS:
            oldest = min(groups.values(), key=lambda g: g.last_seen)
            del groups[oldest.fingerprint]
    else:
        start, in_window, before = known.window_start, known.window_count, known.count - known.window_count
        if occ.at - start >= SPIKE_WINDOW_S:  # a new window: everything so far is history
            start, in_window, before = occ.at, 0, known.count
        in_window += 1
        group = msgspec.structs.replace(known, count=known.count + 1, last_seen=occ.at, window_start=start,
                                        window_count=in_window)
        history_s = start - known.first_seen
        if history_s > 0:  # a rate needs a past to spike against
            usual = before / max(1.0, history_s / SPIKE_WINDOW_S)
            threshold = max(float(SPIKE_MIN), SPIKE_FACTOR * usual)
            if in_window - 1 < threshold <= in_window:  # fires once, as the window crosses it
                events.append(ErrorSpike(group, in_window, SPIKE_WINDOW_S, usual))
    groups[fp] = group
    return groups, events
