"""The project's fault proxy (devnet.fault_proxy) with per-JSON-RPC-method request counts.

The failover invariants need to tell a HALF_OPEN probe (a health batch of eth_chainId and
eth_blockNumber) from a read, so this test helper counts requests by method before the proxy
injects its faults. `set(mode)` speaks the short mode names the tests share with FaultServer.
"""

from __future__ import annotations

import threading
from collections import Counter

import msgspec
from aiohttp import web

from devnet.fault_proxy import FaultProxy, parse_faults

#: Test mode -> the fault proxy's language.
MODES = {
    "ok": "clear",
    "500": "error=500",
    "drop": "drop",
    "garbage": "garbage",
    "html": "html",
    "stall": "stall",
    "truncated": "truncate",
    "rpc_error": "rpcerror",
    "chainid": "chainid=1",
    "stale": "stale",
}


class CountingFaultProxy(FaultProxy):
    def __init__(self, upstream: str, *, seed: int = 0) -> None:
        super().__init__(upstream, seed=seed)
        self._methods: Counter[str] = Counter()
        self._methods_lock = threading.Lock()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            body = await request.read()  # aiohttp keeps the body: the proxy reads the same bytes again
            try:
                decoded = msgspec.json.decode(body)
            except msgspec.DecodeError:
                decoded = None
            calls = decoded if isinstance(decoded, list) else [decoded]
            with self._methods_lock:
                for call in calls:
                    if isinstance(call, dict):
                        self._methods[str(call.get("method"))] += 1
        return await super()._handle(request)

    def set(self, mode: str) -> None:
        """Replace the faults by a test mode: `ok`, `500`, `latency:0.05`, `429:1`, `chainid`..."""
        name, _, arg = mode.partition(":")
        if name == "latency":
            text = f"latency={float(arg) * 1000:g}ms"
        elif name == "429":
            text = f"429={arg or 1}s"
        else:
            text = MODES[name]
        self.set_faults(parse_faults(text))

    def method_count(self, *methods: str) -> int:
        with self._methods_lock:
            return sum(self._methods[m] for m in methods)

    def seen_more_than(self, method: str, count: int) -> bool:
        return self.method_count(method) > count

    def snapshot_counts(self) -> dict[str, int]:
        with self._methods_lock:
            return dict(self._methods)

    def close(self) -> None:
        self.stop()
