"""Given real RPC URLs (here: a separate anvil with the world deployed) and no key, `run.py` watches the
chain in paper mode: it discovers the pools from the factories, detects and simulates, and sends nothing."""

from __future__ import annotations

import json
from typing import Any

from bot.app import SHUTDOWN_BOUND_S
from devnet import open_devnet
from devnet.accounts import BOT
from devnet.executor_setup import deploy_executor
from tests.app.conftest import BotRun, wait_no_leftovers
from tests.execution.helpers import checksum, market_swap
from tests.waiting import wait_until


def _inspect(bot: BotRun, path: str) -> dict[str, Any]:
    answer = bot.run("console", "--data-dir", str(bot.data_dir), "inspect", path, timeout_s=30)
    assert answer.returncode == 0, answer.stderr
    return dict(json.loads(answer.stdout))


def test_real_rpc_urls_without_a_key_detect_and_simulate_but_send_nothing(bot: BotRun) -> None:
    with open_devnet(block_time_s=None) as chain:
        world = chain.world
        executor = deploy_executor(chain.w3, BOT.address, weth=world.weth.address, weth_inventory_wei=10 * 10**18)
        bot.env.update({
            "RPC_URL_PRIMARY": chain.node.http_url,
            "WS_URL_PRIMARY": chain.node.ws_url,
            "WETH_ADDRESS": world.weth.address,
            "FACTORIES": ",".join(f"{d.name}={d.factory}" for d in world.dexes),
            "EXECUTOR_ADDRESS": executor,
            "NUMERAIRE_TOKEN": world.token("USDC").address,
        })
        nonce_before = chain.w3.eth.get_transaction_count(checksum(BOT.address))
        proc = bot.start()
        try:
            bot.wait_console(proc)
            pools = wait_until(lambda: _inspect(bot, "/market/pool-state").get("snapshot") or {}, 30,
                               "pools discovered from PairCreated and read",
                               until=lambda p: len(p.get("pools", ())) == len(world.pools))
            assert len(pools["pools"]) == len(world.pools)
            pool = world.pool("sushiswap", "WETH", "USDC")

            def executor_after_a_gap() -> dict[str, Any]:
                snap: dict[str, Any] = _inspect(bot, "/market/executor")["snapshot"]
                if snap["received"] == 0 and snap["skipped"] == 0:
                    market_swap(chain.w3, world, pool.address, True, 20_000)  # open a gap
                return snap

            snap = wait_until(executor_after_a_gap, 30, "a paper trade recorded", until=lambda s: s["skipped"] >= 1)
            assert snap["mode"] == "paper" and snap["mined"] == 0 and snap["in_flight"] == 0
        finally:
            out = bot.interrupt(proc, SHUTDOWN_BOUND_S + 10)
        assert proc.returncode == 0, out
        assert "paper mode" in out
        nonce_after = chain.w3.eth.get_transaction_count(checksum(BOT.address))
        assert nonce_after == nonce_before, "paper mode sent a transaction"
    assert wait_no_leftovers(bot.marker) == []
