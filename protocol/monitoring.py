"""The monitoring service's settings: log sinks, rotation and retention, the audit trail, traces.

Retention defaults keep a week of logs and a month of audit within a stated budget (README,
"Retention and disk budget"): logs rotate at 100 MB or daily, rotated files are gzipped (JSON
lines compress about 10:1) and kept 7 days; audit segments close daily (or at 64 MB) and whole
segments older than 30 days are deleted; traces live in memory only, the last 10,000.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

LOG_FORMATS = ("text", "json")
COMPRESSIONS = ("gz", "bz2", "xz", "zip", "none")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)", re.IGNORECASE)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?|w|weeks?)",
                       re.IGNORECASE)
_BYTES = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class Rotation(msgspec.Struct, frozen=True):
    """Rotate a log file when it passes max_bytes, or every every_s, whichever comes first."""

    max_bytes: int | None = 100 * 1024**2
    every_s: float | None = 86400.0


class Retention(msgspec.Struct, frozen=True):
    """Keep this many rotated files, or the ones younger than max_age_s (exactly one is set)."""

    count: int | None = None
    max_age_s: float | None = 7 * 86400.0


class MonitoringConfig(msgspec.Struct, frozen=True):
    log_format: str = "text"  # the terminal's; the file sink is always JSON lines
    log_dir: str = ""  # "" means <DATA_DIR>/logs
    log_rotation: Rotation = Rotation()
    log_retention: Retention = Retention()
    log_compression: str = "gz"
    audit_dir: str = ""  # "" means <DATA_DIR>/audit
    audit_retention_s: float = 30 * 86400.0
    audit_segment_s: float = 86400.0
    audit_segment_bytes: int = 64 * 1024**2
    tracing: bool = True
    trace_store_size: int = 10_000
    otlp_endpoint: str | None = None  # OTEL_EXPORTER_OTLP_ENDPOINT: spans also exported over OTLP/HTTP


class BadMonitoringValue(ValueError):
    pass


def parse_size(text: str) -> int | None:
    m = _SIZE.fullmatch(text.strip())
    return int(float(m.group(1)) * _BYTES[m.group(2).lower()]) if m else None


def parse_duration(text: str) -> float | None:
    m = _DURATION.fullmatch(text.strip())
    return float(m.group(1)) * _SECONDS[m.group(2)[0].lower()] if m else None


def parse_rotation(raw: Any) -> Rotation:
    """`100 MB`, `1 day`, or both: `100 MB, 1 day` (whichever comes first)."""
    size: int | None = None
    every: float | None = None
    for part in str(raw).split(","):
        s, d = parse_size(part), parse_duration(part)
        if s is not None and s > 0 and size is None:
            size = s
        elif d is not None and d > 0 and every is None:
            every = d
        else:
            raise BadMonitoringValue(f"has {part.strip()!r}, which is not one size (100 MB) or one duration (1 day)")
    return Rotation(max_bytes=size, every_s=every)


def parse_retention(raw: Any) -> Retention:
    """A count of rotated files (`10`) or an age (`7 days`)."""
    text = str(raw).strip()
    if text.isdigit() and int(text) > 0:
        return Retention(count=int(text), max_age_s=None)
    age = parse_duration(text)
    if age is None or age <= 0:
        raise BadMonitoringValue("is not a count of files (10) or an age (7 days)")
    return Retention(count=None, max_age_s=age)


def parse_duration_value(raw: Any) -> float:
    """A positive duration (`30 days`, `12 h`) in seconds."""
    value = parse_duration(str(raw))
    if value is None or value <= 0:
        raise BadMonitoringValue("is not a duration (30 days, 12 h)")
    return value
