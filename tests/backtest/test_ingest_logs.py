"""The V2 log decoder: topics from the v2-core artifacts, exact values, and bad logs named by block and log index."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from adapters.chain_history import v2_abi, v2_events
from backtest.ingest_logs import MalformedLog, PairCreatedLog, SwapLog, SyncLog, decode_logs, function_selector

EVENTS = v2_events()
POOL = to_checksum_address("0x" + "ab" * 20)
U112 = st.integers(0, 2**112 - 1)
U256 = st.integers(0, 2**256 - 1)
ADDRESSES = st.binary(min_size=20, max_size=20).map(to_checksum_address)


def word(value: int) -> str:
    return value.to_bytes(32, "big").hex()


def address_topic(address: str) -> str:
    return "0x" + word(int(address, 16))


def log(block: int, index: int, topics: list[str], data: str, address: str = POOL, **extra: Any) -> dict[str, Any]:
    return {"address": address.lower(), "topics": topics, "data": data, "blockNumber": hex(block),
            "logIndex": hex(index), "blockHash": "0x" + "11" * 32, "transactionHash": "0x" + "22" * 32,
            "removed": False, **extra}


def sync(block: int, index: int, r0: int, r1: int) -> dict[str, Any]:
    return log(block, index, [EVENTS.sync.topic], "0x" + word(r0) + word(r1))


def test_topics_and_selectors_come_from_the_artifacts_and_match_the_published_hashes():
    assert EVENTS.sync.signature == "Sync(uint112,uint112)"
    assert EVENTS.swap.signature == "Swap(address,uint256,uint256,uint256,uint256,address)"
    assert EVENTS.pair_created.signature == "PairCreated(address,address,address,uint256)"
    # the topics every block explorer shows for Uniswap V2 (a cross-check, not the decoder's source)
    assert EVENTS.sync.topic == "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
    assert EVENTS.swap.topic == "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
    assert EVENTS.pair_created.topic == "0x0d3648bd0f6ba80134a33ba9275ac585d9d315f0ad8355cddefde31afa28d0e9"
    assert function_selector(v2_abi("UniswapV2Pair"), "token0") == "0x" + keccak(text="token0()").hex()[:8]


@given(r0=U112, r1=U112, a=st.tuples(U256, U256, U256, U256), sender=ADDRESSES, to=ADDRESSES,
       t0=ADDRESSES, t1=ADDRESSES, pair=ADDRESSES, n=U256)
def test_every_value_decodes_exactly(r0, r1, a, sender, to, t0, t1, pair, n):
    answer = [
        sync(5, 0, r0, r1),
        log(5, 1, [EVENTS.swap.topic, address_topic(sender), address_topic(to)], "0x" + "".join(word(x) for x in a)),
        log(6, 0, [EVENTS.pair_created.topic, address_topic(t0), address_topic(t1)],
            "0x" + word(int(pair, 16)) + word(n), address=POOL),
    ]
    assert decode_logs(answer, EVENTS, 5, 6) == [
        SyncLog(5, 0, POOL, r0, r1), SwapLog(5, 1, POOL, sender, to, *a), PairCreatedLog(6, 0, POOL, t0, t1, pair, n)]


@pytest.mark.parametrize(("bad", "problem"), [
    ({"data": "0x" + word(1)}, "Sync data is 32 bytes, expected 64"),
    ({"data": "0x" + word(2**112) + word(1)}, "reserve0 is 5192296858534827628530496329220096, wider than uint112"),
    ({"data": "0xzz"}, "not 0x-hex"),
    ({"topics": []}, "not a non-empty list"),
    ({"topics": [EVENTS.sync.topic, "0x" + "00" * 32]}, "Sync has 1 topics, the log has 2"),
    ({"topics": ["0x" + "33" * 32]}, "not asked for"),
    ({"address": "0x1234"}, "address has 2 bytes"),
    ({"removed": True}, "reorganised"),
    ({"blockNumber": "0x9"}, "outside the asked range 5..8"),
])
def test_a_malformed_log_is_named_by_block_and_log_index(bad, problem):
    answer = [sync(5, 0, 1, 2), {**sync(7, 3, 1, 2), **bad}]
    with pytest.raises(MalformedLog) as exc:
        decode_logs(answer, EVENTS, 5, 8)
    block = 9 if "blockNumber" in bad else 7
    assert (exc.value.block, exc.value.log_index) == (block, 3)
    assert str(exc.value).startswith(f"block {block} log index 3: ")
    assert problem in str(exc.value)


def test_duplicate_and_unordered_logs_are_refused():
    with pytest.raises(MalformedLog, match="block 5 log index 1: listed twice"):
        decode_logs([sync(5, 0, 1, 2), sync(5, 1, 1, 2), sync(5, 1, 1, 2)], EVENTS, 5, 5)
    with pytest.raises(MalformedLog, match="block 5 log index 0: out of order: after block 6 log index 0"):
        decode_logs([sync(6, 0, 1, 2), sync(5, 0, 1, 2)], EVENTS, 5, 6)


def test_an_unreadable_log_is_named_by_its_position():
    with pytest.raises(MalformedLog, match=r"block \? log index \? \(answer item 1\): blockNumber is None"):
        decode_logs([sync(5, 0, 1, 2), {"logIndex": "0x0"}], EVENTS, 5, 5)
    with pytest.raises(MalformedLog, match="not a list of logs"):
        decode_logs({"error": "x"}, EVENTS, 5, 5)
