"""Why the RPC hot path is built the way it is (rpc/http1, rpc/transport, rpc/client, rpc/metrics).
Everything against one local anvil; prints JSON.

1. One caller, eth_blockNumber, ms per call: a bare keep-alive socket (the floor); aiohttp on the io
   loop (what the transport was) and our asyncio protocol there (`HttpTransport.post`), both started
   from this thread; a whole routed read on the io loop (`RpcClient.arequest`, timed on the loop, as
   actors run it); a blocking routed read (`RpcClient.request`: the race started from this thread
   with `call_soon_threadsafe` and awaited on a concurrent future) versus the same read through a
   wrapper task (`run_coroutine_threadsafe(arequest)`, what blocking calls used to pay); and the
   thread hop to the io loop and back alone.
2. 8 caller threads, the blocking bridge versus the wrapper task: throughput and p50.
3. One latency observation: prometheus_client's Histogram versus the endpoint actor's LatencyBuckets.

Rounds are interleaved and medians kept: on this 2-vCPU VM back-to-back runs swing up to 1.5x.
Run: .venv/bin/python benchmarks/bench_transport.py [--quick]
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp  # noqa: E402
import msgspec  # noqa: E402
from loguru import logger  # noqa: E402
from net_measure import run_load  # noqa: E402
from prometheus_client import CollectorRegistry, Histogram  # noqa: E402

from devnet.anvil import Anvil  # noqa: E402
from protocol.network import EndpointRoute, RoutingTable  # noqa: E402
from rpc import codec  # noqa: E402
from rpc.client import RpcClient  # noqa: E402
from rpc.metrics import LATENCY_BUCKETS, LatencyBuckets  # noqa: E402
from rpc.routing import RoutingPolicy  # noqa: E402
from rpc.transport import HttpTransport, TransportRegistry  # noqa: E402
from supervision.io_loop import io_loop  # noqa: E402

BODY = codec.encode_request("eth_blockNumber", [], 1)


def per_call_ms(call: Callable[[], Any], n: int) -> dict[str, float]:
    for _ in range(min(200, n)):
        call()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    return {"p50_ms": round(p50 * 1000, 4), "p99_ms": round(p99 * 1000, 4)}


def one_caller(anvil: Anvil, n: int, rounds: int) -> dict[str, Any]:
    loop = io_loop().loop
    url = anvil.http_url
    host, port = url.split("//")[1].split("/")[0].split(":")

    async def make_session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(headers={"Content-Type": "application/json"})

    session = asyncio.run_coroutine_threadsafe(make_session(), loop).result()

    async def aiohttp_post() -> bytes:
        async with session.post(url, data=BODY) as resp:
            return await resp.read()

    ours = HttpTransport("bench", url)
    table = RoutingTable(31337, (EndpointRoute("bench", url, 0.25),))
    client = RpcClient(lambda: table, policy=RoutingPolicy(), report=lambda _: None, registry=TransportRegistry())
    raw = socket.create_connection((host, int(port)))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = ours.target.request(BODY)

    def bare_socket() -> bytes:
        raw.sendall(request)
        return raw.recv(65536)

    def hop() -> None:
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop.call_soon_threadsafe(done.set_result, None)
        done.result()

    async def routed_on_loop() -> dict[str, float]:
        """`per_call_ms` of `arequest`, run on the loop itself: no thread hop in what is timed."""
        for _ in range(min(200, n)):
            await client.arequest("eth_blockNumber")
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            await client.arequest("eth_blockNumber")
            samples.append(time.perf_counter() - t0)
        samples.sort()
        return {"p50_ms": round(samples[len(samples) // 2] * 1000, 4),
                "p99_ms": round(samples[int(len(samples) * 0.99)] * 1000, 4)}

    variants: dict[str, Callable[[], Any]] = {
        "bare_keep_alive_socket": bare_socket,
        "aiohttp_on_io_loop": lambda: asyncio.run_coroutine_threadsafe(aiohttp_post(), loop).result(),
        "our_protocol_on_io_loop": lambda: asyncio.run_coroutine_threadsafe(ours.post(BODY, 5.0), loop).result(),
        "blocking_request_bridge": lambda: client.request("eth_blockNumber"),
        "blocking_request_wrapper_task": lambda: client.submit(client.arequest("eth_blockNumber")).result(),
        "io_loop_hop_alone": hop,
    }
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in [*variants, "routed_arequest_timed_on_io_loop"]}
    for _ in range(rounds):
        for name, call in variants.items():
            runs[name].append(per_call_ms(call, n))
        on_loop = asyncio.run_coroutine_threadsafe(routed_on_loop(), loop).result()
        runs["routed_arequest_timed_on_io_loop"].append(on_loop)
    asyncio.run_coroutine_threadsafe(session.close(), loop).result()
    asyncio.run_coroutine_threadsafe(ours.close(), loop).result()
    client.close()
    raw.close()
    return {name: {"p50_ms": statistics.median(r["p50_ms"] for r in rs),
                   "p99_ms": statistics.median(r["p99_ms"] for r in rs)} for name, rs in runs.items()}


def eight_callers(anvil: Anvil, calls: int, rounds: int) -> dict[str, Any]:
    """8 threads of blocking routed reads: the bridge (`RpcClient.request`) versus a wrapper task."""
    url = anvil.http_url
    table = RoutingTable(31337, (EndpointRoute("bench", url, 0.25),))
    client = RpcClient(lambda: table, policy=RoutingPolicy(), report=lambda _: None, registry=TransportRegistry())
    variants: dict[str, Callable[[], Any]] = {
        "blocking_request_bridge": lambda: client.request("eth_blockNumber"),
        "blocking_request_wrapper_task": lambda: client.submit(client.arequest("eth_blockNumber")).result(),
    }
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in variants}
    for _ in range(rounds):
        for name, call in variants.items():
            runs[name].append(run_load(call, callers=8, calls_per_caller=calls // 8, warmup=5))
    client.close()
    out: dict[str, Any] = {}
    for name, rs in runs.items():
        out[name] = {"throughput_rps": statistics.median(r["throughput_rps"] for r in rs),
                     "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                     "rounds_rps": [r["throughput_rps"] for r in rs]}
    return out


def histogram_observe(n: int) -> dict[str, float]:
    reference = Histogram("bench_latency_seconds", "bench", ["endpoint"], buckets=LATENCY_BUCKETS,
                          registry=CollectorRegistry()).labels("e0")
    ours = LatencyBuckets()
    out = {}
    for name, observe in (("prometheus_client_histogram", reference.observe), ("latency_buckets", ours.observe)):
        t0 = time.perf_counter()
        for i in range(n):
            observe(0.0003 + (i % 7) * 0.001)
        out[f"{name}_us"] = round((time.perf_counter() - t0) / n * 1e6, 3)
    return out


def main() -> None:
    quick = "--quick" in sys.argv
    logger.remove()
    with Anvil(block_time_s=None) as anvil:
        results = {
            "one_caller": one_caller(anvil, 300 if quick else 2000, 3),
            "eight_callers_blocking": eight_callers(anvil, 1600 if quick else 6400, 3 if quick else 5),
            "histogram_observe": histogram_observe(20000 if quick else 200000),
        }
    print(msgspec.json.format(msgspec.json.encode(results), indent=2).decode())


if __name__ == "__main__":
    main()
