"""Ingestion from a real anvil running the real Uniswap V2 contracts: exact history, refusals, garbage, a killed run.

One devnet per module with trading on it (market swaps on several pools, then empty blocks); every
test reads the same chain, so each ingestion can be compared with one reference, fetched straight
from anvil in wide chunks. Refusing and corrupting endpoints are tests.backtest.range_proxy in front
of anvil; the killed run is `run.py history fetch` in a subprocess, SIGKILLed, then started again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from adapters.chain_history import ChainChanged, ChainHistoryFetcher, FetchRequest, v2_events
from backtest.history import exact
from backtest.ingest_logs import MalformedLog
from backtest.ingest_plan import ChunkPolicy, Scope
from devnet.session import Devnet, devnet_world
from devnet.swaps import read_reserves
from persistence.history import load
from persistence.ingest_store import IngestStore
from tests.execution.helpers import market_swap, pinned_client
from tests.waiting import wait_until

from .range_proxy import RangeProxy

REPO = Path(__file__).resolve().parents[2]
EMPTY_BLOCKS = 300  # after the swaps: a range long enough for a kill to land mid-run


@dataclass(frozen=True)
class Chain:
    devnet: Devnet
    head: int
    scope: Scope
    reference: Path  # the whole chain, fetched from anvil directly in wide chunks

    def request(self, policy: ChunkPolicy, **kw: object) -> FetchRequest:
        world = self.devnet.world
        return FetchRequest(0, self.head, self.scope, world.weth.address, world.token("USDC").address,
                            confirmations=0, policy=policy, **kw)  # type: ignore[arg-type]


def fetch(chain: Chain, url: str, out: Path, policy: ChunkPolicy, timeout_s: float = 10.0) -> IngestStore:
    client = pinned_client(url, chain.devnet.world.chain_id)
    store = IngestStore(out)
    try:
        ChainHistoryFetcher(client, store, timeout_s=timeout_s).run(chain.request(policy))
    finally:
        client.close()
    return store


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with devnet_world() as devnet:
        world = devnet.world
        swaps = (("uniswap", "USDC", True, 20_000), ("sushiswap", "DAI", False, 15_000),
                 ("uniswap", "LINK", True, 30_000), ("sushiswap", "USDC", False, 5_000))
        for dex, symbol, zero_for_one, share in swaps:
            market_swap(devnet.w3, world, world.pool(dex, "WETH", symbol).address, zero_for_one, share)
        devnet.node.mine(EMPTY_BLOCKS)
        for dex in ("uniswap", "sushiswap"):
            market_swap(devnet.w3, world, world.pool(dex, "WETH", "WBTC").address, True, 10_000)
        head = devnet.w3.eth.block_number
        scope = Scope(factories=tuple((d.name, d.factory) for d in world.dexes))
        chain = Chain(devnet, head, scope, tmp_path_factory.mktemp("reference"))
        fetch(chain, devnet.node.http_url, chain.reference, ChunkPolicy(initial_span=4_096, max_span=4_096))
        yield chain


def same_history(a: Path, b: Path) -> None:
    for name in ("blocks.parquet", "events.parquet", "swaps.parquet"):
        assert pq.read_table(a / name).equals(pq.read_table(b / name)), name
    assert (a / "meta.json").read_bytes() == (b / "meta.json").read_bytes()


def test_the_history_holds_every_block_sync_and_swap_as_the_chain_has_them(chain: Chain) -> None:
    devnet, history = chain.devnet, load(chain.reference)
    w3 = devnet.w3
    assert (int(history.block_number[0]), int(history.block_number[-1])) == (0, chain.head)
    for n in (0, 1, chain.head // 2, chain.head):
        block = w3.eth.get_block(n)
        assert int(history.timestamp[n]) == block["timestamp"]
        assert int(history.base_fee_wei[n]) == block["baseFeePerGas"]
    events = v2_events()
    raw = w3.eth.get_logs({"fromBlock": 0, "toBlock": chain.head, "topics": [[events.sync.topic, events.swap.topic]]})
    syncs = [x for x in raw if "0x" + x["topics"][0].hex().removeprefix("0x") == events.sync.topic]
    assert history.events == len(syncs)
    assert pq.read_table(chain.reference / "swaps.parquet").num_rows == len(raw) - len(syncs) == 6
    assert {p.address for p in history.meta.pools} == {p.address for p in devnet.world.pools}
    for k, pool in enumerate(history.meta.pools):  # each pool's last Sync is its reserves at the head
        last = max(i for i in range(history.events) if history.event_pool[i] == k)
        assert (exact(history.reserve0, last), exact(history.reserve1, last)) == \
            read_reserves(w3, pool.address, hex(chain.head))
        world_pool = next(p for p in devnet.world.pools if p.address == pool.address)
        assert (pool.dex, pool.token0, pool.token1) == (world_pool.dex, world_pool.token0, world_pool.token1)


@pytest.mark.parametrize("style", ["results", "size"])
def test_an_endpoint_refusing_wide_ranges_gets_narrower_ones_and_wider_again(chain: Chain, tmp_path: Path,
                                                                             style: str) -> None:
    with RangeProxy(chain.devnet.node.http_url, max_range=24, style=style) as proxy:
        fetch(chain, proxy.url, tmp_path, ChunkPolicy(initial_span=256, max_span=256, grow_after=2))
    same_history(chain.reference, tmp_path)
    assert proxy.refused, "the proxy never refused"
    widths = [b - a + 1 for a, b in proxy.asked]
    assert max(widths) == 256 and all(w <= 256 for w in widths)
    # after refusals, the accepted width was tried wider again (and refused again, at this fixed limit)
    accepted = [w for (a, b), w in zip(proxy.asked, widths, strict=True) if (a, b) not in proxy.refused]
    assert max(accepted) <= 24 < max(w for (a, b), w in zip(proxy.asked, widths, strict=True)
                                     if (a, b) in proxy.refused[1:])


def test_an_endpoint_too_slow_for_wide_ranges_gets_narrower_ones(chain: Chain, tmp_path: Path) -> None:
    with RangeProxy(chain.devnet.node.http_url, max_range=100, style="slow", slow_s=4.0) as proxy:
        fetch(chain, proxy.url, tmp_path, ChunkPolicy(initial_span=512, max_span=512, grow_after=100), timeout_s=1.0)
    same_history(chain.reference, tmp_path)
    assert proxy.refused and all(b - a + 1 > 100 for a, b in proxy.refused)


def test_a_garbage_log_stops_the_run_naming_it_and_the_run_resumes_once_it_is_gone(chain: Chain,
                                                                                  tmp_path: Path) -> None:
    history = load(chain.reference)
    block = int(history.event_block[-1])  # the last Sync (WBTC on sushiswap, after the empty blocks)
    index = int(history.event_log_index[-1])
    policy = ChunkPolicy(initial_span=64, max_span=64)
    with RangeProxy(chain.devnet.node.http_url) as proxy:
        proxy.garbage_block = block
        with pytest.raises(MalformedLog) as exc:
            fetch(chain, proxy.url, tmp_path, policy)
        # the block's one swap logs Sync, then Swap: the Sync is its first log the proxy mangles
        assert (exc.value.block, exc.value.log_index) == (block, index)
        assert str(exc.value) == f"block {block} log index {index}: Sync data is 61 bytes, expected 64"
        checkpoint = IngestStore(tmp_path).read_checkpoint()
        assert checkpoint is not None and checkpoint.events.next_block <= block  # nothing of that chunk stored
        assert checkpoint.events.next_block > 0  # the chunks before it are
        proxy.garbage_block = None
        fetch(chain, proxy.url, tmp_path, policy)
    same_history(chain.reference, tmp_path)


def test_a_killed_fetch_resumes_where_it_stopped_with_no_gap_and_no_duplicate(chain: Chain, tmp_path: Path) -> None:
    world = chain.devnet.world
    out = tmp_path / "history"
    with RangeProxy(chain.devnet.node.http_url, delay_s=0.01) as proxy:
        args = [sys.executable, str(REPO / "run.py"), "history", "fetch", "--from", "0", "--to", str(chain.head),
                "--weth", world.weth.address, "--quote", world.token("USDC").address, "--out", str(out),
                "--rpc", "http://127.0.0.1:9", "--rpc", proxy.url,  # a dead endpoint first: failover to the live one
                "--confirmations", "0", "--span", "2", "--max-span", "2",
                *(x for d in world.dexes for x in ("--factory", f"{d.name}={d.factory}"))]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RPC_URL", "ARBITER_"))}
        store = IngestStore(out)
        log = tmp_path / "first-fetch.log"  # a file, not a pipe nobody reads until the end (it could fill and stall)
        with log.open("wb") as sink:
            first = subprocess.Popen(args, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: (c := store.read_checkpoint()) is not None and c.events.next_block > 40,
                       timeout=60.0, what="the first run storing some chunks")
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait(timeout=30)
            output = log.read_text(errors="replace")
        assert first.returncode == -signal.SIGKILL, output  # killed mid-run, not finished
        stopped = store.read_checkpoint()
        assert stopped is not None and 40 < stopped.events.next_block <= chain.head
        before_resume = len(proxy.asked)
        second = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stdout + second.stderr
    same_history(chain.reference, out)
    # resumed at the killed run's next block: the second run asked for nothing before it
    resumed = proxy.asked[before_resume:]
    assert resumed and resumed[0][0] == stopped.events.next_block
    assert all(a >= stopped.events.next_block for a, _ in resumed)


def test_only_final_blocks_are_stored_and_a_later_run_extends_the_history(chain: Chain, tmp_path: Path) -> None:
    client = pinned_client(chain.devnet.node.http_url, chain.devnet.world.chain_id)
    store = IngestStore(tmp_path)
    world = chain.devnet.world
    try:
        for confirmations in (100, 0):
            request = FetchRequest(0, None, chain.scope, world.weth.address, world.token("USDC").address,
                                   confirmations=confirmations, policy=ChunkPolicy(initial_span=64))
            report = ChainHistoryFetcher(client, store).run(request)
            assert report.last == report.final_block == chain.head - confirmations
    finally:
        client.close()
    same_history(chain.reference, tmp_path)


def test_a_reorganised_chain_under_the_stored_blocks_stops_the_run_naming_the_block(chain: Chain,
                                                                                   tmp_path: Path) -> None:
    node, head = chain.devnet.node, chain.head
    policy = ChunkPolicy(initial_span=64)
    client = pinned_client(node.http_url, chain.devnet.world.chain_id)
    world = chain.devnet.world

    def run(last: int) -> None:
        request = FetchRequest(0, last, chain.scope, world.weth.address, world.token("USDC").address,
                               confirmations=0, policy=policy)
        ChainHistoryFetcher(client, IngestStore(tmp_path)).run(request)

    try:
        with node.isolated():
            node.mine(3)
            run(head + 3)  # stored up to head + 3
        with node.isolated():  # the same heights again, other blocks (later timestamps), and two more
            node.rpc("evm_setNextBlockTimestamp", hex(chain.devnet.w3.eth.get_block(head)["timestamp"] + 1_000))
            node.mine(5)
            with pytest.raises(ChainChanged, match=rf"block {head + 4}'s parent is 0x[0-9a-f]+, but block "
                                                   rf"{head + 3} was stored as 0x[0-9a-f]+: the chain reorganised"):
                run(head + 5)
        checkpoint = IngestStore(tmp_path).read_checkpoint()
        assert checkpoint is not None and checkpoint.events.next_block == head + 4  # nothing of the new branch
    finally:
        client.close()
