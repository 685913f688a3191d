"""subscriptions — owns what callers subscribed to and keeps the chain feed flowing across endpoint failures.

It picks the active WebSocket endpoint (`ws:<name>`, in configured order), opens one stream there,
and feeds what arrives into the pure `ChainFeed`, which says what to deliver and what to backfill
over HTTP (through the `RpcClient`, so the backfill itself is routed, hedged and failed over). On a
lost stream, or a stalled one (no head for `stall_after_s`, i.e. N block times), it fails over to
the next endpoint that is not cooling down and resubscribes; the feed backfills the gap, so
subscribers get every head and every log in order, once. The other endpoints run heads-only standby
streams (`standby=True`): an active stream `lag_blocks` behind the best standby is failed over at
once, without waiting for the stall timeout (`chainfeed.selection`).

Subscribers are told `NewHead`, `LogEvent` and `Reorg` at their actor path.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

import msgspec

from chainfeed import ChainFeed, EmitHead, EmitLog, EmitReorg, FeedAction, FetchHeaders, FetchLogs
from chainfeed.selection import DEFAULT_LAG_BLOCKS, EndpointPicker
from chainfeed.wire import header_from_json, log_from_json
from protocol.chain import (
    BlockHeader,
    ChainLog,
    CloseStream,
    FeedCheckpoint,
    FeedStatus,
    HeadSeen,
    LogEvent,
    LogFilter,
    LogSeen,
    NewHead,
    OpenStream,
    Reorg,
    StreamLost,
    StreamOpened,
    Subscribe,
    Subscribed,
    SubscriptionKind,
    SubscriptionRecord,
    Unsubscribe,
)
from supervision import ActorContext, Handle, SupervisedActor
from supervision.errors import ActorError

#: A stream with no head for this long is stalled (3 blocks of 12 s; devnets pass N * their block time).
DEFAULT_STALL_AFTER_S = 36.0
#: How often the stall timer looks.
DEFAULT_STALL_CHECK_S = 0.25
#: Deadline of one backfill request; retries back off from RETRY_MIN_S.
DEFAULT_FETCH_TIMEOUT_S = 5.0
RETRY_MIN_S = 0.05
RETRY_MAX_S = 2.0


class _CheckStall(msgspec.Struct, frozen=True, tag=True):
    pass


class _Reopen(msgspec.Struct, frozen=True, tag=True):
    generation: int


class _Rewatch(msgspec.Struct, frozen=True, tag=True):
    endpoint: str


class _Fetch(msgspec.Struct, frozen=True, tag=True):
    action: FetchHeaders | FetchLogs


class _Fetched(msgspec.Struct, frozen=True, tag=True):
    action: FetchHeaders | FetchLogs
    result: Any


def filter_id(flt: LogFilter) -> str:
    """Same filter, same id: subscribers with equal filters share one node subscription."""
    return "f" + hashlib.sha256(msgspec.json.encode(flt)).hexdigest()[:10]


class SubscriptionManager(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        endpoints: Sequence[str],
        client: Any = None,
        network_path: str = "/network",
        stall_after_s: float | None = DEFAULT_STALL_AFTER_S,
        stall_check_s: float = DEFAULT_STALL_CHECK_S,
        fetch_timeout_s: float = DEFAULT_FETCH_TIMEOUT_S,
        standby: bool = True,
        lag_blocks: int = DEFAULT_LAG_BLOCKS,
    ) -> None:
        super().__init__(ctx)
        if not endpoints:
            raise ValueError("the subscription manager needs at least one WebSocket endpoint")
        if client is None:
            from rpc.client import RpcClient

            client = RpcClient(network_path=network_path)
        self.client = client  # RpcClient: abatch / arequest coroutines, submit() onto the io loop
        self.endpoints = list(endpoints)
        self.picker = EndpointPicker(self.endpoints, lag_blocks=lag_blocks)
        self.standby = standby and len(self.endpoints) > 1
        self.watch_epochs: dict[str, int] = {}  # standby endpoint -> its heads-only stream's epoch
        self.paths = {n: f"{network_path.rstrip('/')}/ws:{n}" for n in self.endpoints}
        self.stall_after_s = stall_after_s
        self.stall_check_s = stall_check_s
        self.fetch_timeout_s = fetch_timeout_s
        self.feed = ChainFeed()
        self.subs: dict[str, SubscriptionRecord] = {}
        self.filters: dict[str, LogFilter] = {}
        self.active: str | None = None
        self.streaming = False  # the active stream has confirmed its subscriptions
        self.epoch = time.monotonic_ns() // 1000  # unique across incarnations: old streams are ignored
        self.epoch_counter = self.epoch
        self.last_head_at = time.monotonic()
        self.active_head = -1  # the highest head the active stream has shown in this epoch
        self.reopen_generation = 0
        self.stats: dict[str, int] = {
            "heads": 0, "logs": 0, "reorgs": 0, "failovers": 0, "stalls": 0,
            "lagging": 0, "backfilled_heads": 0, "backfilled_logs": 0, "fetch_errors": 0, "undeliverable": 0,
            "rejected_logs": 0,
        }  # fmt: skip
        self.last_failover = ""
        self._dirty = False

    def on_start(self) -> None:
        previous = Handle(self.ctx.path).snapshot() if self.ctx.incarnation > 1 else None
        if isinstance(previous, FeedCheckpoint):
            self._resume(previous)
        self._publish()  # also replaces whatever an earlier tree left at this path
        self._open(self.endpoints[0])
        for name in self.endpoints[1:]:
            self._watch(name)
        if self.stall_after_s is not None:
            self.ctx.send_interval(self.stall_check_s, _CheckStall())

    def on_terminate(self) -> None:
        if self.active is not None:
            self._tell(self.paths[self.active], CloseStream(self.epoch))
        for name, epoch in self.watch_epochs.items():
            self._tell(self.paths[name], CloseStream(epoch))

    # ---- messages ------------------------------------------------------------------------------

    def receive(self, msg: object) -> object:
        answer = self._handle(msg)
        if self._dirty:
            self._publish()
        return answer

    def _handle(self, msg: object) -> object:
        match msg:
            case HeadSeen() if msg.epoch == self.epoch:
                self.last_head_at = time.monotonic()
                self.active_head = max(self.active_head, msg.header.number)
                self.picker.saw_head(msg.endpoint, msg.header.number)
                self._act(self.feed.on_head(msg.epoch, msg.header))
            case HeadSeen() if msg.epoch == self.watch_epochs.get(msg.endpoint):
                self.picker.saw_head(msg.endpoint, msg.header.number)
                active, ahead = self.active, None
                if active is not None and self.streaming and self.active_head >= 0:
                    ahead = self.picker.lagging(active, self.active_head)
                if active is not None and ahead is not None:
                    self.stats["lagging"] += 1
                    self._fail_over(active, f"{ahead[1]} blocks behind {ahead[0]}")
            case LogSeen() if msg.epoch == self.epoch:
                flt = self.filters.get(msg.filter_id)
                if flt is not None and not flt.matches(msg.log):
                    self.stats["rejected_logs"] += 1  # an endpoint that lies about its filter
                else:
                    self._act(self.feed.on_log(msg.epoch, msg.filter_id, msg.log))
            case StreamOpened() if msg.epoch == self.epoch:
                self.last_head_at, self.streaming = time.monotonic(), True
                self._act(self.feed.start_epoch(msg.epoch))
                best = self.picker.best_head()
                if best is not None:  # heads other streams showed (why we failed over): fetch, don't wait
                    self._act(self.feed.on_tip(best[1]))
            case StreamLost() if msg.epoch == self.epoch:
                self._fail_over(msg.endpoint, msg.reason)
            case StreamLost() if msg.epoch == self.watch_epochs.get(msg.endpoint):
                del self.watch_epochs[msg.endpoint]
                self.ctx.send_after(self.picker.failed(msg.endpoint, time.monotonic()), _Rewatch(msg.endpoint))
            case _Rewatch():
                self._watch(msg.endpoint)
            case _CheckStall():
                stalled = time.monotonic() - self.last_head_at > (self.stall_after_s or float("inf"))
                if self.active is not None and stalled:
                    self.stats["stalls"] += 1
                    self._fail_over(self.active, f"no head for {self.stall_after_s:g}s")
            case _Reopen() if msg.generation == self.reopen_generation and self.active is None:
                self._open(self.picker.pick(time.monotonic())[0])
            case _Fetch():
                self._start_fetch(msg.action)
            case _Fetched():
                self._fetched(msg.action, msg.result)
            case Subscribe():
                return self._subscribe(msg)
            case Unsubscribe():
                self._unsubscribe(msg.subscription_id)
            case FeedStatus():
                return self.status()
        return None

    def status(self) -> dict[str, Any]:
        head = self.feed.head
        return {
            "active": self.active,
            "streaming": self.streaming,
            "epoch": self.epoch,
            "head": head.number if head else None,
            "subscriptions": len(self.subs),
            "filters": len(self.filters),
            "failures": {n: f for n, f in self.picker.failures.items() if f},
            "standby": sorted(self.watch_epochs),
            "heads_seen": dict(self.picker.heads),
            "last_failover": self.last_failover,
            **self.stats,
        }

    # ---- checkpoints: a restarted incarnation resumes where the last one left off -------------------

    def _publish(self) -> None:
        head, cursors, starts, recent = self.feed.checkpoint()
        subs = tuple(self.subs.values())
        self.publish(FeedCheckpoint(head, cursors, starts, dict(self.filters), subs, recent))
        self._dirty = False

    def _resume(self, cp: FeedCheckpoint) -> None:
        self.subs = {s.id: s for s in cp.subscriptions}
        self.filters = dict(cp.filters)
        self.feed.resume(cp.head, cp.cursors, {f: cp.filter_starts.get(f) for f in self.filters}, cp.recent)
        self.log.info("resumed after head {} with {} subscriptions", cp.head and cp.head.number, len(self.subs))

    # ---- subscriptions ---------------------------------------------------------------------------

    def _subscribe(self, msg: Subscribe) -> Subscribed:
        fid = None
        if msg.kind is SubscriptionKind.LOGS:
            flt = msg.filter or LogFilter()
            fid = filter_id(flt)
        for sub in self.subs.values():
            if (sub.kind, sub.subscriber_path, sub.filter_id) == (msg.kind, msg.subscriber_path, fid):
                return Subscribed(sub.id, sub.kind, self._next_block())
        sub_id = f"{msg.kind.value}:{fid or 'heads'}:{msg.subscriber_path}"  # the idempotency key
        sub = SubscriptionRecord(sub_id, msg.kind, msg.subscriber_path, fid)
        self.subs[sub.id] = sub
        self._dirty = True
        if fid is not None and fid not in self.filters:
            self.filters[fid] = msg.filter or LogFilter()
            self.feed.add_filter(fid)
            if self.active is not None:
                self._open(self.active)  # resubscribe with the new filter; the feed covers the seam
        return Subscribed(sub.id, sub.kind, self._next_block())

    def _unsubscribe(self, sub_id: str) -> None:
        sub = self.subs.pop(sub_id, None)
        self._dirty = True
        if sub and sub.filter_id and not any(s.filter_id == sub.filter_id for s in self.subs.values()):
            del self.filters[sub.filter_id]
            self.feed.remove_filter(sub.filter_id)

    def _next_block(self) -> int | None:
        return self.feed.head.number + 1 if self.feed.head else None

    # ---- streams and failover -----------------------------------------------------------------------

    def _new_epoch(self) -> int:
        self.epoch_counter += 1
        return self.epoch_counter

    def _open(self, endpoint: str) -> None:
        """Make `endpoint` the active stream (logs for every filter, then newHeads)."""
        if self.active is not None and self.active != endpoint:
            self._tell(self.paths[self.active], CloseStream(self.epoch))
            self.ctx.send_after(0.0, _Rewatch(self.active))
        self.watch_epochs.pop(endpoint, None)  # its standby stream is replaced by the full one
        self.epoch = self._new_epoch()
        self.active, self.streaming, self.active_head = endpoint, False, -1
        self.last_head_at = time.monotonic()
        order = OpenStream(self.epoch, tuple(self.filters.items()), self.ctx.path)
        if not self._tell(self.paths[endpoint], order):
            self._fail_over(endpoint, "ws actor unavailable")

    def _watch(self, endpoint: str) -> None:
        """A heads-only standby stream on `endpoint`: how far it has got, for picking and lag checks."""
        if not self.standby or endpoint == self.active or endpoint in self.watch_epochs:
            return
        epoch = self.watch_epochs[endpoint] = self._new_epoch()
        if not self._tell(self.paths[endpoint], OpenStream(epoch, (), self.ctx.path)):
            del self.watch_epochs[endpoint]
            self.ctx.send_after(self.picker.failed(endpoint, time.monotonic()), _Rewatch(endpoint))

    def _fail_over(self, endpoint: str, reason: str) -> None:
        cooldown = self.picker.failed(endpoint, time.monotonic())
        self.stats["failovers"] += 1
        self.last_failover = f"{endpoint}: {reason}"
        self.log.warning("ws stream on {} lost ({}); failing over", endpoint, reason)
        self._tell(self.paths[endpoint], CloseStream(self.epoch))
        self.active, self.streaming = None, False
        self.epoch = self._new_epoch()  # anything still in flight from that stream is now stale
        self.ctx.send_after(cooldown, _Rewatch(endpoint))  # back as a standby once cooled down
        nxt, wait = self.picker.pick(time.monotonic(), after=endpoint)
        if wait <= 0:
            self._open(nxt)
        else:
            self.reopen_generation += 1
            self.ctx.send_after(wait, _Reopen(self.reopen_generation))

    def _tell(self, path: str, msg: object) -> bool:
        try:
            Handle(path).tell(msg)
            return True
        except ActorError:
            return False

    # ---- acting on the feed's decisions ----------------------------------------------------------------

    def _act(self, actions: list[FeedAction]) -> None:
        for a in actions:
            self._dirty = self._dirty or not isinstance(a, FetchHeaders | FetchLogs)
            match a:
                case EmitHead(header=h, via_stream=streamed):
                    via = (self.active or "stream") if streamed else "backfill"
                    self.stats["heads"] += 1
                    self.stats["backfilled_heads"] += not streamed
                    head = NewHead(h.number, h.hash, h.parent_hash, h.timestamp, via)
                    for sub in self.subs.values():
                        if sub.kind is SubscriptionKind.NEW_HEADS:
                            self._deliver(sub, head)
                case EmitLog(filter_id=fid, log=log, via_stream=streamed):
                    via = (self.active or "stream") if streamed else "backfill"
                    self.stats["logs"] += 1
                    self.stats["backfilled_logs"] += not streamed
                    for sub in self.subs.values():
                        if sub.filter_id == fid:
                            self._deliver(sub, LogEvent(sub.id, log, via))
                case EmitReorg():
                    self.stats["reorgs"] += 1
                    reorg = Reorg(a.depth, a.fork.number, a.fork.hash, a.old_head_hash)
                    for sub in {s.subscriber_path: s for s in self.subs.values()}.values():
                        self._deliver(sub, reorg)  # once per subscriber, whatever it subscribed to
                case FetchHeaders() | FetchLogs():
                    if a.attempt == 0:
                        self._start_fetch(a)
                    else:
                        self.ctx.send_after(min(RETRY_MAX_S, RETRY_MIN_S * 2 ** (a.attempt - 1)), _Fetch(a))

    def _deliver(self, sub: SubscriptionRecord, msg: object) -> None:
        if not self._tell(sub.subscriber_path, msg):
            self.stats["undeliverable"] += 1

    def _start_fetch(self, action: FetchHeaders | FetchLogs) -> None:
        coro: Coroutine[Any, Any, Any]
        if isinstance(action, FetchHeaders):
            coro = fetch_headers(self.client, action.first, action.last, self.fetch_timeout_s)
        else:
            coro = fetch_logs(self.client, action.first, action.last, dict(self.filters), self.fetch_timeout_s)
        self.ctx.pipe(self.client.submit(coro), lambda result: _Fetched(action, result))

    def _fetched(self, action: FetchHeaders | FetchLogs, result: Any) -> None:
        failed = isinstance(result, BaseException)
        if failed:
            self.stats["fetch_errors"] += 1
            self.log.info("backfill {} failed: {}", type(action).__name__, result)
        if isinstance(action, FetchHeaders):
            self._act(self.feed.on_headers_failed(action) if failed else self.feed.on_headers(action, result))
        else:
            self._act(self.feed.on_logs_failed(action) if failed else self.feed.on_logs(action, result))


async def fetch_headers(client: Any, first: int, last: int, timeout_s: float) -> list[BlockHeader]:
    """Canonical headers first..last in one batch; heights the node does not have yet are left out."""
    calls = [("eth_getBlockByNumber", [hex(n), False]) for n in range(first, last + 1)]
    answers = await client.abatch(calls, timeout=timeout_s)
    return [header_from_json(a.result) for a in answers if a.error is None and a.result is not None]


async def fetch_logs(
    client: Any, first: int, last: int, filters: Mapping[str, LogFilter], timeout_s: float
) -> dict[str, list[ChainLog]]:
    """eth_getLogs first..last for every filter, concurrently."""

    async def one(flt: LogFilter) -> list[ChainLog]:
        params = {**flt.to_params(), "fromBlock": hex(first), "toBlock": hex(last)}
        result = await client.arequest("eth_getLogs", [params], timeout=timeout_s)
        if not isinstance(result, list):
            raise ValueError(f"eth_getLogs answered {type(result).__name__}, not a list")
        return [log for log in map(log_from_json, result) if flt.matches(log)]

    fids = list(filters)
    found = await asyncio.gather(*(one(filters[f]) for f in fids))
    return dict(zip(fids, found))
