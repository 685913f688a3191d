"""Node JSON to feed values: strict, and a malformed field is named in the error."""

from __future__ import annotations

import pytest

from chainfeed.wire import MalformedChainData, header_from_json, log_from_json
from protocol.chain import ChainLog, LogFilter

HEADER = {"number": "0x10", "hash": "0xAB", "parentHash": "0xcd", "timestamp": "0x5", "extra": 1}
LOG = {
    "address": "0xToken",
    "topics": ["0xDDF2", "0x01"],
    "data": "0x00",
    "blockNumber": "0x10",
    "blockHash": "0xab",
    "transactionHash": "0xef",
    "transactionIndex": "0x0",
    "logIndex": "0x3",
    "removed": False,
}


def test_a_header_and_a_log_parse_and_lowercase_their_hashes() -> None:
    h = header_from_json(HEADER)
    assert (h.number, h.hash, h.parent_hash, h.timestamp) == (16, "0xab", "0xcd", 5)
    log = log_from_json(LOG)
    assert log.key == (16, 3) and log.address == "0xtoken" and log.topics == ("0xddf2", "0x01")


@pytest.mark.parametrize(
    ("field", "value"), [("number", None), ("number", "16"), ("hash", 5), ("timestamp", "0xzz"), ("parentHash", "")]
)
def test_a_malformed_header_names_the_field(field: str, value: object) -> None:
    with pytest.raises(MalformedChainData) as info:
        header_from_json({**HEADER, field: value})
    assert info.value.field == field and field in str(info.value)


@pytest.mark.parametrize(("field", "value"), [("topics", "0x1"), ("topics", [1]), ("data", None), ("logIndex", None)])
def test_a_malformed_log_names_the_field(field: str, value: object) -> None:
    with pytest.raises(MalformedChainData) as info:
        log_from_json({**LOG, field: value})
    assert info.value.field == field


def test_not_an_object_at_all() -> None:
    with pytest.raises(MalformedChainData):
        header_from_json(None)
    with pytest.raises(MalformedChainData):
        log_from_json(["0x1"])


def test_log_filter_matches_like_a_node_and_encodes_to_params() -> None:
    log = ChainLog("0xaa", ("0x01", "0x02"), "0x", 1, "0xb", "0xt", 0, 0)
    assert LogFilter().matches(log)
    assert LogFilter(addresses=("0xAA",)).matches(log)
    assert not LogFilter(addresses=("0xbb",)).matches(log)
    assert LogFilter(topics=(None, ("0x03", "0x02"))).matches(log)
    assert not LogFilter(topics=(("0x01",), None, ("0x09",))).matches(log)
    assert LogFilter(("0xaa",), (("0x01",), None)).to_params() == {"address": ["0xaa"], "topics": [["0x01"], None]}
