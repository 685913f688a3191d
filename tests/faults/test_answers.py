"""The pure answer forgers behind `badid` and `oversize`: properties over any ids a client may send."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from devnet.fault_proxy.answers import oversize_frame, wrong_ids

ids = st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=8), st.none())


def calls_with(sent: list[Any]) -> list[dict[str, Any]]:
    return [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId", "params": []} for i in sent]


@settings(max_examples=200, deadline=None)
@given(st.lists(ids, min_size=1, max_size=6, unique_by=lambda i: (type(i), i)), st.booleans())
def test_wrong_ids_never_gives_back_an_id_that_was_sent(sent: list[Any], batch: bool) -> None:
    answers = [{"jsonrpc": "2.0", "id": i, "result": "0x1"} for i in sent]
    payload = msgspec.json.encode(answers if batch else answers[0])
    forged = msgspec.json.decode(wrong_ids(payload, calls_with(sent if batch else sent[:1])))
    got = forged if batch else [forged]
    assert len(got) == (len(sent) if batch else 1)
    assert all(a["result"] == "0x1" for a in got)  # only the ids are wrong
    assert not [a["id"] for a in got if any(a["id"] == s and type(a["id"]) is type(s) for s in sent)]


def test_wrong_ids_leaves_a_body_that_is_not_json_alone_and_dodges_look_alike_ids() -> None:
    assert wrong_ids(b"<html>", calls_with([1])) == b"<html>"
    sent = ["x", "badid:x"]
    forged = msgspec.json.decode(wrong_ids(msgspec.json.encode([{"id": i} for i in sent]), calls_with(sent)))
    assert not {a["id"] for a in forged} & set(sent)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**31), min_size=1, max_size=5, unique=True), st.booleans(),
       st.integers(0, 5000))
def test_oversize_frame_around_any_filler_is_a_valid_answer_to_every_call(
    sent: list[int], batch: bool, filler: int
) -> None:
    head, tail = oversize_frame(calls_with(sent if batch else sent[:1]), batch)
    decoded = msgspec.json.decode(head + b"0" * filler + tail)
    answers = decoded if batch else [decoded]
    assert [a["id"] for a in answers] == (sent if batch else sent[:1])
    assert answers[0]["result"] == "0x" + "0" * filler
