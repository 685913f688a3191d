"""Devnet benchmark: how long the embedded world takes to come up, and how fast the market trades.

Prints one JSON document. Baselines are measured in the same run on the same machine:

a. anvil start (spawn -> answers eth_chainId), median of several starts.
b. world deployment, ours (planned addresses, explicit nonces and gas, all sent back to back,
   mined once) vs the straightforward web3 way (send_transaction with web3 filling gas and fees,
   then wait_for_transaction_receipt, one transaction at a time), on automine and on a 1 s block node.
c. market steps: the pure generator alone, and generator + signed transfer/swap on anvil.

Run: .venv/bin/python benchmarks/bench_devnet.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eth_utils import to_checksum_address  # noqa: E402
from web3 import Web3  # noqa: E402

from devnet.accounts import DEPLOYER, MARKET_TRADER  # noqa: E402
from devnet.anvil import Anvil  # noqa: E402
from devnet.deploy import deploy_world, plan_world  # noqa: E402
from devnet.market import initial_state, market_pools, next_swap, reserves_after  # noqa: E402
from devnet.swaps import LiveReserves, SwapTrader  # noqa: E402
from devnet.world import DEFAULT_WORLD_SPEC  # noqa: E402


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def bench_start(runs: int) -> dict[str, Any]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        with Anvil(block_time_s=None):
            samples.append(time.perf_counter() - t0)
    return {"runs": runs, "median_ms": median_ms(samples), "max_ms": round(max(samples) * 1000, 2)}


def naive_deploy(w3: Web3, limit: int | None = None) -> int:
    """The baseline: one transaction at a time, web3 filling gas and fees, waiting for each receipt.

    `limit`: stop after that many transactions (on a 1 s block node the whole plan takes a minute).
    """
    txs, _ = plan_world(
        DEFAULT_WORLD_SPEC,
        chain_id=w3.eth.chain_id,
        http_url="",
        ws_url="",
        deployer_nonce=w3.eth.get_transaction_count(to_checksum_address(DEPLOYER.address)),
        trader_nonce=w3.eth.get_transaction_count(to_checksum_address(MARKET_TRADER.address)),
    )
    for tx in txs[:limit]:
        fields: dict[str, Any] = {"from": tx.sender, "data": tx.data, "value": tx.value}
        if tx.to is not None:
            fields["to"] = tx.to
        tx_hash = w3.eth.send_transaction(fields)  # type: ignore[arg-type]
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.05)
        assert receipt["status"] == 1, tx.step
    return len(txs[:limit])


def bench_deploy(runs: int, block_time_s: float | None, naive_limit: int | None = None) -> dict[str, Any]:
    """Whole-deployment time, ours vs naive, and per transaction (the naive run may cover a prefix only)."""
    ours, naive = [], []
    naive_done = 0
    for _ in range(runs):
        with Anvil(block_time_s=block_time_s) as node:
            t0 = time.perf_counter()
            world = deploy_world(node.web3(), ws_url=node.ws_url)
            ours.append(time.perf_counter() - t0)
        with Anvil(block_time_s=block_time_s) as node:
            t0 = time.perf_counter()
            naive_done = naive_deploy(node.web3(), naive_limit)
            naive.append(time.perf_counter() - t0)
    plan, _ = plan_world(DEFAULT_WORLD_SPEC, chain_id=0, http_url="", ws_url="", deployer_nonce=0, trader_nonce=0)
    planned = len(plan)
    ours_per_tx = statistics.median(ours) / planned
    naive_per_tx = statistics.median(naive) / naive_done
    return {
        "mode": "automine" if block_time_s is None else f"interval {block_time_s:g}s",
        "transactions": planned,
        "pools": len(world.pools),
        "ours_median_ms": median_ms(ours),
        "naive_transactions_measured": naive_done,
        "naive_median_ms": median_ms(naive),
        "ours_ms_per_tx": round(ours_per_tx * 1000, 2),
        "naive_ms_per_tx": round(naive_per_tx * 1000, 2),
        "speedup_per_tx": round(naive_per_tx / ours_per_tx, 1),
    }


def bench_market(steps: int) -> dict[str, Any]:
    with Anvil(block_time_s=None) as node:
        w3 = node.web3()
        world = deploy_world(w3, ws_url=node.ws_url)
        pools = market_pools(world.pools)

        state = initial_state(pools, 1)
        reserves = {p.address: (p.initial_reserve0, p.initial_reserve1) for p in world.pools}
        t0 = time.perf_counter()
        for _ in range(steps * 10):
            order, state = next_swap(state, reserves)
            if order is not None:
                reserves[order.pool] = reserves_after(*reserves[order.pool], order.zero_for_one, order.amount_in)
        pure_s = time.perf_counter() - t0

        trader = SwapTrader(w3, world, MARKET_TRADER)
        live = LiveReserves(w3, [p.address for p in world.pools])
        state = initial_state(pools, 2)
        sent = []
        t0 = time.perf_counter()
        for _ in range(steps):
            order, state = next_swap(state, live)
            if order is not None:
                sent.append(trader.submit(order))
        chain_s = time.perf_counter() - t0
        reverted = sum(1 for s in sent if not trader.wait_ok(s.swap_tx))
    return {
        "pure_steps_per_s": round(steps * 10 / pure_s),
        "chain_steps": steps,
        "chain_step_ms": round(chain_s / steps * 1000, 2),
        "chain_steps_per_s": round(steps / chain_s, 1),
        "reverted": reverted,
    }


def main() -> int:
    quick = "--quick" in sys.argv
    runs = 1 if quick else 3
    result = {
        "benchmark": "devnet",
        "anvil_start": bench_start(runs * 2),
        "deploy": [bench_deploy(runs, None), bench_deploy(1, 1.0, naive_limit=4)],
        "market": bench_market(30 if quick else 100),
    }
    print(msgspec.json.format(msgspec.json.encode(result)).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
