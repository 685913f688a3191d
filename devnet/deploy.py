"""Deploy the devnet world: two Uniswap V2 DEXes, a WETH, four ERC20s, and pools with liquidity.

Fast because nothing waits: every address is known before the first transaction is sent
(CREATE addresses from the deployer's nonce, pair addresses from CREATE2 over the pair's real
creation code), so the whole deployment is planned as one list of transactions by a pure
function, sent back to back with explicit nonces and gas, and only then mined (`evm_mine` until
the last receipt exists, which works whether the node automines or mines on an interval).
Afterwards every planned fact is checked against the chain: receipt status, factory.getPair,
pair.getReserves. A mismatch raises DeployFailed naming the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import eth_abi
import msgspec
import rlp  # type: ignore[import-untyped]
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from devnet import artifacts
from devnet.accounts import BOT, DEPLOYER, MARKET_TRADER
from devnet.world import (
    DEFAULT_WORLD_SPEC,
    DevnetWorld,
    DexInfo,
    PoolInfo,
    TokenInfo,
    WorldSpec,
)

# Gas limits per kind of transaction: generous fixed values instead of an eth_estimateGas round trip
# each. Measured on anvil 1.7: factory 2.5M, token 0.7M, createPair 2.1M, mint 0.13M.
GAS_FACTORY = 4_000_000
GAS_TOKEN = 1_500_000
GAS_CREATE_PAIR = 3_000_000
GAS_TRANSFER = 100_000
GAS_MINT = 300_000
GAS_DEPOSIT = 100_000
MAX_FEE_PER_GAS = 100 * 10**9  # far above a devnet base fee; only base fee + tip is charged
PRIORITY_FEE = 10**9
MAX_MINE_ROUNDS = 64  # evm_mine calls allowed while waiting for the last receipt
RECEIPT_TIMEOUT_S = 30.0  # bound on an automining node sealing the block of a sent transaction
GET_RESERVES = "0x0902f1ac"  # UniswapV2Pair.getReserves() selector


class DeployFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"devnet deploy failed at {step!r}: {reason}")
        self.step = step
        self.reason = reason


class PlannedTx(msgspec.Struct, frozen=True):
    step: str  # what it does, for error messages: "createPair uniswap WETH/USDC"
    sender: str
    nonce: int
    to: str | None  # None: contract creation
    data: str
    gas: int
    value: int = 0


# --- pure address and calldata helpers -----------------------------------------------------------


def create_address(sender: str, nonce: int) -> str:
    """Address of the contract `sender` creates with `nonce` (CREATE: keccak(rlp([sender, nonce])))."""
    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def pair_address(factory: str, token_a: str, token_b: str, init_code_hash: bytes) -> str:
    """UniswapV2Library.pairFor: CREATE2 with salt keccak(token0 ++ token1)."""
    token0, token1 = sort_tokens(token_a, token_b)
    salt = keccak(bytes.fromhex(token0[2:]) + bytes.fromhex(token1[2:]))
    return to_checksum_address(keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + init_code_hash)[12:])


def sort_tokens(token_a: str, token_b: str) -> tuple[str, str]:
    """The pair's (token0, token1): ordered by numeric address value."""
    if int(token_a, 16) == int(token_b, 16):
        raise ValueError(f"a pair needs two different tokens, got {token_a} twice")
    return (token_a, token_b) if int(token_a, 16) < int(token_b, 16) else (token_b, token_a)


def calldata(signature: str, types: Sequence[str], args: Sequence[Any]) -> str:
    return "0x" + (keccak(text=signature)[:4] + eth_abi.encode(list(types), list(args))).hex()


def creation_data(bytecode: str, types: Sequence[str] = (), args: Sequence[Any] = ()) -> str:
    return bytecode + (eth_abi.encode(list(types), list(args)).hex() if types else "")


