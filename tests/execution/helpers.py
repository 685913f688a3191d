"""Helpers shared by the execution and end-to-end tests (a pinned RpcClient, trees, market swaps)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from eth_typing import ChecksumAddress
from web3 import Web3

from protocol.network import EndpointRoute, RoutingTable
from rpc.client import RpcClient
from supervision import ChildSpec, supervisor_spec
from supervision.tree import Tree, start_tree

if TYPE_CHECKING:
    from devnet.world import DevnetWorld


#: A competitor's maxFeePerGas: above the devnet market's 100 gwei, which the bot outbids from its first trade
#: on (execution.tips), so a swap sent with it is ordered ahead of the bot's trade on anvil.
COMPETITOR_MAX_FEE = 300 * 10**9


def pinned_client(url: str, chain_id: int) -> RpcClient:
    """An RpcClient routed to one endpoint without a router actor (the table is fixed)."""
    table = RoutingTable(chain_id=chain_id, routes=(EndpointRoute(name="anvil", url=url, hedge_delay_s=0.25),))
    return RpcClient(table=lambda: table, report=lambda outcome: None)


def start(children: list[ChildSpec]) -> Tree:
    return start_tree(supervisor_spec("root", children))


def market_swap(
    w3: Web3, world: DevnetWorld, pool_address: str, zero_for_one: bool, share_ppm: int,
    mine: Callable[[], None] | None = None, max_fee_wei: int | None = None,
) -> int:
    """A market swap of share_ppm of the input reserve on one pool, from the market trader; waits for both txs.

    With mining paused, pass `mine` (e.g. anvil's evm_mine) to mine the block holding them; `max_fee_wei`
    outbids the bot on anvil, which orders a block by maxFeePerGas (a competitor). Returns the
    swap's block (read from its receipt: the bot may have mined more blocks by the time this returns)."""
    from devnet.accounts import MARKET_TRADER
    from devnet.market import SwapOrder, get_amount_out
    from devnet.swaps import SwapTrader, read_reserves

    r0, r1 = read_reserves(w3, pool_address, "latest")
    reserve_in, reserve_out = (r0, r1) if zero_for_one else (r1, r0)
    amount_in = reserve_in * share_ppm // 1_000_000
    order = SwapOrder(pool_address, zero_for_one, amount_in, get_amount_out(amount_in, reserve_in, reserve_out), 0,
                      True)
    trader = SwapTrader(w3, world, MARKET_TRADER) if max_fee_wei is None else \
        SwapTrader(w3, world, MARKET_TRADER, max_fee_per_gas=max_fee_wei)
    sent = trader.submit(order)
    if mine is not None:
        mine()
    block = 0
    for tx_hash in (sent.transfer_tx, sent.swap_tx):
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)  # type: ignore[arg-type]
        assert receipt["status"] == 1, f"market swap {tx_hash} reverted"
        block = int(receipt["blockNumber"])
    return block


def checksum(address: str) -> ChecksumAddress:
    return Web3.to_checksum_address(address)
