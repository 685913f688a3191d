"""The deployed world is what DevnetWorld says it is, read back from the chain through web3."""

from __future__ import annotations

import msgspec
import pytest
from eth_utils import to_checksum_address
from web3.types import Wei

from devnet import artifacts
from devnet.accounts import DEPLOYER, MARKET_TRADER
from devnet.deploy import DeployFailed, create_address, deploy_world, pair_address, plan_world
from devnet.session import Devnet, devnet_world
from devnet.world import DEFAULT_WORLD_SPEC, DevnetWorld

pytestmark = pytest.mark.anvil

# anvil's first contract (deployer 0xf39F..., nonce 0): every Foundry user has seen this address.
FIRST_ANVIL_CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
# Mainnet Uniswap V2: factory, WETH, USDC and their pair, from the same published bytecode.
MAINNET_FACTORY = "0x5C69bEe701ef814a2B6a3EDD4B1652CB9cc5aA6f"
MAINNET_WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
MAINNET_USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
MAINNET_WETH_USDC = "0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc"


def _pair(d: Devnet, address: str):
    return d.w3.eth.contract(address=to_checksum_address(address), abi=artifacts.uniswap_v2("UniswapV2Pair").abi)


def _erc20(d: Devnet, address: str):
    return d.w3.eth.contract(address=to_checksum_address(address), abi=artifacts.devnet_token("DevnetERC20").abi)


def test_address_arithmetic_matches_known_deployments():
    assert create_address(DEPLOYER.address, 0) == FIRST_ANVIL_CONTRACT
    init_hash = bytes.fromhex(
        "96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"
    )  # mainnet's UniswapV2Library constant
    assert pair_address(MAINNET_FACTORY, MAINNET_USDC, MAINNET_WETH, init_hash) == MAINNET_WETH_USDC


def test_world_has_two_dexes_a_weth_four_tokens_and_shared_pairs(devnet: Devnet):
    world = devnet.world
    assert {d.name for d in world.dexes} == {"uniswap", "sushiswap"}
    assert len({d.factory for d in world.dexes}) == 2
    assert world.weth.symbol == "WETH" and world.weth.wrapped_native
    assert len([t for t in world.tokens if not t.wrapped_native]) >= 4
    assert len(world.pools) >= 6
    pairs_by_dex = {d.name: {frozenset((p.symbol0, p.symbol1)) for p in world.pools_on(d.name)} for d in world.dexes}
    assert pairs_by_dex["uniswap"] == pairs_by_dex["sushiswap"]
    assert world.trader == MARKET_TRADER.address and world.trader != world.bot


def test_every_pool_holds_the_minted_reserves(devnet: Devnet):
    for pool in devnet.world.pools:
        pair = _pair(devnet, pool.address)
        r0, r1, _ = pair.functions.getReserves().call()
        assert r0 > 0 and r1 > 0, pool.label
        assert (r0, r1) == (pool.initial_reserve0, pool.initial_reserve1), pool.label
        assert pair.functions.token0().call() == pool.token0
        assert pair.functions.token1().call() == pool.token1
        assert int(pool.token0, 16) < int(pool.token1, 16)
        # the pair's own balances back its reserves (nothing skimmable left over)
        assert _erc20(devnet, pool.token0).functions.balanceOf(pool.address).call() == r0
        assert _erc20(devnet, pool.token1).functions.balanceOf(pool.address).call() == r1


def test_pools_are_seeded_at_the_spec_prices_on_both_dexes(devnet: Devnet):
    world = devnet.world
    for sym_a, sym_b in DEFAULT_WORLD_SPEC.pairs:
        a, b = world.token(sym_a), world.token(sym_b)
        for dex in world.dexes:
            pool = world.pool(dex.name, sym_a, sym_b)
            r_a, r_b = (
                (pool.initial_reserve0, pool.initial_reserve1)
                if pool.token0 == a.address
                else (pool.initial_reserve1, pool.initial_reserve0)
            )
            price_a_in_b = (r_b / 10**b.decimals) / (r_a / 10**a.decimals)
            assert price_a_in_b == pytest.approx(a.usd_price / b.usd_price, rel=1e-6)


def test_factories_know_their_pairs_and_the_deployer_sets_fees(devnet: Devnet):
    abi = artifacts.uniswap_v2("UniswapV2Factory").abi
    for dex in devnet.world.dexes:
        factory = devnet.w3.eth.contract(address=to_checksum_address(dex.factory), abi=abi)
        pools = devnet.world.pools_on(dex.name)
        assert factory.functions.allPairsLength().call() == len(pools)
        assert factory.functions.feeToSetter().call() == DEPLOYER.address
        for pool in pools:
            assert factory.functions.getPair(pool.token1, pool.token0).call() == pool.address


