"""Network truthfulness under load (issue 14), for bench_network.py's part e.

- frozen head: 8 callers on the io loop read eth_blockNumber on 0.25 s blocks; the endpoint carrying
  the traffic (pinned first, so it carries nearly all of it) freezes its head (fault proxy
  `freeze_head`), once with the bot's WebSocket streams running (as on its devnet), once HTTP only.
  Each answer is compared with the chain's real head at the call's start, as a watcher subscribed to
  anvil's own newHeads (no proxy) knows it: the highest block whose notification had reached it.
  Counted from one block interval after the freeze: `stale_share` (answers below that head) and
  `max_lag_blocks`.
- liar: the endpoint carrying the traffic (pinned first) starts rewriting balances (callers read eth_getBalance) or
  block hashes (callers read eth_blockNumber, whose sampled cross-check compares block hashes) at the
  shipped sample rate; the time until its breaker is QUARANTINED, and the wrong answers callers got.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import threading
import time
from typing import Any, NamedTuple

import msgspec
from net_plumbing import Network, ProxyPool, loopback_policy
from websockets.sync.client import connect

from devnet.anvil import Anvil
from protocol.config import NetworkConfig
from protocol.network import EndpointSnapshot
from rpc.client import endpoint_path
from supervision import Handle
from supervision.io_loop import io_loop

BLOCK_S = 0.25
CALLERS = 8
#: How long the callers read before the fault (the client learns the block interval meanwhile).
WARMUP_S = 2.0
#: How long they read after it (the issue measured 3.5 s).
FROZEN_S = 3.5


def watch_heads(ws_url: str, head: Any, ready: Any) -> None:
    """In a process of its own: keep `head` (a shared int) at the highest block anvil announced."""
    with connect(ws_url, max_size=None) as ws:
        ws.send('{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}')
        ws.recv(timeout=5)  # the subscription id
        ws.send('{"jsonrpc":"2.0","id":2,"method":"eth_blockNumber","params":[]}')
        for raw in ws:
            msg = msgspec.json.decode(raw)
            reply = msg.get("id") == 2  # the eth_blockNumber sent at start
            number = msg.get("result") if reply else msg.get("params", {}).get("result", {}).get("number")
            if isinstance(number, str):
                head.value = max(head.value, int(number, 16))
                ready.set()


class ChainWatch:
    """The chain's real head: anvil's own newHeads (no proxy, no router), read by another process so
    that it learns of a block when anvil sends it, not when this process's GIL lets a thread run."""

    def __init__(self, ws_url: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._head = ctx.Value("q", -1, lock=False)
        ready = ctx.Event()
        self._process = ctx.Process(target=watch_heads, args=(ws_url, self._head, ready), daemon=True)
        self._process.start()
        if not ready.wait(30):
            self.stop()
            raise RuntimeError("the head watcher never heard from anvil")

    @property
    def head(self) -> int:
        return int(self._head.value)

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(5)


class Read(NamedTuple):
    started: float
    real_head: int  # the chain's head when the call started
    answer: int | None  # None: the call failed
    finished: float


def read_heads(net: Network, watch: ChainWatch, until: float, callers: int) -> list[Read]:
    """`callers` coroutines on the io loop reading eth_blockNumber until `until` (monotonic)."""
    client = net.client

    async def caller(out: list[Read]) -> None:
        while time.monotonic() < until:
            started, real = time.monotonic(), watch.head
            try:
                answer: int | None = int(await client.arequest("eth_blockNumber"), 16)
            except Exception:
                answer = None
            out.append(Read(started, real, answer, time.monotonic()))

    async def run() -> list[Read]:
        outs: list[list[Read]] = [[] for _ in range(callers)]
        await asyncio.gather(*(caller(o) for o in outs))
        return sorted((r for o in outs for r in o), key=lambda r: r.started)

    return asyncio.run_coroutine_threadsafe(run(), io_loop().loop).result()


def busiest(pool: ProxyPool, names: list[str], over_s: float = 0.3) -> tuple[int, float]:
    """The proxy that received the most requests over the next `over_s` (the one carrying the traffic),
    and its share of them."""
    before = pool.command({"op": "requests"})["requests"]
    threading.Event().wait(over_s)
    after = pool.command({"op": "requests"})["requests"]
    got = [a - b for a, b in zip(after, before)]
    top = max(range(len(names)), key=lambda i: got[i])
    return top, round(got[top] / max(1, sum(got)), 3)


def breaker(name: str) -> str:
    snap = Handle(endpoint_path(name)).snapshot()
    return snap.breaker if isinstance(snap, EndpointSnapshot) else "?"


def judge_reads(reads: list[Read], since: float) -> dict[str, Any]:
    window = [r for r in reads if r.started >= since]
    answered = [r for r in window if r.answer is not None]
    stale = [r for r in answered if r.answer is not None and r.answer < r.real_head]
    lags = [r.real_head - r.answer for r in answered if r.answer is not None]
    delivered = [r.answer for r in sorted(answered, key=lambda r: r.finished) if r.answer is not None]
    return {
        "calls": len(window),
        "errors": len(window) - len(answered),
        "stale": len(stale),
        "stale_share": round(len(stale) / len(answered), 5) if answered else None,
        "max_lag_blocks": max(lags, default=0),
        "backwards": sum(1 for a, b in itertools.pairwise(delivered) if b < a),  # in the order answers came
    }


def frozen_head_case(anvil: Anvil, ws: bool) -> dict[str, Any]:
    """Freeze the head of the busiest of 3 endpoints while 8 callers read; with or without WebSocket streams."""
    pool = ProxyPool(anvil.http_url, 3)
    names = [f"f{i}" for i in range(3)]
    urls = {n: p.url for n, p in zip(names, pool.proxies)}
    ws_urls = {n: p.ws_url for n, p in zip(names, pool.proxies)} if ws else None
    # Pinned: a huge latency bucket makes every endpoint tie, so priority decides and one endpoint carries
    # the reads (ranked by latency they spread over all three, and a freeze hits only a share of them).
    net = Network(urls, loopback_policy(latency_bucket_s=10.0), ws_urls=ws_urls, block_time_s=BLOCK_S)
    watch = ChainWatch(anvil.ws_url)
    frozen: list[tuple[float, str, float]] = []
    left_routes: list[float] = []
    start = time.monotonic()
    end = start + WARMUP_S + FROZEN_S

    def freeze() -> None:
        threading.Event().wait(max(0.0, start + WARMUP_S - 0.3 - time.monotonic()))
        victim, share = busiest(pool, names)
        at = time.monotonic()  # before the fault is in place: the window only gets stricter
        pool.proxies[victim].apply("freeze_head")
        frozen.append((at, names[victim], share))
        while time.monotonic() < end:
            if names[victim] not in net.routes():
                left_routes.append(time.monotonic())
                return
            threading.Event().wait(0.002)

    thread = threading.Thread(target=freeze, daemon=True)
    try:
        thread.start()
        reads = read_heads(net, watch, end, CALLERS)
        thread.join(10)
        at, victim, share = frozen[0]
        out = {
            "frozen": victim,
            "frozen_share_of_requests_before": share,
            "after_first_interval": judge_reads(reads, at + BLOCK_S),
            "first_interval": judge_reads([r for r in reads if r.started < at + BLOCK_S], at),
            "before_freeze": judge_reads([r for r in reads if r.started < at], start),
            "frozen_left_routes_after_ms": round((left_routes[0] - at) * 1000, 1) if left_routes else None,
            "frozen_breaker_at_end": breaker(victim),
            "head_probes": net.client.dispatcher.verify.probes,
        }
    finally:
        watch.stop()
        net.stop()
        pool.close()
    return out


def liar_case(anvil: Anvil, lie: str) -> dict[str, Any]:
    """The busiest of 3 endpoints starts lying (`lie=balance` or `lie=blockhash`) while 8 callers read."""
    sample_rate = NetworkConfig().consensus_sample_rate  # the shipped default
    pool = ProxyPool(anvil.http_url, 3)
    names = [f"l{i}" for i in range(3)]
    # Pinned as in the frozen case: the liar carries the reads, so its lies reach callers until it is caught.
    net = Network({n: p.url for n, p in zip(names, pool.proxies)},
                  loopback_policy(latency_bucket_s=10.0, consensus_sample_rate=sample_rate))
    account: Any = list(anvil.web3().eth.accounts)[3]
    truth = hex(anvil.web3().eth.get_balance(account))
    method, params = ("eth_getBalance", [account, "latest"]) if lie == "balance" else ("eth_blockNumber", [])
    client = net.client
    marks: dict[str, float] = {}
    stop = threading.Event()

    async def caller(out: list[tuple[float, bool]]) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                answer = await client.arequest(method, params)
                wrong = method == "eth_getBalance" and answer != truth
            except Exception:
                wrong = True
            out.append((started, wrong))

    async def run() -> list[tuple[float, bool]]:
        outs: list[list[tuple[float, bool]]] = [[] for _ in range(CALLERS)]
        await asyncio.gather(*(caller(o) for o in outs))
        return [x for o in outs for x in o]

    try:
        future = asyncio.run_coroutine_threadsafe(run(), io_loop().loop)
        threading.Event().wait(1.0)
        victim = names[busiest(pool, names)[0]]
        marks["lie"] = time.monotonic()
        pool.proxies[names.index(victim)].apply(f"lie={lie}")
        deadline = marks["lie"] + 20.0
        while breaker(victim) != "QUARANTINED" and time.monotonic() < deadline:
            threading.Event().wait(0.001)
        if breaker(victim) == "QUARANTINED":
            marks["quarantined"] = time.monotonic()
        threading.Event().wait(0.5)
        stop.set()
        reads = future.result(30)
        snap = Handle(endpoint_path(victim)).snapshot()
        after_lie = [w for t, w in reads if t >= marks["lie"]]
        out = {
            "liar": victim,
            "sample_rate": sample_rate,
            "quarantined_after_ms": round((marks["quarantined"] - marks["lie"]) * 1000, 1)
            if "quarantined" in marks else None,
            "calls_after_lie": len(after_lie),
            "wrong_or_failed_answers_after_lie": sum(after_lie),
            "cross_checks": client.dispatcher.verify.cross_checks,
            "evidence": snap.reason if isinstance(snap, EndpointSnapshot) else None,
        }
    finally:
        stop.set()
        net.stop()
        pool.close()
    return out


def bench_truth() -> dict[str, Any]:
    """Part e: the frozen head (with the bot's WebSocket streams, and HTTP only) and the two liars."""
    with Anvil(block_time_s=BLOCK_S) as anvil:
        return {
            "frozen_head_with_ws": frozen_head_case(anvil, ws=True),
            "frozen_head_http_only": frozen_head_case(anvil, ws=False),
            "liar_balance": liar_case(anvil, "balance"),
            "liar_blockhash": liar_case(anvil, "blockhash"),
        }


def truth_headline(e: dict[str, Any]) -> dict[str, Any]:
    """The three figures issue 14 names (the frozen head as the bot runs it: with its WebSocket streams)."""
    frozen = e["frozen_head_with_ws"]["after_first_interval"]
    quarantined = [e[k]["quarantined_after_ms"] for k in ("liar_balance", "liar_blockhash")]
    return {
        "frozen_head_stale_share": frozen["stale_share"],
        "frozen_head_max_lag_blocks": frozen["max_lag_blocks"],
        "liar_quarantined_after_ms": None if None in quarantined else max(quarantined),
    }
