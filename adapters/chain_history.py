"""Pool history from a node: chunked, resumable eth_getLogs through the bot's RPC layer, into the history store.

The I/O shell over backtest.ingest_plan (the planner, the checkpoint, the loop) and
backtest.ingest_logs (the decoder). Every read goes through `rpc.client.RpcClient`: the endpoint
pool with its routing, hedging and failover; nothing here opens a socket of its own.

A run: the chain's id and genesis (a checkpoint of another chain is never resumed), the head and the
final block (head - confirmations); with a factory scope, the PairCreated walk up to the final block
finds the pairs; then the Sync/Swap walk, chunk by chunk: the logs, every block's header (timestamp,
base fee, hash; one JSON-RPC batch per `HEADER_BATCH` blocks), the checks (each log's blockHash is
its block's, each header's parent is the previous block's: a chain that changed under us stops the
run with the block named), the part's files, the checkpoint. Last, the pairs' tokens and the
tokens' symbols and decimals are read at the final block and the parts are assembled into the
history directory (persistence.ingest_store).

A refusal (an error answer saying the range or its result is too large, or no endpoint answering
within the timeout) halves the range; other failures stop the run, resumable.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from eth_utils import to_checksum_address
from loguru import logger

from backtest.history import History, HistoryMeta, PoolInfo, TokenInfo
from backtest.ingest_logs import (
    MalformedLog,
    PairCreatedLog,
    SwapLog,
    SyncLog,
    V2Events,
    decode_logs,
    function_selector,
    log_block_hashes,
)
from backtest.ingest_plan import (
    DEFAULT_CONFIRMATIONS,
    Checkpoint,
    ChunkPolicy,
    Progress,
    Refused,
    Scope,
    begin,
    covered,
    drive,
    final_block,
    with_pairs,
    with_part,
)
from persistence.ingest_store import BlockHeader, IngestStore, StoredChunk
from rpc.client import RpcClient
from rpc.codec import is_range_refusal
from rpc.errors import RpcError, RpcUnavailable

V2_CORE_BUILD = Path(__file__).resolve().parent.parent / "node_modules" / "@uniswap" / "v2-core" / "build"
HEADER_BATCH = 100
DEFAULT_TIMEOUT_S = 30.0
#: Faults that say "this was too much to ask": the range is halved. Anything else stops the run.
REFUSING_FAULTS = frozenset({"timeout", "too_large", "truncated"})


@functools.cache
def v2_abi(name: str) -> list[dict[str, Any]]:
    """The ABI of a contract of @uniswap/v2-core's published build (UniswapV2Pair, UniswapV2Factory, ERC20)."""
    path = V2_CORE_BUILD / f"{name}.json"
    try:
        abi: list[dict[str, Any]] = json.loads(path.read_bytes())["abi"]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found: run `make setup` to install @uniswap/v2-core") from None
    return abi


def v2_events() -> V2Events:
    return V2Events.from_abis(v2_abi("UniswapV2Pair"), v2_abi("UniswapV2Factory"))


class FetchRequest(msgspec.Struct, frozen=True):
    first: int
    last: int | None  # None: up to the final block
    scope: Scope
    weth: str
    quote: str
    confirmations: int = DEFAULT_CONFIRMATIONS
    policy: ChunkPolicy = ChunkPolicy()


@dataclass
class FetchReport:
    """What a run did; `history` is None when no block is stored yet."""

    history: History | None
    first: int
    last: int | None  # the last stored block
    final_block: int  # head - confirmations when the run began
    logs: int = 0  # Sync and Swap logs stored by this run
    pair_logs: int = 0  # PairCreated logs read by this run
    chunks: int = 0
    refusals: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


class ChainChanged(RuntimeError):
    """The chain under the ingestion is not the one stored (a reorg below the finality depth, a lying node)."""


Progressed = Callable[[int, int, int], None]  # (blocks stored, blocks to store, logs stored)


def _hex(n: int) -> str:
    return hex(n)


def _refusal(exc: RpcError | RpcUnavailable, first: int, last: int) -> Refused | None:
    if isinstance(exc, RpcError):
        return Refused(first, last, exc.message) if is_range_refusal(exc.message) else None
    kinds = {kind for _, kind in exc.attempts}
    if kinds & REFUSING_FAULTS or "deadline" in exc.reason:
        return Refused(first, last, str(exc))
    return None


