"""PoolState: the single writer of the watched pools' reserves, a thin shell over execution.reserve_book.

It looks at the chain whenever the feed (actors/subscriptions.py, `feed_path`) tells it a NewHead or
a Reorg, and on its own timer (every `poll_interval_s`: the fallback, or the only trigger without a
feed). A head is only a trigger: the look itself reads the blocks' headers and Sync logs by range
over HTTP and checks every parent hash, so one mechanism covers first start, catch-up after a gap
and reorgs alike. A look runs on the io loop (adapters.chain_reads) and comes back as one
ChainDelta message, so the mailbox never waits on a socket. Each applied delta publishes a new
MarketSnapshot (read lock-free by the strategy) and tells ReservesUpdated to the listeners.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec

from adapters.chain_reads import ChainReader, initial, poll
from execution.reserve_book import Discontinuity, GarbageAnswer, ReserveBook, apply_delta
from protocol.chain import NewHead, Reorg, Subscribe, Subscribed, SubscriptionKind
from protocol.market import (
    ChainDelta,
    ChainReadFailed,
    Factory,
    GetMarket,
    MarketSnapshot,
    PollChain,
    ReservesUpdated,
    RetryChainRead,
    WatchedPool,
    WatchPools,
)
from supervision import ActorContext, Backoff, Handle, SupervisedActor
from supervision.errors import ActorError
from supervision.io_loop import io_loop

DEFAULT_POLL_INTERVAL_S = 0.05  # loopback anvil answers in well under a millisecond
#: After a failed read, wait 0.2 s, 0.4 s, ... up to 30 s before the next one (no jitter: one reader),
#: and say so, so a bot whose endpoints are down shows it is retrying rather than idling.
READ_RETRY = Backoff(min_s=0.2, max_s=30.0, random_factor=0.0)
SUBSCRIBE_TIMEOUT_S = 5.0
SUBSCRIBE_RETRY_S = 1.0


class NoChange(msgspec.Struct, frozen=True, tag=True):
    """The chain's head is the book's head (a poll's empty answer)."""


class FeedAnswer(msgspec.Struct, frozen=True, tag=True):
    result: Any  # Subscribed, or the error of the Subscribe ask


class Resubscribe(msgspec.Struct, frozen=True, tag=True):
    pass


class PoolState(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        client: ChainReader,
        pools: Sequence[WatchedPool] = (),
        factories: Sequence[Factory] = (),
        listeners: Sequence[str] = (),
        blocked_tokens: Sequence[str] = (),
        poll_interval_s: float | None = DEFAULT_POLL_INTERVAL_S,
        feed_path: str | None = None,
    ) -> None:
        super().__init__(ctx)
        self.client = client
        self.factories = tuple(factories)
        self.listeners = tuple(Handle(path) for path in listeners)
        self.poll_interval_s = poll_interval_s
        self.feed = Handle(feed_path) if feed_path else None
        self.subscribed = False
        self.book = ReserveBook(blocked_tokens=frozenset(t.lower() for t in blocked_tokens)).watch(pools)
        self.snapshot: MarketSnapshot | None = None
        self.version = 0
        self.reading = False
        self.look_started = 0.0
        self.again = False
        self.failures = 0
        self.failures_in_row = 0
        self.retry_at: float | None = None  # monotonic time of the next read after a failure
        self.last_error = ""

    def on_start(self) -> None:
        self._look()
        if self.poll_interval_s:
            self.ctx.send_interval(self.poll_interval_s, PollChain())
        self._subscribe()

    def _subscribe(self) -> None:
        if self.feed is not None:
            ask = self.feed.ask_future(Subscribe(SubscriptionKind.NEW_HEADS, self.ctx.path), SUBSCRIBE_TIMEOUT_S)
            self.ctx.pipe(ask, FeedAnswer)

    def receive(self, msg: Any) -> Any:
        match msg:
            case PollChain() | NewHead() | Reorg():
                self._look()
            case ChainDelta():
                self._apply(msg)
            case NoChange():
                self._read_ok()
                self._done()
            case ChainReadFailed(reason=reason):
                self.failures += 1
                self.failures_in_row += 1
                delay = READ_RETRY.delay(self.failures_in_row - 1, 0.0)
                self.retry_at = time.monotonic() + delay
                self.log.warning("chain read failed ({} in a row): {}; next attempt in {:.1f}s",
                                 self.failures_in_row, reason, delay)
                self.last_error = reason
                self.ctx.send_after(delay, RetryChainRead())
                self.again = False  # the retry reads; polls and heads until then are not queued
                self._done()
            case RetryChainRead():
                self.retry_at = None
                self._look()
            case FeedAnswer(result=result):
                self.subscribed = isinstance(result, Subscribed)
                if not self.subscribed:
                    self.log.warning("feed subscription failed ({}); polling meanwhile, retrying", result)
                    self.ctx.send_after(SUBSCRIBE_RETRY_S, Resubscribe())
            case Resubscribe():
                self._subscribe()
            case GetMarket():
                return self.snapshot
            case WatchPools(pools=pools):
                self.book = self.book.watch(pools)
                self._look()
            case _:
                return super().receive(msg)
        return None

    def status(self) -> dict[str, Any]:
        snap = self.snapshot
        return {
            "head": snap.block_number if snap else None,
            "pools": len(snap.pools) if snap else 0,
            "faults": len(snap.faults) if snap else 0,
            "reorgs": self.book.reorgs,
            "read_failures": self.failures,
            "feed": self.subscribed,
        }

    # --- looking at the chain ------------------------------------------------------------------

    def _look(self) -> None:
        if self.retry_at is not None and time.monotonic() < self.retry_at:
            return  # backing off after a failed read; RetryChainRead reads again
        if self.reading:
            self.again = True
            return
        self.reading = True
        self.look_started = time.time()  # a new head found by this read was seen from now
        book, factories, client = self.book, self.factories, self.client

        async def look() -> object:
            try:
                if book.head is None:
                    return await initial(client, book, factories)
                return await poll(client, book, factories) or NoChange()
            except (Discontinuity, GarbageAnswer) as exc:
                return ChainReadFailed(f"inconsistent answers: {exc}")
            except Exception as exc:  # the node is down, slow, or lying: poll again later
                return ChainReadFailed(f"{type(exc).__name__}: {exc}")

        self.ctx.pipe(io_loop().submit(look()), lambda result: result)

    def _read_ok(self) -> None:
        if self.failures_in_row:
            self.log.info("chain reads succeed again after {} failure(s) in a row", self.failures_in_row)
        self.failures_in_row, self.retry_at = 0, None

    def _done(self) -> None:
        self.reading = False
        if self.again:
            self.again = False
            self._look()

    def _apply(self, delta: ChainDelta) -> None:
        try:
            book, changed = apply_delta(self.book, delta)
        except Discontinuity as exc:  # the chain moved under this read: read again
            self.log.info("stale chain delta dropped: {}", exc)
            self.again = True
            self._done()
            return
        reorged = book.reorgs != self.book.reorgs
        if reorged:
            self.log.warning("reorg: rewound to block {}, {} pool(s) re-read", delta.fork, len(delta.reads))
        new_faults = {f.address for f in book.faults.values()} - {f.address for f in self.book.faults.values()}
        for address in sorted(new_faults):
            fault = book.faults[address.lower()]
            self.log.warning("pool {} left out: {} ({})", fault.address, fault.kind.value, fault.detail)
        self._read_ok()
        self.book = book
        self.version += 1
        self.snapshot = book.snapshot(
            base_fee_wei=delta.base_fee_wei, timestamp=delta.head.timestamp, changed=changed, version=self.version
        )
        self.publish(self.snapshot)
        note = ReservesUpdated(delta.head.number, delta.head.hash, self.version, self.snapshot.changed,
                               seen_at=self.look_started)
        for listener in self.listeners:
            try:
                listener.tell(note)
            except ActorError:
                pass  # a restarting listener reads the snapshot when it is back
        self._done()
