"""Soak: the real bot on its devnet for --minutes, a fault injected every --fault-every seconds in rotation.

`python run.py` runs as a subprocess exactly as an operator starts it (its own anvil, fault proxies,
actor tree, console), with the Discord, Telegram and Slack channels configured against local fake
services (devnet.fake_services; Discord on a server of its own, so it can be taken down alone). The
faults, in rotation (benchmarks/soak_faults.py): an endpoint down, slow, a 429 storm, a wrong chain
id; an actor killed; the Discord server down; the send path ("the relay") down. Each is held, cleared,
and its recovery waited for (a fault that does not recover in time is reported as not recovered).

Measured, never assumed: RSS of the bot process and of anvil every few seconds (growth from the
sample at --baseline-minutes, default 5, to the last one, after every fault has recovered), and the
bot's split by kind of mapping (soak_accounting.rss_by_mapping: which allocator grows); the bot's
thread count at the baseline and at the end; then trading is stopped (`estop`), the in-flight trades
and the alert queue drained, and the books are read (benchmarks/soak_accounting.py): the bot's
transactions on chain against the audit trail, the alert outbox against what each channel's server
received, the log file's and the process output's unhandled exceptions, and the capture rate as
bench_capture defines it. Prints one JSON object.

Run: `.venv/bin/python benchmarks/bench_soak.py [--minutes 30] [--fault-every 60]`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import soak_accounting as books  # noqa: E402
from benchmarks.soak_faults import Console, FaultRun, Faults  # noqa: E402
from console.client import ConsoleUnavailable  # noqa: E402

START_TIMEOUT_S = 120.0  # the bot's console up (anvil, deploy, tree) on a loaded 2-core machine
SAMPLE_EVERY_S = 5.0
DRAIN_TIMEOUT_S = 120.0  # in-flight trades ended and the alert queue empty after the stop
STOP_TIMEOUT_S = 40.0
GROUP_DUE_SOON_S = 35.0  # the drain waits for an alert group due this soon (the first group_wait is 30 s)
READ_BATCH = 20  # blocks (with their transactions) per JSON-RPC batch when the chain is read after the run
READ_TIMEOUT_S = 60.0  # per batch: anvil shares two loaded cores with the bot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sampler(threading.Thread):
    """RSS of the bot and its anvil, and the bot's threads, every SAMPLE_EVERY_S."""

    def __init__(self, pid: int, started: float, labels: Callable[[], tuple[str, ...]] = tuple) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.bot = psutil.Process(pid)
        self.labels = labels
        self.started = started
        self.samples: list[books.Sample] = []
        self.stop = threading.Event()

    def anvil(self) -> psutil.Process | None:
        return next((c for c in self.bot.children(recursive=True) if "anvil" in c.name()), None)

    def take(self) -> books.Sample | None:
        try:
            node = self.anvil()
            sample = books.Sample(time.monotonic() - self.started, self.bot.memory_info().rss / 2**20,
                                  node.memory_info().rss / 2**20 if node else 0.0, self.bot.num_threads(),
                                  self.labels(), self.mappings())
        except psutil.Error:
            return None
        self.samples.append(sample)
        return sample

    def mappings(self) -> dict[str, float] | None:
        """The bot's resident memory by kind of mapping (Linux's smaps), to tell which allocator grows."""
        try:
            return books.rss_by_mapping(Path(f"/proc/{self.bot.pid}/smaps").read_text())
        except OSError:
            return None

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_EVERY_S):
            self.take()


def thread_labels(console: Console) -> tuple[str, ...]:
    """The bot's threads by label (`perf threads`); none if the console did not answer."""
    try:
        return tuple(str(row[0]) for row in console("perf", "threads")["rows"])
    except (ConsoleUnavailable, RuntimeError, OSError, KeyError, TypeError):
        return ()


