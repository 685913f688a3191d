"""X-Flashbots-Signature: what we sign is what a relay verifies; any tampering is caught."""

from __future__ import annotations

import msgspec
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.bundle import (
    MAX_BUNDLE_TXS,
    BadSignature,
    BundleTooLarge,
    recover_signer,
    send_bundle_body,
    sign_body,
)
from protocol.secrets import Secret

KEY = Secret("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_body_is_eth_send_bundle_with_hex_block() -> None:
    body = send_bundle_body(["0x02aa", "0x02bb"], 17, reverting_tx_hashes=["0x01"])
    decoded = msgspec.json.decode(body)
    assert decoded["method"] == "eth_sendBundle"
    assert decoded["params"] == [{"txs": ["0x02aa", "0x02bb"], "blockNumber": "0x11", "revertingTxHashes": ["0x01"]}]


def test_signature_is_eip191_of_hex_keccak_of_body() -> None:
    body = send_bundle_body(["0x02aa"], 5)
    header = sign_body(body, KEY)
    address, signature = header.split(":")
    assert address == ADDRESS
    # independent recomputation, as the Flashbots docs describe it
    text = "0x" + keccak(body).hex()
    assert Account.recover_message(encode_defunct(text=text), signature=signature) == ADDRESS
    assert recover_signer(body, header) == ADDRESS


@settings(max_examples=30, deadline=None)
@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_changed_byte_breaks_the_signature(position: int, flip: int) -> None:
    body = send_bundle_body(["0x02" + "ab" * 40], 99)
    header = sign_body(body, KEY)
    i = position % len(body)
    tampered = body[:i] + bytes([body[i] ^ flip]) + body[i + 1 :]
    with pytest.raises(BadSignature):
        recover_signer(tampered, header)


def test_malformed_headers_name_the_problem() -> None:
    body = send_bundle_body(["0x02aa"], 5)
    for header, why in [(None, "missing"), ("nocolon", "expected"), (f"{ADDRESS}:0x1234", "cannot recover")]:
        with pytest.raises(BadSignature, match=why):
            recover_signer(body, header)
    other = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
    forged = other + ":" + sign_body(body, KEY).split(":")[1]
    with pytest.raises(BadSignature, match="header claims"):
        recover_signer(body, forged)


def test_relay_limits() -> None:
    with pytest.raises(BundleTooLarge):
        send_bundle_body(["0x02"] * (MAX_BUNDLE_TXS + 1), 1)
    with pytest.raises(BundleTooLarge, match="bytes"):
        send_bundle_body(["0x" + "00" * 200_000, "0x" + "00" * 200_000], 1)
    with pytest.raises(ValueError):
        send_bundle_body([], 1)


def test_key_never_in_header_or_errors() -> None:
    body = send_bundle_body(["0x02aa"], 5)
    assert KEY.reveal()[2:] not in sign_body(body, KEY)
    assert "59c6995e" not in repr(KEY) + str(KEY)