def pair_init_code_hash() -> bytes:
    return keccak(hexstr=artifacts.uniswap_v2("UniswapV2Pair").bytecode)


# --- the plan (pure) -----------------------------------------------------------------------------


def plan_world(
    spec: WorldSpec,
    *,
    chain_id: int,
    http_url: str,
    ws_url: str,
    deployer_nonce: int,
    trader_nonce: int,
    deployer: str = DEPLOYER.address,
    trader: str = MARKET_TRADER.address,
    bot: str = BOT.address,
) -> tuple[list[PlannedTx], DevnetWorld]:
    """Every transaction of the deployment, in send order, and the world they will produce."""
    txs: list[PlannedTx] = []
    nonce = deployer_nonce

    def send(step: str, to: str | None, data: str, gas: int, value: int = 0) -> str:
        nonlocal nonce
        txs.append(PlannedTx(step, deployer, nonce, to, data, gas, value))
        created = create_address(deployer, nonce) if to is None else to
        nonce += 1
        return created

    factory_code = artifacts.uniswap_v2("UniswapV2Factory").bytecode
    init_hash = pair_init_code_hash()
    dexes = tuple(
        DexInfo(
            name=d.name,
            factory=send(
                f"deploy UniswapV2Factory {d.name}",
                None,
                creation_data(factory_code, ["address"], [deployer]),
                GAS_FACTORY,
            ),
            pair_init_code_hash="0x" + init_hash.hex(),
        )
        for d in spec.dexes
    )

    tokens: list[TokenInfo] = []
    for t in spec.tokens:
        if t.wrapped_native:
            data = artifacts.devnet_token("DevnetWETH").bytecode
        else:
            data = creation_data(
                artifacts.devnet_token("DevnetERC20").bytecode,
                ["string", "string", "uint8", "uint256"],
                [t.name, t.symbol, t.decimals, t.supply * 10**t.decimals],
            )
        address = send(f"deploy token {t.symbol}", None, data, GAS_TOKEN)
        tokens.append(TokenInfo(t.symbol, t.name, t.decimals, address, t.usd_price, t.wrapped_native))
    by_symbol = {t.symbol: t for t in tokens}
    weth = next((t for t in tokens if t.wrapped_native), None)

    # Amounts per pool side: the DEX's liquidity in USD at the token's seed price.
    sides = {
        (d.name, pair): (spec.usd_to_units(pair[0], d.liquidity_usd), spec.usd_to_units(pair[1], d.liquidity_usd))
        for d in spec.dexes
        for pair in spec.pairs
    }
    if weth is not None:
        wrap = sum(a if pair[0] == weth.symbol else b for (_, pair), (a, b) in sides.items() if weth.symbol in pair)
        if wrap:
            send(f"wrap {wrap} wei into {weth.symbol}", weth.address, calldata("deposit()", [], []), GAS_DEPOSIT, wrap)

    pools: list[PoolInfo] = []
    for dex in dexes:
        for sym_a, sym_b in spec.pairs:
            a, b = by_symbol[sym_a], by_symbol[sym_b]
            send(
                f"createPair {dex.name} {sym_a}/{sym_b}",
                dex.factory,
                calldata("createPair(address,address)", ["address", "address"], [a.address, b.address]),
                GAS_CREATE_PAIR,
            )
            pair = pair_address(dex.factory, a.address, b.address, init_hash)
            amount_a, amount_b = sides[(dex.name, (sym_a, sym_b))]
            t0, t1 = (a, b) if sort_tokens(a.address, b.address)[0] == a.address else (b, a)
            r0, r1 = (amount_a, amount_b) if t0 is a else (amount_b, amount_a)
            pools.append(PoolInfo(pair, dex.name, t0.address, t1.address, t0.symbol, t1.symbol, r0, r1))

    for pool in pools:
        for side, amount in ((pool.token0, pool.initial_reserve0), (pool.token1, pool.initial_reserve1)):
            send(f"fund {pool.label}", side, _transfer(pool.address, amount), GAS_TRANSFER)
        send(f"mint {pool.label}", pool.address, calldata("mint(address)", ["address"], [deployer]), GAS_MINT)

    for token in tokens:
        amount = spec.usd_to_units(token.symbol, spec.trader_funding_usd)
        if token.wrapped_native:  # the trader wraps its own ETH: the deployer's went into the pools
            wrap_tx = PlannedTx(
                f"trader wraps {token.symbol}", trader, trader_nonce, token.address,
                calldata("deposit()", [], []), GAS_DEPOSIT, amount,
            )
            txs.append(wrap_tx)
            trader_nonce += 1
        else:
            send(f"fund trader with {token.symbol}", token.address, _transfer(trader, amount), GAS_TRANSFER)

    world = DevnetWorld(
        chain_id=chain_id,
        http_url=http_url,
        ws_url=ws_url,
        deployer=deployer,
        trader=trader,
        bot=bot,
        dexes=dexes,
        tokens=tuple(tokens),
        pools=tuple(pools),
        deployed_at_block=0,
    )
    return txs, world