def bot_env(data_dir: Path, discord: Any, others: Any, anvil_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RPC_URL", "WS_URL", "ARBITER_"))}
    env.update({
        "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1",
        "ENABLE_DISCORD_ALERTS": "true", "DISCORD_WEBHOOK_URL": discord.discord_url,
        "ENABLE_TELEGRAM_ALERTS": "true", "TELEGRAM_BOT_TOKEN": others.telegram_token, "TELEGRAM_CHAT_ID": "4242",
        "TELEGRAM_API_BASE": others.base,
        "ENABLE_SLACK_ALERTS": "true", "SLACK_WEBHOOK_URL": others.slack_url,
    })
    return env


def wait_for(condition: Any, timeout_s: float, poll_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return bool(condition())


def read_chain(anvil_url: str, world: Any) -> dict[str, Any]:
    """Every block since deployment: the bot's transactions to anything but WETH (its trades and
    cancellations, not its set-up), the market's, the base fees, and every pool's Sync logs."""
    from devnet.accounts import BOT, MARKET_TRADER
    from execution.reserve_book import SYNC_TOPIC
    from protocol.network import EndpointRoute, RoutingTable
    from rpc.client import RpcClient

    table = RoutingTable(chain_id=world.chain_id, routes=(EndpointRoute("anvil", anvil_url, 0.25),))
    client = RpcClient(table=lambda: table, report=lambda outcome: None)
    try:
        head = int(client.request("eth_blockNumber", []), 16)
        bot_txs: list[str] = []
        market: set[str] = set()
        fees: dict[int, int] = {}
        weth = world.weth.address.lower()
        for start in range(0, head + 1, READ_BATCH):
            numbers = range(start, min(head, start + READ_BATCH - 1) + 1)
            blocks = client.batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers], timeout=READ_TIMEOUT_S)
            for answer in blocks:
                block = answer.result
                fees[int(block["number"], 16)] = int(block.get("baseFeePerGas") or "0x0", 16)
                for tx in block["transactions"]:
                    sender, to = tx["from"].lower(), (tx.get("to") or "").lower()
                    if sender == BOT.address.lower() and to and to != weth:
                        bot_txs.append(tx["hash"])
                    elif sender == MARKET_TRADER.address.lower():
                        market.add(tx["hash"])
        logs = client.request("eth_getLogs", [{"fromBlock": "0x0", "toBlock": hex(head),
                                               "address": [p.address for p in world.pools], "topics": [[SYNC_TOPIC]]}],
                              timeout=READ_TIMEOUT_S)
    finally:
        client.close()
    syncs = [books.SyncLog(int(lg["blockNumber"], 16), int(lg["logIndex"], 16), lg["transactionHash"], lg["address"],
                           _reserves(lg["data"])) for lg in logs]
    return {"head": head, "bot_txs": bot_txs, "market_txs": market, "base_fees": fees, "syncs": syncs}


def _reserves(data: str) -> tuple[int, int]:
    raw = data.removeprefix("0x")
    return int(raw[:64], 16), int(raw[64:128], 16)


class Outbox(NamedTuple):
    alerts: list[books.AlertRow]
    deliveries: list[books.DeliveryRow]
    tests: dict[int, tuple[str, str]]  # console test alerts: id -> (source, title)
    due: dict[int, float | None]  # alert id -> when the group holding it is due (alerting.grouping.due_at)


def read_outbox(path: Path) -> Outbox:
    from alerting.grouping import Group, GroupTimers, due_at

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        alerts = [books.AlertRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in db.execute(
            "SELECT id, type, priority, status, condition, resolved, accepted_at FROM alerts ORDER BY id")]
        tests = {r[0]: (r[1], r[2])
                 for r in db.execute("SELECT id, source, title FROM alerts WHERE source = 'console'")}
        deliveries = [books.DeliveryRow(r[0], r[1], tuple(json.loads(r[2])), r[3], r[4], r[5]) for r in
                      db.execute("SELECT id, channel, alert_ids, status, lead, detail FROM deliveries ORDER BY id")]
        groups = [msgspec.json.decode(r[0], type=Group) for r in db.execute("SELECT state FROM groups")]
    finally:
        db.close()
    timers = GroupTimers()  # the soak leaves the bot's grouping timers at their defaults
    due = {i: due_at(g, timers) for g in groups for i in (*g.new, *g.resolved)}
    return Outbox(alerts, deliveries, tests, due)


