"""Turn heads and logs seen on WebSocket streams into one gap-free, duplicate-free, ordered feed.

The model. A *stream* is one subscription on one endpoint, numbered by an *epoch*; the manager
starts a new epoch on every (re)connection or failover. On a stream the endpoint subscribes to logs
first and newHeads second, so every block whose head arrives on a stream has all its logs on that
stream too, and a node sends all of a block's notifications before the next block's. Hence:

- a block whose head came from the current stream gets its logs from the stream, and those logs are
  complete ("sealed") once the stream shows anything of a later block;
- every other block (a gap in the heads, a head of an abandoned stream not yet sealed) gets its
  logs from an HTTP backfill (eth_getLogs over the range), deduplicated against what was already
  delivered by (block number, log index).

Heads are delivered strictly by number, each once; a head whose parent is not the previous head
starts a probe of the ancestors (headers by number); where they differ from what was delivered is
the fork, announced by `EmitReorg(depth)` before the new branch is delivered from the fork up.
Logs are delivered per filter in (block, log index) order, once, each after its block's head.

What this cannot see: a stream that loses a log notification but not the heads around it (no
endpoint tells us how many logs a block had). The fault proxy's `wsstall` drops whole notifications
of both kinds, so heads reveal the gap and the backfill repairs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import msgspec

from protocol.chain import BlockHeader, ChainLog

#: Delivered headers kept to find a fork point; a reorg deeper than this is reported at this depth.
RECENT_WINDOW = 128
#: Ancestors fetched in one probe when a head does not link to the previous one.
REORG_PROBE = 64
#: Largest gap fetched in one request (headers) and one eth_getLogs range.
MAX_HEADER_BATCH = 100
MAX_LOG_RANGE = 1000

_BACKFILL = -1  # the "epoch" of a header that came from HTTP rather than a stream


class EmitHead(msgspec.Struct, frozen=True):
    header: BlockHeader
    via_stream: bool


class EmitLog(msgspec.Struct, frozen=True):
    filter_id: str
    log: ChainLog
    via_stream: bool


class EmitReorg(msgspec.Struct, frozen=True):
    depth: int
    fork: BlockHeader
    old_head_hash: str


class FetchHeaders(msgspec.Struct, frozen=True):
    """Fetch canonical headers first..last (inclusive) by number; `attempt` counts retries of this need."""

    first: int
    last: int
    attempt: int = 0
    ancestors: bool = False  # a reorg probe (our delivered range) rather than a gap


class FetchLogs(msgspec.Struct, frozen=True):
    """eth_getLogs first..last (inclusive) for every filter; answer with `ChainFeed.on_logs`."""

    first: int
    last: int
    attempt: int = 0


FeedAction = EmitHead | EmitLog | EmitReorg | FetchHeaders | FetchLogs


class ChainFeed:
    """The feed's state. Every `on_*` method returns the actions to take, in order."""

    def __init__(self) -> None:
        self.epoch: int | None = None
        self.head: BlockHeader | None = None
        self._head_epoch = _BACKFILL
        self._head_logs_done = False
        self._recent: dict[int, BlockHeader] = {}
        self._pending: dict[int, tuple[BlockHeader, int, int]] = {}  # number > head -> (header, epoch, arrival)
        self._strays: list[BlockHeader] = []  # heads at or below ours with another hash: a reorg hint
        self._filters: dict[str, int | None] = {}  # filter id -> first block it covers (None: next head)
        self._cursor: dict[str, tuple[int, int]] = {}  # filter id -> last delivered (block, index)
        self._held: dict[str, dict[tuple[int, int], tuple[ChainLog, int]]] = {}  # stream logs ahead of their head
        self._arrivals = 0  # stream notifications numbered in arrival order (sealing is about order)
        self._head_arrival = 0
        self._fetched: dict[int, dict[str, list[ChainLog]]] = {}  # backfilled logs by block
        self._headers_inflight: FetchHeaders | None = None
        self._logs_inflight: FetchLogs | None = None
        self._header_attempts = 0
        self._log_attempts = 0
        self._tip = -1  # the highest head another stream has shown: fetched up to without waiting for ours

    # ---- checkpoints -------------------------------------------------------------------------

    def checkpoint(
        self,
    ) -> tuple[BlockHeader | None, dict[str, tuple[int, int]], dict[str, int | None], tuple[BlockHeader, ...]]:
        """(last head delivered, last log key delivered per filter, first block per filter, the delivered
        headers kept to find a fork point)."""
        return self.head, dict(self._cursor), dict(self._filters), tuple(self._recent.values())

    def resume(
        self,
        head: BlockHeader | None,
        cursors: Mapping[str, tuple[int, int]],
        starts: Mapping[str, int | None],
        recent: Iterable[BlockHeader] = (),
    ) -> None:
        """Continue after `head` as a previous feed left off. The head's own logs are fetched again
        (the previous feed may have stopped half way through them); the cursors drop what was sent.

        `recent` are the headers the previous feed delivered below `head`: without them a reorg deeper
        than one block would be looked for in `head` alone, and the fork below it reported as the
        node's parent of its new block rather than what subscribers hold there (a new branch that
        does not link to their chain)."""
        for fid, start in starts.items():
            self._filters[fid] = start
            self._held[fid] = {}
        self._cursor = {f: c for f, c in cursors.items() if f in self._filters}
        if head is not None:
            self.head, self._head_epoch, self._head_logs_done = head, _BACKFILL, False
            window = range(head.number - RECENT_WINDOW + 1, head.number)
            self._recent = {h.number: h for h in recent if h.number in window}
            self._recent[head.number] = head

    # ---- inputs -----------------------------------------------------------------------------

    def add_filter(self, filter_id: str) -> None:
        """Start delivering logs for `filter_id` from the block after the current head."""
        if filter_id not in self._filters:
            self._filters[filter_id] = None if self.head is None else self.head.number + 1
            self._held[filter_id] = {}
            self._fetched = {}  # fetched without this filter

    def remove_filter(self, filter_id: str) -> None:
        self._filters.pop(filter_id, None)
        self._held.pop(filter_id, None)
        self._cursor.pop(filter_id, None)

    def start_epoch(self, epoch: int) -> list[FeedAction]:
        """A new stream is subscribed (logs, then heads). What the old one left unsealed is backfilled."""
        self.epoch = epoch
        if not self._head_logs_done:
            self._head_epoch = _BACKFILL
        self._pending = {n: (h, _BACKFILL, 0) for n, (h, _, _) in self._pending.items()}
        for held in self._held.values():
            held.clear()
        return self._advance()

    def on_tip(self, number: int) -> list[FeedAction]:
        """Another stream has shown a head at `number`, so the blocks up to it exist: backfill them now.

        Without this a gap is only seen when the stream shows a later head. After failing over from a
        stream that lagged behind a standby, the blocks the standby had already shown would wait for the
        next block (a block time later; on an idle chain, forever). A hint the node has not reached
        (another fork, a faster endpoint) is dropped once a fetch comes back short.
        """
        self._tip = max(self._tip, number)
        return self._advance()

    def on_head(self, epoch: int, header: BlockHeader) -> list[FeedAction]:
        if epoch != self.epoch:
            return []  # a late notification from an abandoned stream
        known = self._recent.get(header.number) or self._pending.get(header.number, (None, 0))[0]
        if known is not None and known.hash == header.hash:
            return []  # already seen: from this stream, another endpoint, or the backfill
        if self.head is not None and header.number <= self.head.number:
            if header.number >= min(self._recent):  # below our first head there is nothing to compare
                self._strays.append(header)
        else:
            self._arrivals += 1
            self._pending[header.number] = (header, epoch, self._arrivals)  # the latest word on a height wins
        return self._advance()

    def on_log(self, epoch: int, filter_id: str, log: ChainLog) -> list[FeedAction]:
        if epoch != self.epoch or filter_id not in self._filters or log.removed:
            return []
        head = self.head
        if head is not None and log.block_number <= head.number:
            if (
                log.block_number == head.number
                and log.block_hash == head.hash
                and self._head_epoch == epoch
                and not self._head_logs_done
            ):
                return list(self._deliver_logs(filter_id, [log], via_stream=True))
            return []  # an old block: its logs are complete already (or come from the backfill)
        self._arrivals += 1
        self._held[filter_id][log.key] = (log, self._arrivals)
        return self._advance()

    def on_headers(self, fetch: FetchHeaders, headers: Sequence[BlockHeader]) -> list[FeedAction]:
        """The answer to `fetch` (canonical headers by number; missing ones simply absent)."""
        if fetch != self._headers_inflight:
            return []
        self._headers_inflight = None
        by_number = {h.number: h for h in headers if fetch.first <= h.number <= fetch.last}
        head = self.head
        if fetch.ancestors:
            return self._resolve_fork(by_number) + self._advance()
        streamed_above = bool(self._pending)  # else the gap came from the tip hint alone
        for n, h in by_number.items():
            if head is None or n > head.number:
                self._pending.setdefault(n, (h, _BACKFILL, 0))
        progressed = all(n in by_number for n in range(fetch.first, fetch.last + 1))
        if not progressed:
            self._tip = min(self._tip, max(by_number, default=-1))  # the node is not there (yet)
        self._header_attempts = 0 if progressed or not streamed_above else self._header_attempts + 1
        return self._advance()

    def on_headers_failed(self, fetch: FetchHeaders) -> list[FeedAction]:
        if fetch == self._headers_inflight:
            self._headers_inflight = None
            self._header_attempts += 1
        return self._advance()

    def on_logs(self, fetch: FetchLogs, logs: Mapping[str, Iterable[ChainLog]]) -> list[FeedAction]:
        """The answer to `fetch`: every filter's logs in fetch.first..fetch.last."""
        if fetch != self._logs_inflight:
            return []
        self._logs_inflight = None
        self._log_attempts = 0
        for n in range(fetch.first, fetch.last + 1):
            self._fetched[n] = {fid: [] for fid in self._filters}
        for fid, items in logs.items():
            for log in items:
                if fid in self._filters and fetch.first <= log.block_number <= fetch.last and not log.removed:
                    self._fetched[log.block_number][fid].append(log)
        return self._advance()

    def on_logs_failed(self, fetch: FetchLogs) -> list[FeedAction]:
        if fetch == self._logs_inflight:
            self._logs_inflight = None
            self._log_attempts += 1
        return self._advance()

    def poll(self) -> list[FeedAction]:
        """Re-issue whatever fetch is needed (after a failed one was backed off)."""
        return self._advance()

    # ---- the engine --------------------------------------------------------------------------

    def _advance(self) -> list[FeedAction]:
        out: list[FeedAction] = []
        if self._strays and self.head is not None:
            self._probe(out)
        while not (self._headers_inflight and self._headers_inflight.ancestors):  # no delivery while probing
            if self.head is None:
                if not self._pending:
                    break
                n = min(self._pending)
                self._deliver_head(out, *self._pending.pop(n))
                continue
            if not self._head_logs_done and not self._finish_head_logs(out):
                break
            nxt = self._pending.get(self.head.number + 1)
            if nxt is None:
                self._fetch_gap(out)
                break
            if nxt[0].parent_hash != self.head.hash:
                self._probe(out)
                break
            del self._pending[self.head.number + 1]
            self._deliver_head(out, *nxt)
        return out

    def _deliver_head(self, out: list[FeedAction], header: BlockHeader, epoch: int, arrival: int) -> None:
        self.head, self._head_epoch, self._head_logs_done = header, epoch, False
        self._head_arrival = arrival
        self._recent[header.number] = header
        self._recent.pop(header.number - RECENT_WINDOW, None)
        self._fetched.pop(header.number - 1, None)
        for fid in self._filters:
            if self._filters[fid] is None:
                self._filters[fid] = header.number
        out.append(EmitHead(header, via_stream=epoch != _BACKFILL))
        for fid, held in self._held.items():
            logs = [held.pop(k)[0] for k in sorted(k for k in held if k[0] <= header.number)]
            if epoch != _BACKFILL:  # else the backfill brings this block's logs
                out.extend(self._deliver_logs(fid, [x for x in logs if x.block_hash == header.hash], True))

    def _finish_head_logs(self, out: list[FeedAction]) -> bool:
        """Complete the current head's logs if possible; False when waiting for the stream or a fetch."""
        head = self.head
        assert head is not None
        if self._head_epoch != _BACKFILL:
            # sealed by anything of a later block that arrived on the same stream *after* this head
            after = self._head_arrival
            sealed = any(
                n > head.number and e == self._head_epoch and a > after for n, (_, e, a) in self._pending.items()
            ) or any(k[0] > head.number and a > after for held in self._held.values() for k, (_, a) in held.items())
            self._head_logs_done = sealed
            return sealed
        fetched = self._fetched.get(head.number)
        if fetched is None:
            self._fetch_logs(out)
            return False
        if any(x.block_hash != head.hash for logs in fetched.values() for x in logs):
            self._fetched = {}  # the node's block at our head's height is another one: find the fork
            self._probe(out)
            return False
        for fid in self._filters:
            out.extend(self._deliver_logs(fid, sorted(fetched.get(fid, ()), key=lambda x: x.key), False))
        self._head_logs_done = True
        return True

    def _deliver_logs(self, fid: str, logs: Iterable[ChainLog], via_stream: bool) -> Iterable[EmitLog]:
        start = self._filters.get(fid)
        for log in logs:
            if start is None or log.block_number < start or log.key <= self._cursor.get(fid, (-1, -1)):
                continue
            self._cursor[fid] = log.key
            yield EmitLog(fid, log, via_stream)

    def _fetch_gap(self, out: list[FeedAction]) -> None:
        assert self.head is not None
        if self._headers_inflight is not None:
            return
        first = self.head.number + 1
        if self._pending:
            last = min(self._pending) - 1
        elif self._tip >= first:
            last = self._tip
        else:
            return
        last = min(last, first + MAX_HEADER_BATCH - 1)
        self._headers_inflight = FetchHeaders(first, last, self._header_attempts)
        out.append(self._headers_inflight)

    def _fetch_logs(self, out: list[FeedAction]) -> None:
        assert self.head is not None
        if self._logs_inflight is not None:
            return
        first = self.head.number
        streamed = [n for n, (_, e, _) in self._pending.items() if e != _BACKFILL]
        last = min(streamed) - 1 if streamed else max(self._pending, default=first)
        last = max(first, min(last, first + MAX_LOG_RANGE - 1))
        self._logs_inflight = FetchLogs(first, last, self._log_attempts)
        out.append(self._logs_inflight)

    def _probe(self, out: list[FeedAction]) -> None:
        """Fetch our delivered ancestors by number to see where the node's chain leaves ours."""
        assert self.head is not None
        if self._headers_inflight is not None:
            return
        first = max(min(self._recent), self.head.number - REORG_PROBE + 1)
        self._headers_inflight = FetchHeaders(first, self.head.number, self._header_attempts, ancestors=True)
        out.append(self._headers_inflight)

    def _resolve_fork(self, canonical: Mapping[int, BlockHeader]) -> list[FeedAction]:
        head = self.head
        assert head is not None
        strays, self._strays = self._strays, []
        if head.number not in canonical:  # the backend has not reached our height: ask again later
            self._header_attempts += 1
            return []
        self._header_attempts = 0
        lo, ours = min(canonical), self._recent
        same = [n for n in range(head.number, lo - 1, -1) if n in canonical and n in ours]
        fork = next((n for n in same if canonical[n].hash == ours[n].hash), None)
        if fork == head.number:
            # our chain stands: what did not link to it came from another branch; fetch that height again
            self._pending = {
                n: p
                for n, p in self._pending.items()
                if p[1] != _BACKFILL and (n != head.number + 1 or p[0].parent_hash == head.hash)
            }
            return []
        if fork is None:
            # below what we probed: report lo - 1; if that is still not common ground, the next head does
            # not link to it and a further probe reports the rest (a second Reorg), down to our window
            fork = lo - 1
        base = ours.get(fork) or BlockHeader(fork, canonical[lo].parent_hash, "", 0)
        for n in range(fork + 1, head.number + 1):
            self._recent.pop(n, None)
        self.head, self._head_epoch, self._head_logs_done = base, _BACKFILL, True
        self._pending = {n: p for n, p in self._pending.items() if n > fork}
        for n, h in canonical.items():
            if n > fork:
                self._pending[n] = (h, _BACKFILL, 0)
        for h in strays:
            if h.number > fork and h.number not in self._pending:
                self._pending[h.number] = (h, _BACKFILL, 0)
        self._fetched = {}
        for fid, (block, _) in list(self._cursor.items()):
            if block > fork:
                self._cursor[fid] = (fork, 1 << 62)
        # held stream logs stay: those of the new branch are delivered after their heads, the rest dropped
        return [EmitReorg(head.number - fork, base, head.hash)]
