"""The repository's example bot.toml: `python run.py --config bot.toml` runs in paper mode against an RPC
endpoint (here a separate anvil with the world deployed stands in for mainnet; the environment replaces
the file's mainnet URLs and addresses, as the file's comments tell an operator to do for secrets)."""

from __future__ import annotations

import json
from typing import Any

from bot.app import SHUTDOWN_BOUND_S
from devnet import open_devnet
from devnet.accounts import BOT
from devnet.executor_setup import deploy_executor
from protocol.config import load_config
from tests.app.conftest import REPO, BotRun, wait_no_leftovers
from tests.execution.helpers import checksum
from tests.waiting import wait_until

EXAMPLE = REPO / "bot.toml"


def _console(bot: BotRun, *argv: str) -> dict[str, Any]:
    answer = bot.run("console", "--data-dir", str(bot.data_dir), *argv, timeout_s=30)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return dict(json.loads(answer.stdout))


def test_the_example_loads_as_it_says() -> None:
    config = load_config({}, str(EXAMPLE))
    assert not config.devnet and not config.execution.live_mode and config.network.chain_id == 1
    assert [e.name for e in config.network.endpoints] == ["primary", "secondary"]
    assert config.market.executor_address is None  # the operator's own contract: the file cannot know it
    assert len(config.market.factories) == 2 and config.market.numeraire_token is not None


def test_run_py_with_bot_toml_watches_in_paper_mode(bot: BotRun) -> None:
    with open_devnet(block_time_s=1.0) as chain:
        world = chain.world
        executor = deploy_executor(chain.w3, BOT.address, weth=world.weth.address, weth_inventory_wei=10 * 10**18)
        bot.env.update({
            "RPC_URL_PRIMARY": chain.node.http_url, "WS_URL_PRIMARY": chain.node.ws_url,
            "RPC_URL_SECONDARY": chain.node.http_url, "CHAIN_ID": str(world.chain_id),
            "WETH_ADDRESS": world.weth.address, "FACTORIES": ",".join(f"{d.name}={d.factory}" for d in world.dexes),
            "EXECUTOR_ADDRESS": executor, "NUMERAIRE_TOKEN": world.token("USDC").address,
        })
        nonce_before = chain.w3.eth.get_transaction_count(checksum(BOT.address))
        proc = bot.start("--config", str(EXAMPLE))
        try:
            bot.wait_console(proc)
            shown = _console(bot, "config")
            assert shown["devnet"] is False and shown["execution"]["live_mode"] is False
            assert [e["region"] for e in shown["network"]["endpoints"]] == ["eu", "us"]  # from the file
            assert shown["monitoring"]["log_retention"] == {"count": None, "max_age_s": 7 * 86400.0}
            pools = wait_until(lambda: _console(bot, "inspect", "/market/pool-state").get("snapshot") or {}, 60,
                               "pools discovered from PairCreated",
                               until=lambda p: len(p.get("pools", ())) == len(world.pools))
            assert len(pools["pools"]) == len(world.pools)
            snap = _console(bot, "inspect", "/market/executor")["snapshot"]
            assert snap["mode"] == "paper" and snap["mined"] == 0
        finally:
            out = bot.interrupt(proc, SHUTDOWN_BOUND_S + 10)
        assert proc.returncode == 0, out
        assert "paper mode" in out
        assert chain.w3.eth.get_transaction_count(checksum(BOT.address)) == nonce_before, "paper mode sent"
    assert wait_no_leftovers(bot.marker) == []
