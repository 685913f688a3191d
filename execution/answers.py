"""Decoding what the node answers the executor: pure, and the only place those answers are read.

Every decoder takes the raw JSON value (anything a node, a proxy or a liar may send) and returns a
typed value or raises `BadAnswer` naming what was wrong; nothing else escapes (tests/execution/
test_answers.py fuzzes each with hypothesis). The adapters (adapters.executor_chain) call these at the
I/O edge; the pipeline decodes receipts with `receipt_of` inside its step, where a bad one must never
raise out of the table (an exception in a tell handler would restart the executor and the strategy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

UINT256_MAX = 2**256 - 1


class BadAnswer(ValueError):
    """A node's answer that does not decode as what the call returns."""


class Receipt(msgspec.Struct, frozen=True):
    """The fields of eth_getTransactionReceipt the executor reads; logs are checked when read (receipts)."""

    status: int
    gas_used: int
    effective_gas_price: int
    block_number: int
    tx_index: int
    logs: tuple[Mapping[str, Any], ...]


def quantity(value: object, what: str) -> int:
    """A JSON-RPC quantity ("0x..." hex, non-negative, at most 256 bits)."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise BadAnswer(f"{what}: expected a 0x quantity, got {_shown(value)}")
    try:
        number = int(value[2:] or "0", 16)
    except ValueError:
        raise BadAnswer(f"{what}: not hex: {_shown(value)}") from None
    if number > UINT256_MAX:
        raise BadAnswer(f"{what}: out of range")
    return number


def uint_word(value: object, what: str) -> int:
    """The single uint256 an eth_call returned (32 bytes of hex data)."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise BadAnswer(f"{what}: expected 0x data, got {_shown(value)}")
    try:
        data = bytes.fromhex(value[2:])
    except ValueError:
        raise BadAnswer(f"{what}: not hex data: {_shown(value)}") from None
    if len(data) != 32:
        raise BadAnswer(f"{what}: expected one uint256 word, got {len(data)} bytes")
    return int.from_bytes(data, "big")


def receipt_of(raw: object) -> Receipt:
    """A receipt as the node sent it, checked; BadAnswer if any field the executor reads is malformed."""
    if not isinstance(raw, Mapping):
        raise BadAnswer(f"receipt: expected an object, got {_shown(raw)}")
    logs = raw.get("logs") or []
    if not isinstance(logs, Sequence) or isinstance(logs, str) or not all(isinstance(lg, Mapping) for lg in logs):
        raise BadAnswer(f"receipt: logs are not a list of objects: {_shown(logs)}")
    status = quantity(raw.get("status"), "receipt status")
    if status not in (0, 1):
        raise BadAnswer(f"receipt status {status}: expected 0 or 1")
    return Receipt(
        status=status,
        gas_used=quantity(raw.get("gasUsed"), "receipt gasUsed"),
        effective_gas_price=quantity(raw.get("effectiveGasPrice") or "0x0", "receipt effectiveGasPrice"),
        block_number=quantity(raw.get("blockNumber"), "receipt blockNumber"),
        tx_index=quantity(raw.get("transactionIndex") or "0x0", "receipt transactionIndex"),
        logs=tuple(logs),
    )


def head_of(raw: object) -> tuple[int, int]:
    """(number, base fee) of an eth_getBlockByNumber answer."""
    if not isinstance(raw, Mapping):
        raise BadAnswer(f"block: expected an object, got {_shown(raw)}")
    return quantity(raw.get("number"), "block number"), quantity(raw.get("baseFeePerGas") or "0x0", "block baseFee")


def simulation_of(call_result: object, estimate_result: object) -> tuple[int, int]:
    """(profit, gas) from the eth_call result (execute returns the profit) and the eth_estimateGas result."""
    return uint_word(call_result, "eth_call of execute"), quantity(estimate_result, "eth_estimateGas")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