def outbox_settled(path: Path) -> bool:
    """Nothing queued or in flight, and no group due to notify within the drain (a group already notified
    waits its group_interval, 5 minutes by default: what it holds then is reported as waiting)."""
    box, now = read_outbox(path), time.time()
    soon = any(at is not None and at < now + GROUP_DUE_SOON_S for at in box.due.values())
    return not soon and all(d.status not in ("queued", "sending") for d in box.deliveries)


def log_records(log_dir: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(log_dir.glob("arbiter*.jsonl")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def expected_channels() -> Any:
    """(type, priority) -> the channels the bot's default routes send such an alert to."""
    from alerting.routing import default_routes, route
    from protocol.alerts import AlertType, ChannelKind, Priority

    routes = default_routes((ChannelKind.LOG, ChannelKind.DISCORD, ChannelKind.TELEGRAM, ChannelKind.SLACK))

    def channels(kind: str, priority: str) -> list[str]:
        return [c.value for c in route(routes, AlertType(kind), Priority(priority))]

    return channels


def soak(minutes: float, fault_every_s: float, baseline_s: float, work: Path, with_capture: bool = True
         ) -> dict[str, Any]:
    from devnet.fake_services import ALERT_REF, FakeServices
    from devnet.world import DevnetWorld
    from persistence.audit_trail import read_records

    data_dir, anvil_port = work / "var", free_port()
    hold_s = min(20.0, fault_every_s / 3)
    with FakeServices() as discord, FakeServices() as others:
        env = bot_env(data_dir, discord, others, anvil_port)
        out_path = work / "bot-output.txt"
        with out_path.open("w") as out:
            proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--anvil-port", str(anvil_port)], cwd=ROOT,
                                    env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        started = time.monotonic()
        sampler = Sampler(proc.pid, started)
        faults_run: list[FaultRun] = []
        try:
            if not wait_for(lambda: (data_dir / "console.json").exists() or proc.poll() is not None, START_TIMEOUT_S):
                raise RuntimeError("the bot's console did not come up")
            if proc.poll() is not None:
                raise RuntimeError(f"the bot exited with {proc.returncode}: {out_path.read_text()[-2000:]}")
            console = Console(str(data_dir))
            sampler.labels = functools.partial(thread_labels, Console(str(data_dir)))  # its own connection
            sampler.take()
            sampler.start()
            faults = Faults(console, discord)
            end_at = started + minutes * 60
            next_at = started + fault_every_s
            while time.monotonic() + hold_s < end_at:
                time.sleep(max(0.0, next_at - time.monotonic()))
                faults_run.append(faults.run_one(started, hold_s, recover_within_s=max(45.0, fault_every_s - hold_s)))
                next_at = max(next_at + fault_every_s, time.monotonic())
            time.sleep(max(0.0, end_at - time.monotonic()))
            sampler.stop.set()
            sampler.join()
            sampler.take()  # the end: every fault cleared and (if it could) recovered
            baseline = next((s for s in sampler.samples if s.at_s >= baseline_s), sampler.samples[-1])
            # the books: stop trading, let what is in flight end and the alerts go out, then read both sides
            console("estop", "soak", "run", "ended:", "draining", "the", "books")
            drained = wait_for(lambda: (x := console.inspect("/market/executor").get("snapshot") or {})
                               .get("in_flight") == 0 and x.get("deciding") == 0, DRAIN_TIMEOUT_S)
            alerts_settled = wait_for(lambda: outbox_settled(data_dir / "alerts-outbox.sqlite3"), DRAIN_TIMEOUT_S, 2.0)
            world = DevnetWorld.from_json((data_dir / "devnet-world.json").read_bytes())
            chain = read_chain(f"http://127.0.0.1:{anvil_port}", world)
            trail = list(read_records(data_dir / "audit"))
            read_at = time.time()
        finally:
            sampler.stop.set()
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        received = {"discord": {r for a in discord.accepted("discord") for r in a.refs},
                    "telegram": {r for a in others.accepted("telegram") for r in a.refs},
                    "slack": {r for a in others.accepted("slack") for r in a.refs}}
    records = log_records(data_dir / "logs")
    received["log"] = {m for r in records if str(r.get("message", "")).startswith("ALERT ")
                       for m in ALERT_REF.findall(str(r["message"]))}
    alerts, deliveries, tests, due = read_outbox(data_dir / "alerts-outbox.sqlite3")
    # a console test alert goes to the one channel it names, not along the routes
    alert_figures = books.alert_books([a for a in alerts if a.id not in tests], deliveries, received,
                                      expected_channels(), due, read_at)
    test_lost = [f"test alert {i} never delivered to its channel" for i, (_, title) in tests.items()
                 if not any(i in d.alert_ids and d.channel == title.rsplit(" ", 1)[-1] for d in deliveries)]
    alert_figures["alerts_lost"] += len(test_lost)
    alert_figures["alerts_lost_detail"] += test_lost[:5]
    trade_figures = books.trade_books(chain["bot_txs"], trail)
    from amm.gas import GasPolicy

    capture = books.capture(world, chain["syncs"], chain["market_txs"], chain["base_fees"], GasPolicy(),
                            trade_figures["realized_gross_wei"]) if with_capture else {
        "capture_rate": None, "why": "--no-capture: the exact scans of every market swap were skipped"}
    memory = books.growth(sampler.samples, baseline.at_s)
    output = out_path.read_text(errors="replace")
    errors = books.unhandled(records, output)
    return {
        "benchmark": "soak",
        "minutes": minutes,
        "fault_every_s": fault_every_s,
        "blocks": chain["head"] - world.deployed_at_block,
        **memory,
        "threads_start": baseline.threads,
        "threads_end": sampler.samples[-1].threads,
        "threads_changed": books.thread_change(baseline, sampler.samples[-1]),
        "trades": trade_figures["trades"],
        "trade_records_lost": trade_figures["trade_records_lost"],
        "unhandled_exceptions": errors["unhandled_exceptions"],
        "alerts_lost": alert_figures["alerts_lost"],
        "capture_rate": capture["capture_rate"],
        "faults_injected": len(faults_run),
        "faults_recovered": sum(1 for f in faults_run if f.recovered_s is not None),
        "faults": [f.report() for f in faults_run],
        "drained": {"trades": drained, "alerts": alerts_settled},
        "bot_exit_code": proc.returncode,
        "trade_books": {k: v for k, v in trade_figures.items() if k not in ("trades", "trade_records_lost")},
        "alert_books": {k: v for k, v in alert_figures.items() if k != "alerts_lost"},
        "errors": {k: v for k, v in errors.items() if k != "unhandled_exceptions"},
        "capture": capture,
        "rss_samples": len(sampler.samples),
        "targets": {"rss_growth_pct": "< 5 from the baseline, bot and total (anvil, a dev node, grows with its blocks)",
                    "threads": "start == end",
                    "trade_records_lost": 0, "unhandled_exceptions": 0, "alerts_lost": 0},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--fault-every", type=float, default=60.0, help="seconds between faults (default 60)")
    parser.add_argument("--baseline-minutes", type=float, default=5.0,
                        help="RSS growth and threads are measured from this minute on (default 5)")
    parser.add_argument("--keep", help="keep the run's data (logs, audit trail, outbox) in this directory")
    parser.add_argument("--no-capture", action="store_true",
                        help="skip the capture rate (two exact scans per market swap, after the run)")
    args = parser.parse_args()
    run = functools.partial(soak, args.minutes, args.fault_every, args.baseline_minutes * 60,
                            with_capture=not args.no_capture)
    if args.keep:
        work = Path(args.keep)
        work.mkdir(parents=True, exist_ok=True)
        result = run(work)
    else:
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
            result = run(Path(tmp))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
