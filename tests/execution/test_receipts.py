"""Realized profit from a receipt: the Executed event and the token transfers must agree to the wei."""

from __future__ import annotations

import eth_abi
import pytest

from execution.receipts import (
    ERROR_SELECTOR,
    EXECUTED_TOPIC,
    TRANSFER_TOPIC,
    ReceiptMismatch,
    executed_profit,
    revert_reason,
    token_flow,
)

EXECUTOR = "0x" + "ee" * 20
WETH = "0x" + "11" * 20
PAIR = "0x" + "aa" * 20


def topic(address: str) -> str:
    return "0x" + address[2:].rjust(64, "0")


def transfer(token: str, src: str, dst: str, amount: int) -> dict[str, object]:
    return {"address": token, "topics": [TRANSFER_TOPIC, topic(src), topic(dst)], "data": "0x" + f"{amount:064x}"}


def executed(token: str, amount_in: int, profit: int) -> dict[str, object]:
    data = eth_abi.encode(["uint256", "uint256", "uint256", "bool"], [amount_in, profit, 2, False]).hex()
    return {"address": EXECUTOR, "topics": [EXECUTED_TOPIC, topic(token)], "data": "0x" + data}


def test_profit_from_event_cross_checked_by_transfers() -> None:
    logs = [transfer(WETH, EXECUTOR, PAIR, 1000), transfer(WETH, PAIR, EXECUTOR, 1037), executed(WETH, 1000, 37)]
    assert token_flow(logs, WETH, EXECUTOR) == 37
    assert executed_profit(logs, EXECUTOR, WETH) == 37


def test_disagreement_or_missing_event_is_not_trusted() -> None:
    logs = [transfer(WETH, EXECUTOR, PAIR, 1000), transfer(WETH, PAIR, EXECUTOR, 1030), executed(WETH, 1000, 37)]
    with pytest.raises(ReceiptMismatch, match="transfers say 30"):
        executed_profit(logs, EXECUTOR, WETH)
    with pytest.raises(ReceiptMismatch, match="found 0"):
        executed_profit(logs[:2], EXECUTOR, WETH)


def test_revert_reason_decoding() -> None:
    data = "0x" + (ERROR_SELECTOR + eth_abi.encode(["string"], ["Executor: profit below minimum"])).hex()
    assert revert_reason({"code": 3, "message": "execution reverted", "data": data}) == \
        "Executor: profit below minimum"
    assert revert_reason({"code": -32000, "message": "out of gas"}) == "out of gas"
    assert revert_reason(None) == "reverted"
