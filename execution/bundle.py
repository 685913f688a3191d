"""Flashbots-style bundles: the eth_sendBundle request body and its X-Flashbots-Signature header.

The header is `<address>:<signature>`, the signature an EIP-191 personal_sign by the searcher's
identity key of the text "0x" + hex(keccak256(body)) over the exact request bytes. The relay
recomputes the hash from the bytes it received, so the body must be sent byte for byte as signed.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak, to_checksum_address

from execution.signer import Signer
from protocol.secrets import Secret

SIGNATURE_HEADER = "X-Flashbots-Signature"
MAX_BUNDLE_TXS = 100  # relay limits (Flashbots)
MAX_BUNDLE_BYTES = 300_000


class BundleTooLarge(ValueError):
    def __init__(self, what: str) -> None:
        super().__init__(f"bundle over the relay limit: {what}")


class BadSignature(ValueError):
    """The X-Flashbots-Signature header is missing, malformed or does not match the body."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"bad {SIGNATURE_HEADER}: {reason}")
        self.reason = reason


class SendBundleParams(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    """eth_sendBundle's one parameter object (camelCase on the wire)."""

    txs: tuple[str, ...]
    block_number: str  # hex
    min_timestamp: int | None = None
    max_timestamp: int | None = None
    reverting_tx_hashes: tuple[str, ...] = ()
    replacement_uuid: str | None = None


class JsonRpcRequest(msgspec.Struct, frozen=True):
    jsonrpc: str
    id: int
    method: str
    params: tuple[SendBundleParams, ...]


def send_bundle_body(
    raw_txs: Sequence[str],
    target_block: int,
    *,
    reverting_tx_hashes: Sequence[str] = (),
    replacement_uuid: str | None = None,
    request_id: int = 1,
) -> bytes:
    """The exact bytes of an eth_sendBundle request for `target_block`; checks the relay limits."""
    if not raw_txs:
        raise ValueError("a bundle needs at least one transaction")
    if len(raw_txs) > MAX_BUNDLE_TXS:
        raise BundleTooLarge(f"{len(raw_txs)} txs > {MAX_BUNDLE_TXS}")
    params = SendBundleParams(
        txs=tuple(raw_txs),
        block_number=hex(target_block),
        reverting_tx_hashes=tuple(reverting_tx_hashes),
        replacement_uuid=replacement_uuid,
    )
    body = msgspec.json.encode(JsonRpcRequest("2.0", request_id, "eth_sendBundle", (params,)))
    if len(body) > MAX_BUNDLE_BYTES:
        raise BundleTooLarge(f"{len(body)} bytes > {MAX_BUNDLE_BYTES}")
    return body


def body_digest_text(body: bytes) -> str:
    """What gets personal-signed: the 0x-prefixed hex keccak256 of the body, as text."""
    return "0x" + keccak(body).hex()


def sign_body(body: bytes, key: Secret | Signer) -> str:
    """The X-Flashbots-Signature header value for `body`, signed with the searcher identity `key`."""
    account = key if isinstance(key, Signer) else Signer(key)
    signed = account.sign_message(encode_defunct(text=body_digest_text(body)))
    return f"{account.address}:0x{bytes(signed.signature).hex()}"


def recover_signer(body: bytes, header: str | None) -> str:
    """The checksummed address that signed `body`; BadSignature unless the header proves it."""
    if not header:
        raise BadSignature("header missing")
    claimed, sep, signature = header.partition(":")
    if not sep or not claimed or not signature:
        raise BadSignature("expected <address>:<signature>")
    try:
        claimed_address = to_checksum_address(claimed)
        recovered = Account.recover_message(encode_defunct(text=body_digest_text(body)), signature=signature)
    except Exception as exc:  # malformed hex, wrong length, bad v: all one answer
        raise BadSignature(f"cannot recover a signer ({type(exc).__name__})") from None
    if recovered != claimed_address:
        raise BadSignature(f"signed by {recovered}, header claims {claimed_address}")
    return str(recovered)
