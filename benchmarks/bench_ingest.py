"""History ingestion benchmark: logs per second from anvil through RpcClient into the Parquet store.

A devnet (anvil, the real Uniswap V2 contracts) is given `--blocks` blocks of `--swaps-per-block` market
swaps each (spread over its 12 pools: every swap logs a Sync and a Swap), then the whole chain is
ingested with adapters.chain_history, end to end: PairCreated walk, eth_getLogs chunks, every
block's header (JSON-RPC batches), decoding, part files, checkpoints, the token reads and the final
assembly into blocks/events/meta/swaps. Once with the default chunk policy (2,000 blocks per
eth_getLogs at the start), once with 16-block chunks (a provider with a tight range limit), after a
first run that pays the start-up (io loop, connections; reported as first_run_s). Prints one JSON object.

Run: .venv/bin/python benchmarks/bench_ingest.py [--blocks 60] [--swaps-per-block 40]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.chain_history import ChainHistoryFetcher, FetchRequest  # noqa: E402
from backtest.ingest_plan import ChunkPolicy, Scope  # noqa: E402
from devnet.accounts import MARKET_TRADER  # noqa: E402
from devnet.market import SwapOrder, get_amount_out  # noqa: E402
from devnet.session import Devnet, devnet_world  # noqa: E402
from devnet.swaps import SwapTrader, read_reserves  # noqa: E402
from persistence.ingest_store import IngestStore  # noqa: E402
from protocol.network import EndpointRoute, RoutingTable  # noqa: E402
from rpc.client import RpcClient  # noqa: E402


def trade(devnet: Devnet, blocks: int, per_block: int) -> None:
    """`blocks` blocks of `per_block` small swaps each (both directions, every pool), mined one block at a time."""
    w3, world = devnet.w3, devnet.world
    trader = SwapTrader(w3, world, MARKET_TRADER)
    devnet.node.set_automine(False)
    pools = world.pools
    last_tx = ""
    for b in range(blocks):
        reserves = {p.address: read_reserves(w3, p.address, "latest") for p in pools}
        for k in range(per_block):
            pool = pools[(b * per_block + k) % len(pools)]
            zero_for_one = (b + k) % 2 == 0
            r0, r1 = reserves[pool.address]
            r_in, r_out = (r0, r1) if zero_for_one else (r1, r0)
            amount = max(1, r_in // 100_000)
            # 90 % of the quote: the block's earlier swaps move the pool a hair, the swap must not revert
            sent = trader.submit(SwapOrder(pool.address, zero_for_one, amount,
                                           get_amount_out(amount, r_in, r_out) * 9 // 10, 0, False))
            last_tx = sent.swap_tx
        devnet.node.mine(1)
    devnet.node.set_automine(True)
    if not trader.wait_ok(last_tx):
        raise RuntimeError("the last market swap reverted")


def ingest(devnet: Devnet, policy: ChunkPolicy) -> dict[str, float | int]:
    world = devnet.world
    table = RoutingTable(chain_id=world.chain_id, routes=(EndpointRoute(name="anvil", url=devnet.node.http_url,
                                                                        hedge_delay_s=1.0),))
    client = RpcClient(table=lambda: table, report=lambda outcome: None)
    head = devnet.w3.eth.block_number
    request = FetchRequest(0, head, Scope(factories=tuple((d.name, d.factory) for d in world.dexes)),
                           world.weth.address, world.token("USDC").address, confirmations=0, policy=policy)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        report = ChainHistoryFetcher(client, IngestStore(out)).run(request)
        elapsed = time.perf_counter() - started
    client.close()
    assert report.history is not None
    return {"blocks": report.history.blocks, "logs": report.logs, "chunks": report.chunks, "seconds": round(elapsed, 3),
            "logs_per_s": round(report.logs / elapsed), "blocks_per_s": round(report.history.blocks / elapsed)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=60)
    parser.add_argument("--swaps-per-block", type=int, default=40)
    args = parser.parse_args()
    with devnet_world() as devnet:
        started = time.perf_counter()
        trade(devnet, args.blocks, args.swaps_per_block)
        setup_s = time.perf_counter() - started
        cold = ingest(devnet, ChunkPolicy())  # the first run pays the io loop's and connections' start-up
        wide = ingest(devnet, ChunkPolicy())
        narrow = ingest(devnet, ChunkPolicy(initial_span=16, max_span=16))
    print(msgspec.json.encode({
        "what": "history ingestion from anvil (loopback) through RpcClient into the Parquet store, end to end",
        "swaps": args.blocks * args.swaps_per_block, "setup_s": round(setup_s, 1),
        "ingest_logs_per_s": wide["logs_per_s"], "default_chunks": wide, "first_run_s": cold["seconds"],
        "ingest_logs_per_s_16_block_chunks": narrow["logs_per_s"], "chunks_of_16": narrow,
    }).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
