"""A local Flashbots-style relay in front of anvil, for tests and the devnet's private path.

It answers eth_sendBundle like a relay: the X-Flashbots-Signature must prove the body's signer
(403 otherwise), the bundle must fit the relay limits, and it is held until its target block.
When anvil's next block is the target, the stub builds it: mining paused, a snapshot taken, the
bundle's transactions sent and one block mined. If any of them reverted without being listed in
revertingTxHashes, the snapshot is restored and the bundle counts as not included: nothing of it
lands on chain, as with a real builder. A bundle whose target has passed is dropped.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

import aiohttp
import msgspec
from aiohttp import web
from eth_utils import keccak

from execution.bundle import MAX_BUNDLE_BYTES, MAX_BUNDLE_TXS, SIGNATURE_HEADER, BadSignature, recover_signer

POLL_HEAD_S = 0.01  # how often a bundle waiting for a later target looks at anvil's head
MAX_WAIT_BLOCKS = 25  # a target this far ahead is refused


class BundleFate(msgspec.Struct, frozen=True):
    bundle_hash: str
    signer: str
    target_block: int
    tx_hashes: tuple[str, ...]
    included: bool
    reason: str  # "included", "reverted: <tx hash>", "target passed", ...


class RelayStub:
    """Start with `with RelayStub(anvil_url) as relay:`; POST JSON-RPC to `relay.url`.

    allowed_signers: when given, bundles signed by anyone else are refused (403).
    """

    def __init__(self, anvil_url: str, *, allowed_signers: Iterable[str] | None = None) -> None:
        self.anvil_url = anvil_url
        self.allowed = None if allowed_signers is None else {a.lower() for a in allowed_signers}
        self.fates: list[BundleFate] = []
        self.refused: list[str] = []  # why requests were refused (bad signature...)
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="relay-stub", daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._build_lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = threading.Condition()
        self._open: asyncio.Event | None = None  # cleared while held: bundles wait before the build
        self.received = 0

    # -- lifecycle

    def __enter__(self) -> RelayStub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> RelayStub:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._build_lock = asyncio.Lock()
        self._open = asyncio.Event()
        self._open.set()
        app = web.Application(client_max_size=MAX_BUNDLE_BYTES + 1024)
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def hold(self) -> None:
        """Hold accepted bundles before building (a slow builder): lets a test land a competitor first."""
        assert self._open is not None
        self._loop.call_soon_threadsafe(self._open.clear)

    def release(self) -> None:
        assert self._open is not None
        self._loop.call_soon_threadsafe(self._open.set)

    def wait_for_bundles(self, count: int, timeout: float) -> int:
        """Block until `count` bundles were accepted; how many were."""
        with self._changed:
            self._changed.wait_for(lambda: self.received >= count, timeout)
            return self.received

    def wait_for_fates(self, count: int, timeout: float) -> list[BundleFate]:
        """Block until at least `count` bundles have a fate (included or dropped); the fates so far."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.fates) >= count, timeout)
            return list(self.fates)

    # -- JSON-RPC

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            signer = recover_signer(body, request.headers.get(SIGNATURE_HEADER))
        except BadSignature as exc:
            self._refuse(str(exc))
            return _error(None, -32600, str(exc), status=403)
        if self.allowed is not None and signer.lower() not in self.allowed:
            self._refuse(f"signer {signer} not allowed")
            return _error(None, -32600, f"signer {signer} not allowed", status=403)
        try:
            call = msgspec.json.decode(body)
            request_id, method, params = call["id"], call["method"], call["params"]
        except (msgspec.DecodeError, KeyError, TypeError):
            return _error(None, -32700, "parse error", status=400)
        if method != "eth_sendBundle":
            return _error(request_id, -32601, f"method {method} not supported by the relay stub")
        try:
            bundle = params[0]
            txs = [str(t) for t in bundle["txs"]]
            target = int(bundle["blockNumber"], 16)
            reverting = {h.lower() for h in bundle.get("revertingTxHashes", [])}
        except (IndexError, KeyError, TypeError, ValueError):
            return _error(request_id, -32602, "expected {txs, blockNumber}")
        if not txs or len(txs) > MAX_BUNDLE_TXS:
            return _error(request_id, -32602, f"a bundle holds 1 to {MAX_BUNDLE_TXS} transactions")
        head = await self._head()
        if target <= head:
            return _error(request_id, -32602, f"target block {target} is not after the head {head}")
        if target > head + MAX_WAIT_BLOCKS:
            return _error(request_id, -32602, f"target block {target} too far ahead of {head}")
        hashes = tuple("0x" + keccak(hexstr=t).hex() for t in txs)
        bundle_hash = "0x" + keccak(b"".join(bytes.fromhex(h[2:]) for h in hashes)).hex()
        task = asyncio.ensure_future(self._deliver(bundle_hash, signer, target, txs, hashes, reverting))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        with self._changed:
            self.received += 1
            self._changed.notify_all()
        return web.json_response({"jsonrpc": "2.0", "id": request_id, "result": {"bundleHash": bundle_hash}})

    def _refuse(self, reason: str) -> None:
        with self._changed:
            self.refused.append(reason)
            self._changed.notify_all()

    def _record(self, fate: BundleFate) -> None:
        with self._changed:
            self.fates.append(fate)
            self._changed.notify_all()

    # -- building the target block

    async def _deliver(
        self, bundle_hash: str, signer: str, target: int, txs: list[str], hashes: tuple[str, ...], reverting: set[str]
    ) -> None:
        def fate(included: bool, reason: str) -> BundleFate:
            return BundleFate(bundle_hash, signer, target, hashes, included, reason)

        assert self._open is not None and self._build_lock is not None
        await self._open.wait()
        while (head := await self._head()) < target - 1:
            await asyncio.sleep(POLL_HEAD_S)
        async with self._build_lock:
            head = await self._head()
            if head != target - 1:
                self._record(fate(False, f"target passed (head {head})"))
                return
            automine = bool(await self._rpc("anvil_getAutomine", []))
            if automine:
                await self._rpc("evm_setAutomine", [False])
            snapshot = await self._rpc("evm_snapshot", [])
            try:
                for raw in txs:
                    await self._rpc("eth_sendRawTransaction", [raw])
                await self._rpc("evm_mine", [])
                bad = None
                for tx_hash in hashes:
                    receipt = await self._rpc("eth_getTransactionReceipt", [tx_hash])
                    ok = receipt is not None and int(receipt["status"], 16) == 1
                    if not ok and tx_hash.lower() not in reverting:
                        bad = tx_hash
                        break
                if bad is not None:
                    await self._rpc("evm_revert", [snapshot])
                    self._record(fate(False, f"reverted: {bad}"))
                else:
                    self._record(fate(True, "included"))
            except RelayRpcError as exc:
                await self._rpc("evm_revert", [snapshot])
                self._record(fate(False, f"refused by the node: {exc}"))
            finally:
                if automine:
                    await self._rpc("evm_setAutomine", [True])

    async def _head(self) -> int:
        return int(await self._rpc("eth_blockNumber", []), 16)

    async def _rpc(self, method: str, params: list[Any]) -> Any:
        assert self._session is not None
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        async with self._session.post(self.anvil_url, json=payload) as response:
            answer = await response.json(content_type=None)
        if "error" in answer:
            raise RelayRpcError(f"{method}: {answer['error'].get('message', answer['error'])}")
        return answer.get("result")


class RelayRpcError(Exception):
    pass


def _error(request_id: Any, code: int, message: str, status: int = 200) -> web.Response:
    return web.json_response(
        {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}, status=status
    )
