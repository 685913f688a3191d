"""The daily window: it starts at local midnight in a configurable IANA zone (UTC by default)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=32)
def _zone(tz: str) -> tzinfo:
    """UTC needs no tz database (a slim container may lack one); any other name goes to zoneinfo."""
    return UTC if tz in ("UTC", "Etc/UTC") else ZoneInfo(tz)


def zone_problem(tz: object) -> str | None:
    """Why `tz` cannot start a daily window (None when it can)."""
    if not isinstance(tz, str) or not tz:
        return f"{tz!r} is not a time zone name"
    try:
        _zone(tz)
    except (ValueError, OSError) as exc:  # ZoneInfoNotFoundError is a KeyError; bad keys are ValueErrors
        return f"unknown time zone {tz!r} ({type(exc).__name__})"
    except KeyError:
        return f"unknown time zone {tz!r}"
    return None


def day_start(now: float, tz: str = "UTC") -> float:
    """Epoch seconds of the local midnight that starts the day containing `now`."""
    zone = _zone(tz)
    local = datetime.fromtimestamp(now, zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return midnight.timestamp()


def next_day_start(start: float, tz: str = "UTC") -> float:
    """The midnight after the day that starts at `start` (23, 24 or 25 hours later across DST)."""
    zone = _zone(tz)
    local = datetime.fromtimestamp(start, zone)
    following = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
    return datetime(following.year, following.month, following.day, tzinfo=zone).timestamp()