def _transfer(to: str, amount: int) -> str:
    return calldata("transfer(address,uint256)", ["address", "uint256"], [to, amount])


# --- execution (I/O) -----------------------------------------------------------------------------


def deploy_world(
    w3: Web3,
    spec: WorldSpec = DEFAULT_WORLD_SPEC,
    *,
    ws_url: str = "",
    deployer: str = DEPLOYER.address,
    trader: str = MARKET_TRADER.address,
    bot: str = BOT.address,
) -> DevnetWorld:
    """Deploy `spec` on an anvil node whose dev accounts are unlocked; return what was deployed.

    Works in automine and interval-mining mode alike and leaves the mining mode unchanged.
    """
    http_url = str(getattr(w3.provider, "endpoint_uri", ""))
    txs, world = plan_world(
        spec,
        chain_id=w3.eth.chain_id,
        http_url=http_url,
        ws_url=ws_url,
        deployer_nonce=w3.eth.get_transaction_count(to_checksum_address(deployer), "pending"),
        trader_nonce=w3.eth.get_transaction_count(to_checksum_address(trader), "pending"),
        deployer=deployer,
        trader=trader,
        bot=bot,
    )
    hashes = _send_in_blocks(w3, txs)
    receipts = _batch(w3, [("eth_getTransactionReceipt", [h]) for h in hashes])
    for tx, tx_hash, receipt in zip(txs, hashes, receipts):
        if not receipt:
            raise DeployFailed(tx.step, f"transaction {tx_hash} was never mined")
        if int(receipt["status"], 16) != 1:
            raise DeployFailed(tx.step, f"transaction {tx_hash} reverted")
    _verify(w3, world)
    last_block = max(int(r["blockNumber"], 16) for r in receipts)
    return msgspec.structs.replace(world, deployed_at_block=last_block)


def _send(w3: Web3, tx: PlannedTx) -> str:
    fields: dict[str, Any] = {
        "from": tx.sender,
        "nonce": hex(tx.nonce),
        "gas": hex(tx.gas),
        "maxFeePerGas": hex(MAX_FEE_PER_GAS),
        "maxPriorityFeePerGas": hex(PRIORITY_FEE),
        "value": hex(tx.value),
        "data": tx.data,
    }
    if tx.to is not None:
        fields["to"] = tx.to
    answer = w3.provider.make_request("eth_sendTransaction", [fields])  # type: ignore[arg-type]
    if "error" in answer:
        raise DeployFailed(tx.step, str(answer["error"].get("message", answer["error"])))
    return str(answer["result"])


