"""What the network layer says: endpoint config, request outcomes, health, routing table, operator commands.

The endpoint actors (`rpc:<name>`) are the single writers of their breaker and statistics; the
`RpcClient` (any thread) reports each request's outcome to them with `RequestOutcome`. The router
turns the endpoints' `EndpointSnapshot`s into an immutable `RoutingTable` that callers read without a
mailbox hop.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class FaultKind(StrEnum):
    """Why a request to an endpoint did not produce a usable answer (counted against that endpoint).

    Every fault is retryable elsewhere: a fault is by definition the endpoint's problem, never the
    request's (those come back as answers). All count as breaker failures except RATE_LIMITED, which
    parks the endpoint instead (eRPC's rule), STALE, which is a lag sample for the breaker, SLOW and
    UNCONFIRMED. LYING quarantines the endpoint (the outcome's detail is the evidence).
    """

    TIMEOUT = "timeout"  # no answer within the attempt's deadline
    CONNECTION = "connection"  # refused, reset, dropped mid-response
    HTTP_5XX = "http_5xx"
    RATE_LIMITED = "rate_limited"  # HTTP 429 or a JSON-RPC "limit exceeded": park, do not trip the breaker
    HTTP_STATUS = "http_status"  # any other non-200 status (4xx): a misconfigured endpoint
    GARBAGE = "garbage"  # not JSON-RPC: invalid JSON, HTML with status 200, wrong shape
    TRUNCATED = "truncated"  # the body ended early
    TOO_LARGE = "too_large"  # the body exceeded the configured cap
    MISMATCHED_ID = "mismatched_id"  # an answer for a request we did not send (or a batch answer missing one)
    SERVER_ERROR = "server_error"  # a JSON-RPC error that is the node's fault (internal error), not the call's
    WRONG_CHAIN = "wrong_chain"  # eth_chainId differs from the configured chain
    STALE = "stale"  # a head more than one block behind the best one reported (the outcome carries both)
    LYING = "lying"  # an answer other endpoints contradict (cross-check), or a head none of them can reach
    UNCONFIRMED = "unconfirmed"  # a head far ahead of the others, not taken until they are asked afresh
    SLOW = "slow"  # lost a hedge race and was cancelled: counted in its error rate, never a breaker failure


class EndpointConfig(msgspec.Struct, frozen=True):
    """One configured JSON-RPC endpoint. Lower priority numbers are preferred on a latency tie.

    `url` is the real URL and may embed an API key: it goes to the connection pool and nowhere else.
    Anything shown to people (snapshots, status, logs) uses `display_url`.
    """

    name: str
    url: str
    chain_id: int
    region: str = ""
    priority: int = 0

    def __repr__(self) -> str:
        return f"EndpointConfig(name={self.name!r}, url={self.display_url!r}, chain_id={self.chain_id})"

    @property
    def display_url(self) -> str:
        from protocol.secrets import redact_url

        return redact_url(self.url)


class RequestOutcome(msgspec.Struct, frozen=True, tag=True):
    """Told to an endpoint actor after each request the client sent it (the winner's and the losers')."""

    endpoint: str
    method: str
    latency_s: float
    fault: FaultKind | None = None
    retry_after_s: float | None = None  # with RATE_LIMITED: park the endpoint this long
    detail: str = ""
    head: int | None = None  # with STALE: the head the endpoint answered...
    best_head: int | None = None  # ...and the best one reported by any endpoint


class RequestOutcomes(msgspec.Struct, frozen=True, tag=True):
    """Several outcomes for one endpoint in one message: successes are batched for a few milliseconds so
    the endpoint actor wakes a few hundred times a second under load, not once per request."""

    endpoint: str
    outcomes: tuple[RequestOutcome, ...]


class HealthTick(msgspec.Struct, frozen=True, tag=True):
    """Timer message to an endpoint actor: run eth_chainId + eth_blockNumber now.

    `retry`: an extra check of an endpoint no check has passed yet; its failure does not count against
    the breaker (which sees failures at the health interval's pace, as without retries)."""

    retry: bool = False


class HealthResult(msgspec.Struct, frozen=True, tag=True):
    """The answer to a health check, piped back to the endpoint actor from the io loop."""

    latency_s: float
    chain_id: int | None = None
    head: int | None = None
    fault: FaultKind | None = None
    detail: str = ""


class BreakerWake(msgspec.Struct, frozen=True, tag=True):
    """Timer message: the breaker asked to be ticked now (OPEN's timeout, a park ending, a probe's timeout)."""


class PublishStats(msgspec.Struct, frozen=True, tag=True):
    """Timer message: republish the endpoint snapshot if the statistics changed."""


class ClearQuarantine(msgspec.Struct, frozen=True, tag=True):
    """An operator clears a QUARANTINED endpoint (console: `clear rpc:NAME`)."""

    endpoint: str


class EndpointSnapshot(msgspec.Struct, frozen=True, tag=True):
    """An endpoint actor's published view of itself; also told to the router on every change."""

    name: str
    url: str  # display_url: credentials masked
    chain_id: int
    region: str
    priority: int
    breaker: str  # STARTING (no health check passed yet) | CLOSED | OPEN | HALF_OPEN | LAGGING | QUARANTINED
    parked_until: float = 0.0  # time.monotonic() deadline of a 429 park
    head: int | None = None
    requests: int = 0
    ewma_s: float | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    error_rate: float = 0.0  # over the statistics window
    errors: dict[str, int] = {}
    in_flight: int = 0
    reason: str = ""  # why the breaker is in its state
    state_changes: int = 0  # breaker transitions since start: equal counts mean no state change in between
    checked: bool = False  # a health check has confirmed the chain id since start (or since a clear)
    published_at: float = 0.0
    head_at: float = 0.0  # time.monotonic() when `head` last rose


class EndpointRoute(msgspec.Struct, frozen=True):
    """One usable endpoint in the routing table, in rank order."""

    name: str
    url: str
    hedge_delay_s: float
    parked_until: float = 0.0


class RoutingTable(msgspec.Struct, frozen=True):
    """The router's published decision: endpoints usable for reads, best first.

    `excluded` names the endpoints left out and why (OPEN, QUARANTINED, LAGGING...), for the console.
    """

    chain_id: int
    routes: tuple[EndpointRoute, ...]
    best_head: int | None = None
    excluded: dict[str, str] = {}
    version: int = 0
    heads: dict[str, tuple[int, float]] = {}  # routable endpoint -> (head, when it last rose) from its snapshot
    stream_heads: dict[str, tuple[int, float]] = {}  # endpoint -> (highest newHeads its WebSocket showed, when)


class StreamHead(msgspec.Struct, frozen=True, tag=True):
    """ws:<name> -> router: the endpoint's WebSocket stream announced this head (newHeads). The router
    puts it in the table's `stream_heads`, so every client's head tracker hears of a block as it is pushed,
    not only when an endpoint it asks shows it."""

    endpoint: str
    head: int


class RoutingStatus(msgspec.Struct, frozen=True, tag=True):
    """Ask the router for its current table (the console's `routes` view)."""
