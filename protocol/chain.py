"""What the chain feed says: block heads, logs, reorgs, and the subscriptions callers ask for.

Subscribers get `NewHead`, `LogEvent` and `Reorg` told to their actor path. The feed guarantees
heads in block order, each once; logs in (block, log index) order, each once, every log after the
head of its block. Between the WebSocket endpoint actors (`ws:<name>`) and the subscription
manager travel `StreamOpened`, `HeadSeen`, `LogSeen` and `StreamLost`, stamped with the stream
epoch so a late message from an abandoned connection is recognised and ignored.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class BlockHeader(msgspec.Struct, frozen=True):
    """The part of a block header the feed needs; hashes are 0x-prefixed lowercase hex."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int = 0


class ChainLog(msgspec.Struct, frozen=True):
    """One log as a node returns it (eth_getLogs or a `logs` subscription notification)."""

    address: str
    topics: tuple[str, ...]
    data: str
    block_number: int
    block_hash: str
    transaction_hash: str
    transaction_index: int
    log_index: int
    removed: bool = False

    @property
    def key(self) -> tuple[int, int]:
        """Position on the chain: logs are delivered in this order."""
        return (self.block_number, self.log_index)


class LogFilter(msgspec.Struct, frozen=True):
    """eth_subscribe / eth_getLogs filter: any of `addresses`; `topics[i]` is None (any) or alternatives."""

    addresses: tuple[str, ...] = ()
    topics: tuple[tuple[str, ...] | None, ...] = ()

    def to_params(self) -> dict[str, object]:
        params: dict[str, object] = {}
        if self.addresses:
            params["address"] = list(self.addresses)
        if self.topics:
            params["topics"] = [None if t is None else list(t) for t in self.topics]
        return params

    def matches(self, log: ChainLog) -> bool:
        if self.addresses and log.address.lower() not in {a.lower() for a in self.addresses}:
            return False
        for i, wanted in enumerate(self.topics):
            if wanted is None:
                continue
            if i >= len(log.topics) or log.topics[i].lower() not in {t.lower() for t in wanted}:
                return False
        return True


class SubscriptionKind(StrEnum):
    NEW_HEADS = "newHeads"
    LOGS = "logs"


# ---- what callers say to the subscription manager -------------------------------------------


class Subscribe(msgspec.Struct, frozen=True, tag=True):
    """Ask the feed for heads or logs; answered (ask) with `Subscribed`. Re-subscribing is idempotent."""

    kind: SubscriptionKind
    subscriber_path: str
    filter: LogFilter | None = None


class Subscribed(msgspec.Struct, frozen=True, tag=True):
    subscription_id: str
    kind: SubscriptionKind
    from_block: int | None  # the first block this subscriber will hear about (None: the next head)


class Unsubscribe(msgspec.Struct, frozen=True, tag=True):
    subscription_id: str


# ---- what subscribers are told ---------------------------------------------------------------


class NewHead(msgspec.Struct, frozen=True, tag=True):
    """A block on the canonical chain, delivered in order. `via` is the endpoint or "backfill"."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int
    via: str


class LogEvent(msgspec.Struct, frozen=True, tag=True):
    """A log matching `subscription_id`'s filter, delivered after its block's `NewHead`."""

    subscription_id: str
    log: ChainLog
    via: str


class Reorg(msgspec.Struct, frozen=True, tag=True):
    """The chain switched branches: blocks above `fork_number` were replaced (`depth` of them).

    Heads and logs for the new branch follow, starting at `fork_number + 1`.
    """

    depth: int
    fork_number: int
    fork_hash: str
    old_head_hash: str


# ---- between ws:<name> actors and the subscription manager ------------------------------------


class OpenStream(msgspec.Struct, frozen=True, tag=True):
    """Manager -> ws:<name>: connect, subscribe logs for each filter (first), then newHeads."""

    epoch: int
    filters: tuple[tuple[str, LogFilter], ...]  # (filter id, filter)
    sink_path: str


class CloseStream(msgspec.Struct, frozen=True, tag=True):
    epoch: int


class StreamOpened(msgspec.Struct, frozen=True, tag=True):
    endpoint: str
    epoch: int


class HeadSeen(msgspec.Struct, frozen=True, tag=True):
    endpoint: str
    epoch: int
    header: BlockHeader


class LogSeen(msgspec.Struct, frozen=True, tag=True):
    endpoint: str
    epoch: int
    filter_id: str
    log: ChainLog


class StreamLost(msgspec.Struct, frozen=True, tag=True):
    endpoint: str
    epoch: int
    reason: str


class SubscriptionRecord(msgspec.Struct, frozen=True):
    id: str
    kind: SubscriptionKind
    subscriber_path: str
    filter_id: str | None


class FeedCheckpoint(msgspec.Struct, frozen=True, tag=True):
    """The subscription manager's published state, the one a restarted incarnation resumes from.

    `head` is the last head delivered; `cursors` the last (block, log index) delivered per filter;
    `filter_starts` the first block each filter covers. Resuming backfills from there, so a crash
    of the manager costs subscribers nothing. `recent` holds the headers delivered below `head` (the
    feed's fork-finding window), so a restarted incarnation can tell where a reorg that happened
    meanwhile leaves the subscribers' chain.
    """

    head: BlockHeader | None
    cursors: dict[str, tuple[int, int]]
    filter_starts: dict[str, int | None]
    filters: dict[str, LogFilter]
    subscriptions: tuple[SubscriptionRecord, ...]
    recent: tuple[BlockHeader, ...] = ()


class FeedStatus(msgspec.Struct, frozen=True, tag=True):
    """Ask the manager (or read its snapshot) for the feed's state."""
