"""The executor's chain I/O, as coroutines on the io loop; each result comes back to the actor as a message."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from execution.receipts import revert_reason
from execution.transaction import call_params, decode_uint

BALANCE_OF = "0x70a08231"  # balanceOf(address)


# --- what comes back to the executor actor (ctx.pipe) -----------------------------------------------------------


class Started(msgspec.Struct, frozen=True, tag=True):
    result: Any


class Assessed(msgspec.Struct, frozen=True, tag=True):
    trade_id: str
    result: Any  # RiskAssessment or the error


class Simulated(msgspec.Struct, frozen=True, tag=True):
    result: Any  # io.Simulation or the error


class Sent(msgspec.Struct, frozen=True, tag=True):
    trade_id: str
    tx_hash: str
    result: Any  # the node's / relay's answer or the error
    cancellation: bool = False


class NonceSynced(msgspec.Struct, frozen=True, tag=True):
    result: Any  # the pending count or the error
    retry: str | None = None  # a trade to re-sign and resend once the book is synced


class Followed(msgspec.Struct, frozen=True, tag=True):
    result: Any  # io.Inclusion or the error


class FollowTick(msgspec.Struct, frozen=True, tag=True):
    pass


class RetryStartup(msgspec.Struct, frozen=True, tag=True):
    pass




class Startup(msgspec.Struct, frozen=True, tag=True):
    chain_id: int
    head: int
    base_fee_wei: int
    pending_nonce: int | None
    inventory: dict[str, int]


class Simulation(msgspec.Struct, frozen=True, tag=True):
    """eth_call and eth_estimateGas of the exact call at `latest`: profit and gas, or the revert reason."""

    trade_id: str
    profit: int | None
    gas: int | None
    error: str = ""
    amount_in: int = 0  # the size simulated: a result for a size since changed is ignored


class Inclusion(msgspec.Struct, frozen=True, tag=True):
    """The head, then the receipts of the hashes asked for (None: not mined yet)."""

    head: int
    base_fee_wei: int
    receipts: dict[str, Any]


def balance_call(token: str, holder: str) -> tuple[str, list[Any]]:
    data = BALANCE_OF + holder.lower().removeprefix("0x").rjust(64, "0")
    return "eth_call", [{"to": token, "data": data}, "latest"]


async def startup(client: Any, account: str | None, executor: str | None, tokens: Sequence[str]) -> Startup:
    calls: list[tuple[str, Sequence[Any]]] = [("eth_chainId", []), ("eth_getBlockByNumber", ["latest", False])]
    if account:
        calls.append(("eth_getTransactionCount", [account, "pending"]))
    if executor:
        calls += [balance_call(t, executor) for t in tokens]
    answers = await client.abatch(calls)
    chain_id = int(answers[0].unwrap("eth_chainId"), 16)
    block = answers[1].unwrap("eth_getBlockByNumber")
    nonce = int(answers[2].unwrap("eth_getTransactionCount"), 16) if account else None
    first = 3 if account else 2
    inventory = {t: _balance(a) for t, a in zip(tokens, answers[first:])} if executor else {}
    return Startup(chain_id, int(block["number"], 16), int(block.get("baseFeePerGas") or "0x0", 16), nonce, inventory)


def _balance(answer: Any) -> int:
    """A balanceOf answer; 0 when there is no such token or contract (e.g. paper mode on a chain without ours)."""
    if answer.error is not None:
        return 0
    try:
        return decode_uint(answer.result)
    except (ValueError, TypeError):
        return 0


async def simulate(client: Any, trade_id: str, tx: dict[str, object], amount_in: int) -> Simulation:
    """eth_call (the profit execute returns) and eth_estimateGas, both at latest, sent concurrently.

    Not one batch: a node answers a batch's calls one after the other, and estimateGas (a search
    over gas limits) is the slow one; two requests run side by side on the node.
    """
    params = call_params(tx)
    try:
        call, estimate = await asyncio.gather(client.acall("eth_call", [params, "latest"]),
                                              client.acall("eth_estimateGas", [params, "latest"]))
    except Exception as exc:  # no answer at all (node down): the trade is skipped, never sent blind
        return Simulation(trade_id, None, None, f"no answer: {type(exc).__name__}: {exc}", amount_in)
    if call.error is not None:
        return Simulation(trade_id, None, None, revert_reason(_error_dict(call.error)), amount_in)
    if estimate.error is not None:
        return Simulation(trade_id, None, None, revert_reason(_error_dict(estimate.error)), amount_in)
    return Simulation(trade_id, decode_uint(call.result), int(estimate.result, 16), "", amount_in)


def _error_dict(error: Any) -> dict[str, Any]:
    return {"code": error.code, "message": error.message, "data": error.data}


async def pending_nonce(client: Any, account: str) -> int:
    return int(await client.arequest("eth_getTransactionCount", [account, "pending"]), 16)


async def follow(client: Any, hashes: Iterable[str]) -> Inclusion:
    """The head first, then receipts: a receipt missing at a head we have seen is truly missing."""
    hashes = list(hashes)
    calls: list[tuple[str, Sequence[Any]]] = [("eth_getBlockByNumber", ["latest", False])]
    calls += [("eth_getTransactionReceipt", [h]) for h in hashes]
    answers = await client.abatch(calls)
    block = answers[0].unwrap("eth_getBlockByNumber")
    receipts = {h: a.unwrap("eth_getTransactionReceipt") for h, a in zip(hashes, answers[1:])}
    return Inclusion(int(block["number"], 16), int(block.get("baseFeePerGas") or "0x0", 16), receipts)


async def send_raw(client: Any, raw: str) -> str:
    """Broadcast through the router; an RpcError carries the node's refusal (e.g. "nonce too low")."""
    return str(await client.arequest("eth_sendRawTransaction", [raw]))
