"""The executor's chain I/O, as coroutines on the io loop; each result comes back to the actor as a message
(the messages are in protocol.execution)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from adapters.chain_reads import log_of
from execution.answers import BadAnswer, head_of, simulation_of, uint_word
from execution.receipts import revert_reason
from execution.reserve_book import GET_RESERVES, SYNC_TOPIC, GarbageAnswer, decode_reserves
from execution.revert_cause import pool_touches
from execution.transaction import call_params, decode_uint
from protocol.execution import Inclusion, PoolTouch, RevertEvidence, RevertProbe, Sent, Simulation, Startup
from rpc.routing import is_nonce_too_low

BALANCE_OF = "0x70a08231"  # balanceOf(address)
PRICE0_CUMULATIVE_LAST = "0x5909c0d5"  # UniswapV2Pair.price0CumulativeLast()


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


async def simulate(client: Any, trade_id: str, tx: dict[str, object], amount_in: int,
                   pairs: Sequence[str] = ()) -> Simulation:
    """eth_call (the profit execute returns) and eth_estimateGas, both at latest, sent concurrently, and
    beside them one batch reading each pair's price0CumulativeLast (execution.profitability.gas_used_bound).

    Not one batch: a node answers a batch's calls one after the other, and estimateGas (a search
    over gas limits) is the slow one; the requests run side by side on the node.
    """
    params = call_params(tx)
    reads = [("eth_call", [{"to": pair, "data": PRICE0_CUMULATIVE_LAST}, "latest"]) for pair in pairs]
    try:
        call, estimate, *accumulators = await asyncio.gather(
            client.acall("eth_call", [params, "latest"]), client.acall("eth_estimateGas", [params, "latest"]),
            *([_unless_failed(client.abatch(reads))] if reads else []))
    except Exception as exc:  # no answer at all (node down): the trade is skipped, never sent blind
        return Simulation(trade_id, None, None, f"no answer: {type(exc).__name__}: {exc}", amount_in)
    if call.error is not None:
        return Simulation(trade_id, None, None, revert_reason(_error_dict(call.error)), amount_in)
    if estimate.error is not None:
        return Simulation(trade_id, None, None, revert_reason(_error_dict(estimate.error)), amount_in)
    try:
        profit, gas = simulation_of(call.result, estimate.result)
    except BadAnswer as exc:  # a malformed answer is no simulation: the trade is skipped with what was wrong
        return Simulation(trade_id, None, None, f"unreadable answer: {exc}", amount_in)
    return Simulation(trade_id, profit, gas, "", amount_in,
                      accumulating(accumulators[0]) if accumulators and accumulators[0] is not None else None)


async def _unless_failed(read: Awaitable[Any]) -> Any:
    """The read's answer, or None if it failed: the accumulators only tighten a bound, never block a trade."""
    try:
        return await read
    except Exception:
        return None


def accumulating(answers: Sequence[Any]) -> int | None:
    """How many pairs' price0CumulativeLast is non-zero; None if any answer is missing or malformed."""
    count = 0
    for answer in answers:
        try:
            count += answer.error is None and uint_word(answer.result, "price0CumulativeLast") > 0
        except BadAnswer:
            return None
        if answer.error is not None:
            return None
    return count


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
    head, base_fee = head_of(answers[0].unwrap("eth_getBlockByNumber"))
    receipts = {h: a.unwrap("eth_getTransactionReceipt") for h, a in zip(hashes, answers[1:])}
    return Inclusion(head, base_fee, receipts)  # receipts are decoded by the pipeline (answers.receipt_of)