def _send_in_blocks(w3: Web3, txs: list[PlannedTx]) -> list[str]:
    """Send every transaction; on an interval-mining node, in waves that fit one block each.

    anvil drops (does not postpone) pending transactions that do not fit the block being mined, so
    a wave's summed gas limits stay under the block gas limit and each wave is mined with evm_mine
    before the next is sent. On an automining node every transaction is its own block already.
    """
    automine = bool(w3.provider.make_request("anvil_getAutomine", []).get("result"))  # type: ignore[arg-type]
    budget = int(w3.eth.get_block("latest")["gasLimit"])
    hashes: list[str] = []
    wave: dict[str, str] = {}  # sender -> its last transaction in the wave (nonces mine in order)
    wave_gas = 0
    for tx in txs:
        if not automine and wave and wave_gas + tx.gas > budget:
            _mine_wave(w3, wave)
            wave, wave_gas = {}, 0
        tx_hash = _send(w3, tx)
        hashes.append(tx_hash)
        wave[tx.sender] = tx_hash
        wave_gas += tx.gas
    if not automine and wave:
        _mine_wave(w3, wave)
    if automine:  # anvil answers a send before its block is sealed: wait for each sender's last one
        for last in {tx.sender: h for tx, h in zip(txs, hashes)}.values():
            w3.eth.wait_for_transaction_receipt(HexBytes(last), timeout=RECEIPT_TIMEOUT_S, poll_latency=0.005)
    return hashes


def _mine_wave(w3: Web3, wave: dict[str, str]) -> None:
    for _ in range(MAX_MINE_ROUNDS):
        if all(_receipt(w3, h) is not None for h in wave.values()):
            return
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    raise DeployFailed("mining", f"transactions still pending after {MAX_MINE_ROUNDS} blocks")


def _receipt(w3: Web3, tx_hash: str) -> dict[str, Any] | None:
    answer = w3.provider.make_request("eth_getTransactionReceipt", [tx_hash])  # type: ignore[arg-type]
    return answer.get("result") or None


def _batch(w3: Web3, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """Results of read-only calls sent as one JSON-RPC batch (one HTTP round trip)."""
    if not calls:
        return []
    answers = w3.provider.make_batch_request(calls)  # type: ignore[attr-defined]
    if not isinstance(answers, list):  # the node refused the batch as a whole
        raise DeployFailed("verification", f"batch request failed: {answers.get('error', answers)}")
    results = []
    for (method, params), answer in zip(calls, answers):
        if "error" in answer:
            raise DeployFailed("verification", f"{method}{params} failed: {answer['error']}")
        results.append(answer.get("result"))
    return results


def _verify(w3: Web3, world: DevnetWorld) -> None:
    """Check the planned pair addresses and reserves against the chain (factory.getPair, getReserves)."""
    factories = {d.name: d.factory for d in world.dexes}
    get_pair = [
        ("eth_call", [{"to": factories[p.dex], "data": _get_pair(p.token0, p.token1)}, "latest"]) for p in world.pools
    ]
    get_reserves = [("eth_call", [{"to": p.address, "data": GET_RESERVES}, "latest"]) for p in world.pools]
    answers = _batch(w3, get_pair + get_reserves)
    for i, pool in enumerate(world.pools):
        onchain = to_checksum_address("0x" + answers[i][-40:])
        if onchain != pool.address:
            raise DeployFailed(f"createPair {pool.label}", f"factory.getPair says {onchain}, planned {pool.address}")
        raw = bytes.fromhex(answers[len(world.pools) + i][2:])
        r0, r1 = int.from_bytes(raw[0:32], "big"), int.from_bytes(raw[32:64], "big")
        if (r0, r1) != (pool.initial_reserve0, pool.initial_reserve1):
            raise DeployFailed(
                f"mint {pool.label}",
                f"reserves {r0}/{r1}, expected {pool.initial_reserve0}/{pool.initial_reserve1}",
            )


def _get_pair(token_a: str, token_b: str) -> str:
    return calldata("getPair(address,address)", ["address", "address"], [token_a, token_b])
