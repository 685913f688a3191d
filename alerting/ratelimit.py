"""Token buckets: one per channel and one global, checked together.

A bucket holds at most `burst` tokens and refills at `rate_per_s`. `take` succeeds only when every
bucket asked has a token, and then takes one from each (all or nothing), so a message refused by the
global bucket does not spend its channel's token. `ready_at` says when a take would succeed.
"""

from __future__ import annotations

import math

import msgspec

#: A bucket this close below a whole token holds one: refill's float sums land a hair under 1.0 at the
#: very time `ready_at` names, and a caller told "ready now" must then succeed, not spin.
WHOLE_TOKEN_EPS = 1e-9


class Bucket(msgspec.Struct, frozen=True):
    rate_per_s: float
    burst: float
    tokens: float
    updated_at: float

    def __post_init__(self) -> None:
        if not (self.rate_per_s > 0 and self.burst >= 1):
            raise ValueError("a token bucket needs rate_per_s > 0 and burst >= 1")


def full(rate_per_s: float, burst: float, now: float) -> Bucket:
    return Bucket(rate_per_s=rate_per_s, burst=burst, tokens=burst, updated_at=now)


def refill(bucket: Bucket, now: float) -> Bucket:
    if now <= bucket.updated_at:
        return bucket
    tokens = min(bucket.burst, bucket.tokens + (now - bucket.updated_at) * bucket.rate_per_s)
    return msgspec.structs.replace(bucket, tokens=tokens, updated_at=now)


def ready_at(bucket: Bucket, now: float) -> float:
    """The earliest time at which the bucket holds a whole token (now when it already does)."""
    current = refill(bucket, now)
    if current.tokens >= 1.0 - WHOLE_TOKEN_EPS:
        return now
    return now + (1.0 - current.tokens) / current.rate_per_s


def take(buckets: tuple[Bucket, ...], now: float) -> tuple[tuple[Bucket, ...], bool]:
    """Take one token from every bucket, or from none."""
    current = tuple(refill(b, now) for b in buckets)
    if any(b.tokens < 1.0 - WHOLE_TOKEN_EPS for b in current):
        return current, False
    return tuple(msgspec.structs.replace(b, tokens=max(0.0, b.tokens - 1.0)) for b in current), True


def allowed_in(bucket: Bucket, start: float, end: float) -> int:
    """Upper bound of takes a bucket full at `start` allows in [start, end]: burst + rate * span."""
    return math.floor(bucket.burst + (end - start) * bucket.rate_per_s + 1e-9)
