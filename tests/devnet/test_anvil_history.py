"""anvil's memory bounds keep what the bot and history ingestion read: every block's receipts and logs.

The devnet's blocks come from our clock (anvil runs with --no-mining: its interval miner grew the node
~225 KB a block); with history_states, reads at a block older than that window are refused, and
eth_getLogs and receipts still answer for every block since genesis.
"""

from __future__ import annotations

import pytest

from devnet.anvil import Anvil, AnvilError
from devnet.deploy import deploy_world
from devnet.world import DEFAULT_WORLD_SPEC
from execution.reserve_book import SYNC_TOPIC
from tests.waiting import wait_until

pytestmark = pytest.mark.anvil
WINDOW = 8


def test_a_clocked_node_mines_by_evm_mine_not_anvils_interval_miner() -> None:
    node = Anvil(block_time_s=0.5, history_states=WINDOW)
    argv = node.argv()
    assert "--no-mining" in argv and "--block-time" not in argv
    assert argv[argv.index("--prune-history") + 1] == str(WINDOW)
    with node:
        first = node.web3().eth.block_number
        wait_until(lambda: node.web3().eth.block_number, 15, "the clock's blocks", until=lambda n: n >= first + 2)
    assert not node.running


def test_pruned_history_refuses_old_state_and_keeps_every_log_and_receipt() -> None:
    with Anvil(block_time_s=None, history_states=WINDOW) as node:
        w3 = node.web3()
        world = deploy_world(w3, DEFAULT_WORLD_SPEC, ws_url=node.ws_url)
        deployed = w3.eth.block_number
        node.mine(3 * WINDOW)
        head = w3.eth.block_number
        logs = node.rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(head),
                                        "address": [p.address for p in world.pools], "topics": [[SYNC_TOPIC]]})
        assert {lg["address"].lower() for lg in logs} == {p.address.lower() for p in world.pools}
        assert all(int(lg["blockNumber"], 16) <= deployed for lg in logs)
        receipt = node.rpc("eth_getTransactionReceipt", logs[0]["transactionHash"])
        assert receipt is not None and receipt["logs"]
        balance = [world.deployer, hex(head - 2)]
        assert int(node.rpc("eth_getBalance", *balance), 16) > 0
        with pytest.raises(AnvilError, match="BlockOutOfRange"):
            node.rpc("eth_getBalance", world.deployer, hex(deployed))