class ChainHistoryFetcher:
    """Ingest a block range into `store` through `client`; resumable from the store's checkpoint."""

    def __init__(self, client: RpcClient, store: IngestStore, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 progress: Progressed | None = None) -> None:
        self.client = client
        self.store = store
        self.timeout_s = timeout_s
        self.progress = progress
        self.events = v2_events()

    # --- reads ----------------------------------------------------------------------------------------

    def _request(self, method: str, params: Sequence[Any]) -> Any:
        return self.client.request(method, params, timeout=self.timeout_s)

    def _logs(self, first: int, last: int, addresses: Sequence[str], topics: Sequence[str]) -> Any:
        params = [{"fromBlock": _hex(first), "toBlock": _hex(last), "address": list(addresses),
                   "topics": [list(topics)]}]
        try:
            return self._request("eth_getLogs", params)
        except (RpcError, RpcUnavailable) as exc:
            refusal = _refusal(exc, first, last)
            if refusal is not None:
                raise refusal from None
            raise

    def _headers(self, first: int, last: int) -> list[BlockHeader]:
        headers: list[BlockHeader] = []
        for start in range(first, last + 1, HEADER_BATCH):
            numbers = range(start, min(last, start + HEADER_BATCH - 1) + 1)
            try:
                answers = self.client.batch([("eth_getBlockByNumber", [_hex(n), False]) for n in numbers],
                                            timeout=self.timeout_s)
            except RpcUnavailable as exc:
                refusal = _refusal(exc, first, last)
                if refusal is not None:
                    raise refusal from None
                raise
            for n, answer in zip(numbers, answers, strict=True):
                headers.append(_header(n, answer.unwrap("eth_getBlockByNumber")))
        return headers

    def _call(self, to: str, selector: str, block: int) -> bytes:
        result = self._request("eth_call", [{"to": to, "data": selector}, _hex(block)])
        if not isinstance(result, str) or not result.startswith("0x"):
            raise ValueError(f"eth_call {selector} on {to} answered {str(result)[:60]!r}")
        return bytes.fromhex(result[2:])

    # --- the run --------------------------------------------------------------------------------------

    def run(self, request: FetchRequest) -> FetchReport:
        started = time.perf_counter()
        chain_id = int(self._request("eth_chainId", []), 16)
        genesis = self._request("eth_getBlockByNumber", ["0x0", False])["hash"]
        final = final_block(int(self._request("eth_blockNumber", []), 16), request.confirmations)
        last = final if request.last is None else min(request.last, final)
        if request.last is not None and request.last > final:
            logger.warning("history: block {} is not final yet (head - {} confirmations = {}); stopping at {}",
                           request.last, request.confirmations, final, final)
        checkpoint = begin(self.store.read_checkpoint(), chain_id, genesis, request.scope, request.first,
                           request.policy)
        self.store.write_checkpoint(checkpoint)
        report = FetchReport(None, request.first, None, final)
        checkpoint = self._find_pairs(checkpoint, last, request.policy, report)
        checkpoint = self._walk(checkpoint, last, request.policy, report)
        span = covered(checkpoint)
        if span is not None:
            report.last = span[1]
            report.history = self.store.assemble(checkpoint, self._meta(checkpoint, request, span[1]))
        report.elapsed_s = time.perf_counter() - started
        return report

    def _find_pairs(self, checkpoint: Checkpoint, last: int, policy: ChunkPolicy, report: FetchReport) -> Checkpoint:
        if checkpoint.pairs is None:
            return checkpoint
        dex_of: dict[str, str] = {to_checksum_address(a): dex for dex, a in checkpoint.scope.factories}
        holder = [checkpoint]

        def fetch(first: int, end: int, _: Progress) -> list[PoolInfo]:
            answer = self._logs(first, end, list(dex_of), [self.events.pair_created.topic])
            found = []
            for log in decode_logs(answer, self.events, first, end):
                if not isinstance(log, PairCreatedLog) or log.factory not in dex_of:
                    raise MalformedLog(log.block, log.log_index, "not a PairCreated log of the asked factories")
                found.append(PoolInfo(log.pair, dex_of[log.factory], log.token0, log.token1))
            report.pair_logs += len(found)
            return found

        def commit(first: int, end: int, found: list[PoolInfo], after: Progress) -> None:
            holder[0] = with_pairs(holder[0], tuple(found), after)
            self.store.write_checkpoint(holder[0])

        drive(checkpoint.pairs, last, policy, fetch, commit, self._refused(report))
        return holder[0]

    def _refused(self, report: FetchReport) -> Callable[[Refused, Progress], None]:
        def note(exc: Refused, after: Progress) -> None:
            report.refusals.append(str(exc))
            logger.info("history: {}; asking {} blocks at a time", exc, after.span)
        return note

    def _walk(self, checkpoint: Checkpoint, last: int, policy: ChunkPolicy, report: FetchReport) -> Checkpoint:
        pools = [to_checksum_address(a) for a in checkpoint.scope.pairs] + [p.address for p in checkpoint.known_pairs]
        if not pools:
            raise ValueError("no pairs to ingest: give pair addresses, or factories that created pairs by then")
        asked = frozenset(pools)
        holder = [checkpoint]
        total = max(0, last - checkpoint.events.next_block + 1)
        done = [0]

        def fetch(first: int, end: int, progress: Progress) -> StoredChunk:
            answer = self._logs(first, end, pools, list(self.events.pool_topics))
            logs = decode_logs(answer, self.events, first, end)
            headers = self._headers(first, end)
            _check_chain(headers, log_block_hashes(answer), progress.last_hash)
            syncs = tuple(x for x in logs if isinstance(x, SyncLog))
            swaps = tuple(x for x in logs if isinstance(x, SwapLog))
            if len(syncs) + len(swaps) != len(logs):
                bad = next(x for x in logs if not isinstance(x, SyncLog | SwapLog))
                raise MalformedLog(bad.block, bad.log_index, "a PairCreated log among the pairs' logs")
            for x in logs:
                if isinstance(x, SyncLog | SwapLog) and x.pool not in asked:
                    raise MalformedLog(x.block, x.log_index, f"emitted by {x.pool}, none of the asked pairs")
            return StoredChunk(tuple(headers), syncs, swaps)

        def commit(first: int, end: int, chunk: StoredChunk, after: Progress) -> None:
            part = self.store.write_part(first, end, chunk)
            holder[0] = with_part(holder[0], part, after)
            self.store.write_checkpoint(holder[0])
            report.logs += len(chunk.syncs) + len(chunk.swaps)
            report.chunks += 1
            done[0] += end - first + 1
            if self.progress is not None:
                self.progress(done[0], total, report.logs)

        drive(checkpoint.events, last, policy, fetch, commit, self._refused(report))
        return holder[0]

    # --- meta -----------------------------------------------------------------------------------------

    def _meta(self, checkpoint: Checkpoint, request: FetchRequest, block: int) -> HistoryMeta:
        pair_abi = v2_abi("UniswapV2Pair")
        scope = checkpoint.scope
        dex_of: dict[str, str] = {to_checksum_address(a): dex for dex, a in (*scope.factories, *scope.dex_names)}
        pairs = list(checkpoint.known_pairs)
        known = {p.address for p in pairs}
        for address in (to_checksum_address(a) for a in checkpoint.scope.pairs):
            if address in known:
                continue
            token0 = _word_address(self._call(address, function_selector(pair_abi, "token0"), block))
            token1 = _word_address(self._call(address, function_selector(pair_abi, "token1"), block))
            factory = _word_address(self._call(address, function_selector(pair_abi, "factory"), block))
            pairs.append(PoolInfo(address, dex_of.get(factory, factory), token0, token1))
            known.add(address)
        erc20 = v2_abi("ERC20")
        tokens: dict[str, TokenInfo] = {}
        for token in sorted({t for p in pairs for t in (p.token0, p.token1)}):
            raw = self._call(token, function_selector(erc20, "decimals"), block)
            if len(raw) != 32 or int.from_bytes(raw, "big") > 255:
                raise ValueError(f"token {token}: decimals() answered 0x{raw.hex()[:80]}, not a uint8")
            decimals = int.from_bytes(raw, "big")
            try:
                symbol = _symbol(self._call(token, function_selector(erc20, "symbol"), block))
            except (RpcError, ValueError):
                symbol = token[:10]  # symbol() is optional in ERC-20
            tokens[token] = TokenInfo(symbol, decimals)
        weth, quote = to_checksum_address(request.weth), to_checksum_address(request.quote)
        for name, token in (("weth", weth), ("quote", quote)):
            if token not in tokens:
                raise ValueError(f"{name} token {token} is in none of the ingested pairs")
        return HistoryMeta(weth=weth, quote=quote, tokens=tokens,
                           pools=tuple(pairs))


