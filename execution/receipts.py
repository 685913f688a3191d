"""Reading what happened: realized profit from a receipt's logs, and why an eth_call reverted.

The realized profit is read from the executor contract's own `Executed` event and cross-checked
against the ERC20 Transfer logs of the profit token in and out of the contract; the two must
agree to the wei or the receipt is not trusted (`ReceiptMismatch`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import eth_abi
from eth_utils import keccak
from loguru import logger

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
EXECUTED_TOPIC = "0x" + keccak(text="Executed(address,uint256,uint256,uint256,bool)").hex()
ERROR_SELECTOR = keccak(text="Error(string)")[:4]


class ReceiptMismatch(ValueError):
    """The receipt's Executed event and its token transfers disagree (or the event is missing)."""


def _topic_address(topic: str) -> str:
    return "0x" + topic.removeprefix("0x")[-40:].lower()


def _word(data: str, index: int) -> int:
    raw = data.removeprefix("0x")
    return int(raw[index * 64 : (index + 1) * 64], 16)


def token_flow(logs: Sequence[Mapping[str, Any]], token: str, holder: str) -> int:
    """Net amount of `token` that `holder` received in these logs (in minus out), from Transfer events."""
    token, holder = token.lower(), holder.lower()
    net = 0
    for log in logs:
        topics = log.get("topics") or []
        if str(log.get("address", "")).lower() != token or len(topics) != 3 or topics[0].lower() != TRANSFER_TOPIC:
            continue
        amount = _word(str(log.get("data", "0x")), 0)
        if _topic_address(topics[2]) == holder:
            net += amount
        if _topic_address(topics[1]) == holder:
            net -= amount
    return net


def executed_profit(logs: Sequence[Mapping[str, Any]], executor: str, token: str) -> int:
    """The profit the executor's Executed event reports for `token`; ReceiptMismatch if it is not there,
    the token's transfers in and out of the executor say otherwise, or the logs do not decode."""
    try:
        return _executed_profit(logs, executor, token)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        if isinstance(exc, ReceiptMismatch):
            raise
        raise ReceiptMismatch(f"logs do not decode: {type(exc).__name__}: {exc}") from None


def _executed_profit(logs: Sequence[Mapping[str, Any]], executor: str, token: str) -> int:
    executor = executor.lower()
    found = [
        log for log in logs
        if str(log.get("address", "")).lower() == executor
        and (log.get("topics") or [""])[0].lower() == EXECUTED_TOPIC
        and _topic_address(log["topics"][1]) == token.lower()
    ]
    if len(found) != 1:
        raise ReceiptMismatch(f"expected one Executed event of {executor} for {token}, found {len(found)}")
    profit = _word(str(found[0]["data"]), 1)
    flow = token_flow(logs, token, executor)
    if flow != profit:
        raise ReceiptMismatch(f"Executed says profit {profit}, transfers say {flow}")
    return profit


def revert_reason(error: Mapping[str, Any] | None) -> str:
    """A readable reason from a JSON-RPC error object of a reverted eth_call / estimateGas."""
    if not error:
        return "reverted"
    data = error.get("data")
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.lower().startswith("0x" + ERROR_SELECTOR.hex()):
        try:
            (reason,) = eth_abi.decode(["string"], bytes.fromhex(data[10:]))
            return str(reason)
        except Exception as exc:  # an undecodable Error(string): fall back to the node's message, and say so
            logger.debug("revert reason {}... not decodable ({}); using the node's message", data[:42], exc)
    return str(error.get("message", "reverted"))
