"""Routing policy, pure: rank endpoints, derive hedge delays, read Retry-After, spot "already known".

The router actor feeds `build_table` the endpoints' latest snapshots and publishes the result; the
`RpcClient` only reads it. Nothing here does I/O or reads a clock (time is passed in).
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from protocol.network import EndpointRoute, EndpointSnapshot, RoutingTable
from rpc.heads import DEFAULT_LIE_AHEAD_BLOCKS, DEFAULT_TOLERANCE_BLOCKS

#: Breaker states whose endpoints take read traffic. OPEN gets only its own HALF_OPEN probe (sent by the
#: endpoint actor), LAGGING would answer with a stale head, QUARANTINED lies about the chain.
ROUTABLE_STATES = frozenset({"CLOSED"})


@dataclass(frozen=True)
class RoutingPolicy:
    """How reads are routed and hedged. Defaults follow eRPC's shape: delay = clamp(p95 + base, min, max)."""

    hedge_base_s: float = 0.002
    hedge_min_s: float = 0.005
    hedge_max_s: float = 0.250
    hedge_tail_factor: float = 2.0  # hedge quantile = min(p95, factor * p50): see hedge_delay
    max_hedges: int = 1  # extra endpoints a read may be sent to while the first is still out
    loser_grace_s: float = 0.1  # how long a race's losers may still finish before they are cancelled
    attempt_timeout_s: float = 2.0  # one endpoint's deadline
    deadline_s: float = 5.0  # a call's whole deadline, retries and hedges included
    max_attempts: int = 3  # endpoints tried (hedges included) before giving up
    latency_bucket_s: float = 0.0005  # latencies this close rank as a tie (region, then priority decide)
    error_penalty: float = 10.0  # score = latency * (1 + error_penalty * error_rate)
    unmeasured_latency_s: float = 0.001  # assumed latency of an endpoint with no samples yet
    preferred_region: str = ""
    park_default_s: float = 1.0  # a 429 without a readable Retry-After
    park_max_s: float = 60.0
    head_tolerance_blocks: int = DEFAULT_TOLERANCE_BLOCKS  # an answer further behind the best head is retried
    lie_ahead_blocks: int = DEFAULT_LIE_AHEAD_BLOCKS  # a head this far beyond every other endpoint's is suspect
    consensus_sample_rate: float = 0.0  # share of reads cross-checked against the other endpoints (0: off)
    consensus_endpoints: int = 5  # at most this many endpoints answer one cross-check
    hedge_reads: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.hedge_min_s <= self.hedge_max_s:
            raise ValueError(f"hedge bounds must satisfy 0 <= min <= max, got {self.hedge_min_s}, {self.hedge_max_s}")
        if self.max_attempts < 1 or self.max_hedges < 0:
            raise ValueError("max_attempts must be >= 1 and max_hedges >= 0")
        if self.attempt_timeout_s <= 0 or self.deadline_s <= 0:
            raise ValueError("timeouts must be positive")
        if not 0.0 <= self.consensus_sample_rate <= 1.0:
            raise ValueError(f"consensus_sample_rate must be in [0, 1], got {self.consensus_sample_rate}")
        if self.head_tolerance_blocks < 0 or self.lie_ahead_blocks < 1 or self.consensus_endpoints < 3:
            raise ValueError("head_tolerance_blocks >= 0, lie_ahead_blocks >= 1 and consensus_endpoints >= 3")


def hedge_delay(
    p95_s: float | None, policy: RoutingPolicy, p50_s: float | None = None, fleet_p50_s: float | None = None
) -> float:
    """How long to wait for an endpoint before sending the same read to the next one.

    eRPC's clamp(quantile + base, min, max), with quantile = min(p95, k * p50, k * fleet p50), k being
    `hedge_tail_factor` and the fleet p50 the best routable endpoint's. An endpoint slow on 10% of calls
    has its p95 *inside* the slow tail (hedging after it comes too late), and with few samples even its
    median can sit there; a small multiple of a median, its own or the best one, says what a normal
    answer takes. The clamp keeps the delay sane when nothing is measured yet.
    """
    k = policy.hedge_tail_factor
    candidates = (p95_s, None if p50_s is None else k * p50_s, None if fleet_p50_s is None else k * fleet_p50_s)
    quantiles = [q for q in candidates if q is not None]
    if not quantiles:
        return policy.hedge_max_s
    return min(policy.hedge_max_s, max(policy.hedge_min_s, min(quantiles) + policy.hedge_base_s))


