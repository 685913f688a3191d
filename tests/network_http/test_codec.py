"""The JSON-RPC codec: answers decode, and every malformed body is a fault with a kind, never a crash."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.network import FaultKind
from rpc import codec
from rpc.errors import EndpointFault, RpcError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def test_request_encoding_is_json_rpc_2() -> None:
    assert msgspec.json.decode(codec.encode_request("eth_getBalance", ("0xab", "latest"), 7)) == {
        "jsonrpc": "2.0", "id": 7, "method": "eth_getBalance", "params": ["0xab", "latest"]}
    batch = msgspec.json.decode(codec.encode_batch([("eth_chainId", []), ("eth_blockNumber", None)], 10))
    assert [c["id"] for c in batch] == [10, 11] and batch[1]["params"] == []


@settings(max_examples=150, deadline=None)
@given(result=json_values, request_id=st.integers(0, 2**40))
def test_any_result_round_trips(result: object, request_id: int) -> None:
    body = msgspec.json.encode({"jsonrpc": "2.0", "id": request_id, "result": result})
    assert codec.decode_answer(body, request_id).result == result


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_are_a_fault_or_an_answer_never_a_crash(body: bytes) -> None:
    try:
        answer = codec.decode_answer(body, 1)
    except EndpointFault as fault:
        assert fault.kind in FaultKind
    else:  # only a well-formed answer to id 1 gets through
        assert answer.id == 1


def test_null_result_is_an_answer_but_a_missing_one_is_garbage() -> None:
    assert codec.decode_answer(b'{"jsonrpc":"2.0","id":3,"result":null}', 3).result is None
    with pytest.raises(EndpointFault) as e:
        codec.decode_answer(b'{"jsonrpc":"2.0","id":3}', 3)
    assert e.value.kind is FaultKind.GARBAGE


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", FaultKind.GARBAGE),
        (b'{"jsonrpc":"2.0","id":1,"result":"0x1', FaultKind.TRUNCATED),
        (b'{"jsonrpc":"2.0","id":2,"result":"0x1"}', FaultKind.MISMATCHED_ID),
        (b'"just a string"', FaultKind.GARBAGE),
        (b'[{"jsonrpc":"2.0","id":1,"result":1},{"jsonrpc":"2.0","id":2,"result":2}]', FaultKind.GARBAGE),
        (b'{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"limit exceeded"}}', FaultKind.RATE_LIMITED),
        (b'{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"internal error"}}', FaultKind.SERVER_ERROR),
        (b'{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"backend down"}}', FaultKind.SERVER_ERROR),
    ],
)
def test_bad_single_answers(body: bytes, kind: FaultKind) -> None:
    with pytest.raises(EndpointFault) as e:
        codec.decode_answer(body, 1)
    assert e.value.kind is kind


def test_a_revert_is_an_answer_not_a_fault() -> None:
    body = b'{"jsonrpc":"2.0","id":1,"error":{"code":3,"message":"execution reverted: K","data":"0x08c379a0"}}'
    answer = codec.decode_answer(body, 1)
    with pytest.raises(RpcError) as e:
        answer.unwrap("eth_call")
    assert e.value.code == 3 and e.value.data == "0x08c379a0"
    assert answer.to_dict()["error"]["data"] == "0x08c379a0"


@pytest.mark.parametrize(
    ("ids", "kind"),
    [
        ([5, 6], None),
        ([6, 5], None),  # order does not matter, ids do
        ([5], FaultKind.MISMATCHED_ID),
        ([5, 5], FaultKind.MISMATCHED_ID),
        ([5, 99], FaultKind.MISMATCHED_ID),
        ([5, 6, 7], FaultKind.MISMATCHED_ID),
    ],
)
def test_batch_ids_must_match_exactly(ids: list[int], kind: FaultKind | None) -> None:
    body = msgspec.json.encode([{"jsonrpc": "2.0", "id": i, "result": hex(i)} for i in ids])
    if kind is None:
        assert [a.result for a in codec.decode_batch(body, 5, 2)] == ["0x5", "0x6"]
    else:
        with pytest.raises(EndpointFault) as e:
            codec.decode_batch(body, 5, 2)
        assert e.value.kind is kind


def test_a_single_throttle_error_instead_of_a_batch_is_rate_limited() -> None:
    with pytest.raises(EndpointFault) as e:
        codec.decode_batch(b'{"jsonrpc":"2.0","id":null,"error":{"code":429,"message":"Too Many Requests"}}', 1, 2)
    assert e.value.kind is FaultKind.RATE_LIMITED


@pytest.mark.parametrize(
    ("code", "message", "fault"),
    [
        (3, "execution reverted", None),
        (-32000, "nonce too low", None),
        (-32000, "already known", None),
        (-32000, "insufficient funds for gas * price + value", None),
        (-32602, "invalid params", None),
        (-32601, "Method not found", None),
        # too wide an eth_getLogs range is the request's fault (every node refuses it): an answer, so the
        # history fetcher narrows the range instead of the endpoint being parked as throttled
        (-32005, "query returned more than 10000 results", None),
        (-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range", None),
        (-32005, "limit exceeded", FaultKind.RATE_LIMITED),
        (-32000, "header not found", FaultKind.SERVER_ERROR),
        (-32603, "Internal error", FaultKind.SERVER_ERROR),
    ],
)
def test_json_rpc_error_classification(code: int, message: str, fault: FaultKind | None) -> None:
    assert codec.rpc_error_fault(code, message) is fault
