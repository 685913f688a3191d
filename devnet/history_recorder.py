"""HistoryRecorder: the devnet records its own history as it runs, for `run.py backtest --history DIR`.

On a timer it ingests the blocks mined since its last run into DIR (adapters.chain_history: the
same chunked, checkpointed eth_getLogs as `run.py history fetch`, every pair of the devnet's two
factories, from block 0), so DIR always holds a replayable history of this devnet up to a few
seconds ago. The ingestion is blocking I/O: it runs on the recorder's own worker thread and its
end comes back as a HistoryRecorded message, so the handler stays short.

It reads anvil directly (an RpcClient pinned to the node, not routed through the bot's endpoints):
it is the devnet's recorder, not part of the bot, and the devnet's fault proxies must not
disturb it. Each devnet run is a new chain (its genesis differs): a directory holding another
chain's history is moved aside to DIR.previous (replacing an older one) rather than resumed.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import time
from pathlib import Path
from typing import Any

from adapters.chain_history import ChainHistoryFetcher, FetchReport, FetchRequest
from backtest.ingest_plan import ChunkPolicy, Scope
from devnet.world import DevnetWorld
from persistence.ingest_store import IngestStore
from protocol.history import HistoryRecorded, HistoryRecorderSnapshot, RecordHistory
from protocol.network import EndpointRoute, RoutingTable
from rpc.client import RpcClient
from supervision import ActorContext, ChildSpec, Restart, SupervisedActor

RECORDER_ID = "history-recorder"
DEFAULT_INTERVAL_S = 30.0  # each run rewrites the history files (new parts parsed only): every block is wasteful
RPC_TIMEOUT_S = 10.0


class HistoryRecorder(SupervisedActor):
    def __init__(self, ctx: ActorContext, *, world: DevnetWorld, directory: str,
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        super().__init__(ctx)
        self.world = world
        self.directory = Path(directory)
        self.interval_s = interval_s
        self.worker: concurrent.futures.ThreadPoolExecutor | None = None
        self.client: RpcClient | None = None
        self.running = False
        self.runs = self.failures = self.logs = 0
        self.last_block: int | None = None
        self.last_error: str | None = None

    def on_start(self) -> None:
        table = RoutingTable(chain_id=self.world.chain_id,
                             routes=(EndpointRoute(name="devnet", url=self.world.http_url, hedge_delay_s=1.0),))
        self.client = RpcClient(table=lambda: table, report=lambda _: None)
        self.worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="history-recorder")
        self.ctx.send_interval(self.interval_s, RecordHistory(), initial_delay_s=min(1.0, self.interval_s))
        self.log.info("recording the devnet's history into {} every {:g} s", self.directory, self.interval_s)

    def on_stop(self) -> None:
        if self.worker is not None:
            self.worker.shutdown(wait=False, cancel_futures=True)
        super().on_stop()

    def receive(self, msg: Any) -> Any:
        match msg:
            case RecordHistory():
                if not self.running and self.worker is not None:
                    self.running = True
                    self.ctx.pipe(self.worker.submit(self._record), _recorded)
            case HistoryRecorded() as done:
                self.running = False
                self.runs += 1
                if done.error is not None:
                    self.failures += 1
                    self.last_error = done.error
                    self.log.warning("history recording failed (next try in {:g} s): {}", self.interval_s, done.error)
                else:
                    self.last_block, self.logs = done.last_block, self.logs + done.logs
                self.publish(self._snapshot())
            case _:
                return super().receive(msg)
        return None

    def _record(self) -> FetchReport:
        """On the worker thread: one ingestion run up to the head."""
        assert self.client is not None
        store = IngestStore(self.directory)
        genesis = self.client.request("eth_getBlockByNumber", ["0x0", False], timeout=RPC_TIMEOUT_S)["hash"]
        existing = store.read_checkpoint()
        if existing is not None and existing.genesis_hash != genesis:
            aside = self.directory.with_name(self.directory.name + ".previous")
            shutil.rmtree(aside, ignore_errors=True)
            self.directory.rename(aside)
        world = self.world
        request = FetchRequest(0, None, Scope(factories=tuple((d.name, d.factory) for d in world.dexes)),
                               world.weth.address, world.token("USDC").address, confirmations=0,
                               policy=ChunkPolicy())
        return ChainHistoryFetcher(self.client, IngestStore(self.directory), timeout_s=RPC_TIMEOUT_S).run(request)

    def _snapshot(self) -> HistoryRecorderSnapshot:
        return HistoryRecorderSnapshot(str(self.directory), self.runs, self.failures, self.last_block, self.logs,
                                       self.last_error, time.time())


def _recorded(result: Any) -> HistoryRecorded:
    if isinstance(result, BaseException):
        return HistoryRecorded(None, 0, 0.0, f"{type(result).__name__}: {result}")
    return HistoryRecorded(result.last, result.logs, result.elapsed_s)


def history_recorder_spec(world: DevnetWorld, directory: str | Path, *,
                          interval_s: float = DEFAULT_INTERVAL_S) -> ChildSpec:
    return ChildSpec(id=RECORDER_ID, start=HistoryRecorder,
                     kwargs={"world": world, "directory": str(directory), "interval_s": interval_s},
                     restart=Restart.PERMANENT, shutdown_s=5.0)