def score(snapshot: EndpointSnapshot, policy: RoutingPolicy) -> float:
    """Expected cost of a read in seconds: measured latency inflated by the recent error rate."""
    latency = snapshot.ewma_s if snapshot.ewma_s is not None else policy.unmeasured_latency_s
    return latency * (1.0 + policy.error_penalty * snapshot.error_rate)


def rank_key(snapshot: EndpointSnapshot, policy: RoutingPolicy) -> tuple[int, int, int, str]:
    """Sort key: latency/error bucket first, then preferred region, then configured priority, then name."""
    bucket = math.floor(score(snapshot, policy) / policy.latency_bucket_s) if policy.latency_bucket_s > 0 else 0
    off_region = 0 if policy.preferred_region and snapshot.region == policy.preferred_region else 1
    return bucket, off_region, snapshot.priority, snapshot.name


def build_table(
    chain_id: int,
    snapshots: Iterable[EndpointSnapshot],
    policy: RoutingPolicy,
    version: int = 0,
    urls: Mapping[str, str] | None = None,
    stream_heads: Mapping[str, tuple[int, float]] | None = None,
) -> RoutingTable:
    """The routing table for these endpoint snapshots: routable ones ranked best first, the rest excluded.

    `urls` maps endpoint names to their real URLs (snapshots carry only the masked display URL);
    `stream_heads` the heads the WebSocket streams announced, passed on for the clients' head trackers.
    """
    snaps = list(snapshots)
    routable = [s for s in snaps if s.breaker in ROUTABLE_STATES and s.chain_id == chain_id]
    routable.sort(key=lambda s: rank_key(s, policy))
    excluded = {
        s.name: s.breaker if s.chain_id == chain_id else f"chain {s.chain_id}"
        for s in snaps
        if s not in routable
    }
    heads = [s.head for s in snaps if s.head is not None and s.breaker != "QUARANTINED"]
    routed_heads = {s.name: (s.head, s.head_at) for s in routable if s.head is not None}
    fleet_p50 = min((s.p50_s for s in routable if s.p50_s is not None), default=None)
    routes = tuple(
        EndpointRoute(
            name=s.name,
            url=(urls or {}).get(s.name, s.url),
            hedge_delay_s=hedge_delay(s.p95_s, policy, s.p50_s, fleet_p50),
            parked_until=s.parked_until,
        )
        for s in routable
    )
    return RoutingTable(
        chain_id=chain_id, routes=routes, best_head=max(heads) if heads else None, excluded=excluded,
        version=version, heads=routed_heads, stream_heads=dict(stream_heads or {}),
    )


def plausible_best(heads: list[int], ahead_blocks: int) -> int | None:
    """The best head, leaving out heads further than `ahead_blocks` ahead of all the others (with at least
    three endpoints): one lying endpoint must not make every honest one look behind before it is caught."""
    ranked = sorted(heads, reverse=True)
    while len(ranked) >= 3 and ranked[0] > ranked[1] + ahead_blocks:
        ranked.pop(0)
    return ranked[0] if ranked else None


def parse_retry_after(value: str | None, now_wall: float, policy: RoutingPolicy) -> float:
    """Seconds to park for a 429: Retry-After as delta-seconds or an HTTP date, clamped to [0, park_max]."""
    if value is None or not value.strip():
        return policy.park_default_s
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return policy.park_default_s
        if when is None:
            return policy.park_default_s
        seconds = when.timestamp() - now_wall
    if math.isnan(seconds):
        return policy.park_default_s
    return min(policy.park_max_s, max(0.0, seconds))


_ALREADY_KNOWN = (
    "already known",
    "known transaction",
    "already imported",
    "already exists",
    "alreadyknown",
    "tx already in mempool",
    "transaction already in pool",
)


def is_already_known(message: str) -> bool:
    """True when a node's sendRawTransaction error means it already has this very transaction."""
    text = message.lower()
    return any(phrase in text for phrase in _ALREADY_KNOWN)


def is_nonce_too_low(message: str) -> bool:
    """"nonce too low" may mean our own transaction was already mined: check by hash before calling it a failure."""
    return "nonce too low" in message.lower()