async def revert_evidence(client: Any, probe: RevertProbe) -> RevertEvidence:
    """The block a trade reverted in, as execution.revert_cause needs it, in one batch: the block's
    transactions (their senders), the Sync logs of the route's pools in it, and their reserves at the
    block before. Then the revert reason, best effort (debug_traceTransaction's call tracer)."""
    pools = sorted(probe.sized_on)
    calls: list[tuple[str, Sequence[Any]]] = [
        ("eth_getBlockByNumber", [hex(probe.block), True]),
        ("eth_getLogs", [{"fromBlock": hex(probe.block), "toBlock": hex(probe.block), "address": pools,
                          "topics": [[SYNC_TOPIC]]}]),
    ]
    calls += [("eth_call", [{"to": p, "data": GET_RESERVES}, hex(probe.block - 1)]) for p in pools]
    answers = await client.abatch(calls)
    block = answers[0].unwrap("eth_getBlockByNumber")
    logs = [log_of(raw) for raw in answers[1].unwrap("eth_getLogs")]
    reserves = {}
    for pool, answer in zip(pools, answers[2:]):
        if answer.error is None:
            try:
                reserves[pool] = decode_reserves(answer.result)
            except GarbageAnswer:
                continue  # left out: the classifier names the pools it could not check
    return RevertEvidence(touches=pool_touches(block, logs), reserves_before=reserves,
                          reason=await _revert_reason(client, probe.tx_hash))


async def rivals(client: Any, block: int, pools: Sequence[str]) -> tuple[PoolTouch, ...]:
    """Who moved these pools in `block` (their Sync logs, with each transaction's sender and fees)."""
    answers = await client.abatch([
        ("eth_getBlockByNumber", [hex(block), True]),
        ("eth_getLogs", [{"fromBlock": hex(block), "toBlock": hex(block), "address": sorted(pools),
                          "topics": [[SYNC_TOPIC]]}]),
    ])
    logs = [log_of(raw) for raw in answers[1].unwrap("eth_getLogs")]
    return pool_touches(answers[0].unwrap("eth_getBlockByNumber"), logs)


async def _revert_reason(client: Any, tx_hash: str) -> str:
    """The revert reason of a mined transaction, or "" when the node will not say (no debug namespace)."""
    try:
        trace = await client.arequest("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
    except Exception:  # many nodes refuse the debug namespace: the cause is decided without it
        return ""
    if not isinstance(trace, dict):
        return ""
    reason = trace.get("revertReason") or trace.get("error") or ""
    return str(reason)[:200]


async def send_raw(client: Any, raw: str) -> str:
    """Broadcast through the router; an RpcError carries the node's refusal (e.g. "nonce too low")."""
    return str(await client.arequest("eth_sendRawTransaction", [raw]))


class HeldByStop(Exception):
    """A send not started: the risk book's emergency stop was active when it was about to leave."""


class TooLate(Exception):
    """A send not started: the chain's head had reached the trade's deadline block, so it could only revert."""


async def unless_stopped(send: Callable[[], Awaitable[Any]], stopped: Callable[[], bool] | None,
                         head: Callable[[], int] | None = None, deadline_block: int | None = None) -> Any:
    """`send()`, unless `stopped()` says an emergency stop is active at the last moment before it starts, or
    the freshest head known (`head()`) has reached `deadline_block` (the trade would land after it: a revert).

    The executor checks both before each step too; these checks close the gap between the step that
    signed a transaction and the io loop starting to send it."""
    if stopped is not None and stopped():
        raise HeldByStop("emergency stop active: not sent")
    if head is not None and deadline_block is not None and (now := head()) >= deadline_block:
        raise TooLate(f"head {now} reached the deadline block {deadline_block} before it was sent")
    return await send()


def sent(trade_id: str, tx_hash: str, *, cancellation: bool = False) -> Callable[[Any], Sent]:
    """The Sent message for a send's answer, the refusal classified here (a "nonce too low" means resync)."""

    def wrap(result: Any) -> Sent:
        too_low = isinstance(result, BaseException) and is_nonce_too_low(str(result))
        return Sent(trade_id, tx_hash, result, cancellation, too_low, held=isinstance(result, HeldByStop),
                    late=isinstance(result, TooLate))

    return wrap
