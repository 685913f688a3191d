"""Sending a signed bundle to a Flashbots-style relay: one aiohttp POST on the io loop."""

from __future__ import annotations

import aiohttp
import msgspec

from execution.bundle import SIGNATURE_HEADER, send_bundle_body, sign_body
from execution.signer import Signer
from protocol.secrets import Secret, redact

DEFAULT_RELAY_TIMEOUT_S = 2.0


class RelayRefused(Exception):
    """The relay answered with an error (bad signature, target passed...) or an unreadable body."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"relay refused the bundle: {redact(detail)}")
        self.detail = detail


class RelayClient:
    """One keep-alive session per relay URL; use from coroutines on the io loop only."""

    def __init__(self, url: Secret, identity_key: Secret, timeout_s: float = DEFAULT_RELAY_TIMEOUT_S) -> None:
        self._url = url
        self._signer = Signer(identity_key)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def send_bundle(self, raw_txs: list[str], target_block: int) -> str:
        """eth_sendBundle for `target_block`; the relay's bundleHash."""
        body = send_bundle_body(raw_txs, target_block)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign_body(body, self._signer)}
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self._url.reveal(), data=body, headers=headers) as response:
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RelayRefused(f"{type(exc).__name__}: {exc}") from None
        try:
            answer = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise RelayRefused(f"HTTP {response.status}, not JSON") from None
        if not isinstance(answer, dict) or "error" in answer or not isinstance(answer.get("result"), dict):
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise RelayRefused(f"HTTP {response.status}: {error}")
        return str(answer["result"].get("bundleHash", ""))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
