"""Every decoder of what the node answers the executor, fuzzed: a malformed answer raises only the
decoder's own error (BadAnswer / ReceiptMismatch), never anything the actor would crash on."""

from __future__ import annotations

import eth_abi
from hypothesis import given
from hypothesis import strategies as st

from execution.answers import BadAnswer, head_of, quantity, receipt_of, simulation_of, uint_word
from execution.receipts import ERROR_SELECTOR, ReceiptMismatch, executed_profit, revert_reason
from execution.reserve_book import SYNC_TOPIC
from execution.revert_cause import pool_touches
from protocol.chain import ChainLog

HEXISH = (st.sampled_from(["0x", "0x0", "0x1", "0xzz", "0x" + "00" * 32, "0x" + "ff" * 40, "1", ""])
          | st.text(max_size=6))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HEXISH,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["status", "gasUsed", "effectiveGasPrice", "blockNumber", "transactionIndex", "logs",
                         "address", "topics", "data", "number", "baseFeePerGas", "transactions", "hash", "from",
                         "code", "message"]) | st.text(max_size=4), inner, max_size=6),
    max_leaves=12)


def raises_only(error: type[Exception], fn: object, *args: object) -> None:
    try:
        fn(*args)  # type: ignore[operator]
    except error:
        pass


@given(JSON)
def test_receipts(raw: object) -> None:
    raises_only(BadAnswer, receipt_of, raw)


@given(JSON, JSON)
def test_simulations_and_heads(call: object, estimate: object) -> None:
    raises_only(BadAnswer, simulation_of, call, estimate)
    raises_only(BadAnswer, head_of, call)
    raises_only(BadAnswer, quantity, call, "x")
    raises_only(BadAnswer, uint_word, call, "x")


@given(st.lists(JSON, max_size=5), st.sampled_from(["0x" + "aa" * 20, ""]))
def test_receipt_logs(logs: list[object], token: str) -> None:
    raises_only(ReceiptMismatch, executed_profit, logs, "0x" + "bb" * 20, token)  # type: ignore[arg-type]


@given(JSON)
def test_revert_reasons_never_raise(error: object) -> None:
    assert isinstance(revert_reason(error if isinstance(error, dict) else None), str)


def test_revert_reason_decodes_error_string() -> None:
    data = "0x" + (ERROR_SELECTOR + eth_abi.encode(["string"], ["Executor: profit below minimum"])).hex()
    assert revert_reason({"message": "execution reverted", "data": data}) == "Executor: profit below minimum"
    assert revert_reason({"message": "execution reverted", "data": "0xzzzzzzzz"}) == "execution reverted"


@given(JSON, st.lists(st.sampled_from(["0xa", "0xB", "0xc"]), max_size=4))
def test_block_evidence(block: object, hashes: list[str]) -> None:
    logs = [ChainLog("0x" + "a1" * 20, (SYNC_TOPIC,), "0x", 1, "0xb", h, i, i) for i, h in enumerate(hashes)]
    raises_only(BadAnswer, pool_touches, block, logs)