def _header(number: int, raw: Any) -> BlockHeader:
    if not isinstance(raw, Mapping):
        raise ChainChanged(f"block {number}: the node has no such block ({raw!r})")
    try:
        header = BlockHeader(int(raw["number"], 16), int(raw["timestamp"], 16),
                             int(raw.get("baseFeePerGas") or "0x0", 16),  # 0 before London (EIP-1559)
                             str(raw["hash"]).lower(), str(raw["parentHash"]).lower())
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"block {number}: unreadable header ({type(exc).__name__}: {exc})") from None
    if header.number != number:
        raise ChainChanged(f"asked for block {number}, the node answered block {header.number}")
    return header


def _check_chain(headers: list[BlockHeader], log_hashes: Mapping[int, str], parent: str | None) -> None:
    """Each header's parent is the previous block's hash; each log's blockHash its block's."""
    for header in headers:
        if parent is not None and header.parent_hash != parent:
            raise ChainChanged(f"block {header.number}'s parent is {header.parent_hash}, but block {header.number - 1} "
                               f"was stored as {parent}: the chain reorganised below the finality depth")
        parent = header.hash
    by_number = {h.number: h.hash for h in headers}
    for number, value in log_hashes.items():
        if by_number.get(number) != value:
            raise ChainChanged(f"logs of block {number} name block hash {value}, the block is "
                               f"{by_number.get(number)}: the chain changed between the two reads")


def _word_address(data: bytes) -> str:
    if len(data) != 32 or int.from_bytes(data[:12], "big"):
        raise ValueError(f"not an address word: 0x{data.hex()[:80]}")
    return to_checksum_address(data[12:])


def _symbol(data: bytes) -> str:
    """An ERC-20 symbol: ABI string, or bytes32 (MKR and other early tokens)."""
    if len(data) == 32:
        return data.rstrip(b"\0").decode("utf-8", "replace")
    if len(data) >= 64:
        offset = int.from_bytes(data[:32], "big")
        length = int.from_bytes(data[offset:offset + 32], "big")
        return data[offset + 32:offset + 32 + length].decode("utf-8", "replace")
    raise ValueError(f"symbol() answered {len(data)} bytes")