def test_tokens_report_their_symbol_and_decimals_on_chain(devnet: Devnet):
    for token in devnet.world.tokens:
        erc20 = _erc20(devnet, token.address)
        assert erc20.functions.symbol().call() == token.symbol
        assert erc20.functions.decimals().call() == token.decimals
        trader_balance = erc20.functions.balanceOf(devnet.world.trader).call()
        assert trader_balance == DEFAULT_WORLD_SPEC.usd_to_units(token.symbol, DEFAULT_WORLD_SPEC.trader_funding_usd)


def test_weth_wraps_and_unwraps(isolated_devnet: Devnet):
    w3, weth = isolated_devnet.w3, isolated_devnet.world.weth
    contract = w3.eth.contract(address=to_checksum_address(weth.address), abi=artifacts.devnet_token("DevnetWETH").abi)
    who = isolated_devnet.node.accounts[7].address
    # anvil answers a send once the transaction is pooled, which can be before its block is sealed:
    # read the balance only after the receipt
    deposit = w3.eth.send_transaction({"from": who, "to": weth.address, "value": Wei(5 * 10**18)})  # receive()
    w3.eth.wait_for_transaction_receipt(deposit, timeout=10, poll_latency=0.005)
    assert contract.functions.balanceOf(who).call() == 5 * 10**18
    withdrawal = contract.functions.withdraw(2 * 10**18).transact({"from": who})
    w3.eth.wait_for_transaction_receipt(withdrawal, timeout=10, poll_latency=0.005)
    assert contract.functions.balanceOf(who).call() == 3 * 10**18


def test_world_round_trips_through_json(devnet: Devnet):
    data = devnet.world.to_json()
    again = DevnetWorld.from_json(data)
    assert again == devnet.world
    assert msgspec.json.decode(data)["pools"][0]["address"] == devnet.world.pools[0].address
    assert devnet.world.deployed_at_block > 0


def test_plan_is_pure_and_deterministic():
    kwargs = dict(chain_id=31337, http_url="http://x", ws_url="ws://x", deployer_nonce=3, trader_nonce=1)
    txs1, world1 = plan_world(DEFAULT_WORLD_SPEC, **kwargs)  # type: ignore[arg-type]
    txs2, world2 = plan_world(DEFAULT_WORLD_SPEC, **kwargs)  # type: ignore[arg-type]
    assert txs1 == txs2 and world1 == world2
    deployer_nonces = [t.nonce for t in txs1 if t.sender == DEPLOYER.address]
    assert deployer_nonces == list(range(3, 3 + len(deployer_nonces)))
    assert world1.dexes[0].factory == create_address(DEPLOYER.address, 3)


def test_deploys_on_an_interval_mining_node_too(no_leaked_anvil):
    # A node that mines a block a second: deploy mines its own blocks instead of waiting for them.
    with devnet_world(block_time_s=1.0) as d:
        assert d.node.rpc("anvil_getAutomine") is False
        for pool in d.world.pools:
            r0, r1, _ = _pair(d, pool.address).functions.getReserves().call()
            assert (r0, r1) == (pool.initial_reserve0, pool.initial_reserve1)


def test_a_failing_step_is_named(isolated_devnet: Devnet):
    # USDC with a supply of 1,000 whole tokens cannot fund a $1M pool: the funding transfer reverts.
    tokens = tuple(
        msgspec.structs.replace(t, supply=1_000) if t.symbol == "USDC" else t for t in DEFAULT_WORLD_SPEC.tokens
    )
    starved = msgspec.structs.replace(DEFAULT_WORLD_SPEC, tokens=tokens)
    with pytest.raises(DeployFailed) as err:
        deploy_world(isolated_devnet.w3, starved)
    assert err.value.step.startswith("fund uniswap:") and "USDC" in err.value.step
    assert "reverted" in str(err.value) and "\n" not in str(err.value)


def test_world_speaks_pool_states_vocabulary(devnet: Devnet):
    watched = devnet.world.watched_pools()
    assert [w.address for w in watched] == [p.address for p in devnet.world.pools]
    assert all(w.token0 == p.token0 and w.dex == p.dex for w, p in zip(watched, devnet.world.pools))
    assert {f.address for f in devnet.world.factories()} == {d.factory for d in devnet.world.dexes}
