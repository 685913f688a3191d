"""A child process that logs through the bot's real sinks: `python -m tests.monitoring.log_writer DIR N THREADS`.

Writes N lines from each of THREADS threads (each with its thread and sequence number as extra fields),
then logs secrets through every path a secret could take: the message, a bound extra field, an
exception whose locals and message hold them, stdlib logging, and an ERROR. Exits once the enqueued
file sink has written everything.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

from loguru import logger

from bot.logging import setup_logging
from protocol.monitoring import Retention, Rotation
from protocol.secrets import Secret

PRIVATE_KEY = "0x" + "5a" * 32
WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
RPC_URL = "https://alice:s3cretPassw0rd@rpc.example.com/v3/0123456789abcdef0123"


def main(directory: str, n: int, threads: int, terminal_format: str = "text") -> None:
    for value in (PRIVATE_KEY, WEBHOOK, BOT_TOKEN, RPC_URL):
        Secret(value)  # the config wraps every secret it loads: from then on the redactor knows it
    setup_logging("DEBUG", json_path=Path(directory) / "arbiter.jsonl", terminal_format=terminal_format,
                  rotation=Rotation(max_bytes=64 * 1024, every_s=None), retention=Retention(count=10_000),
                  compression="gz")

    def write(t: int) -> None:
        log = logger.bind(actor=f"/load/{t}")
        for i in range(n):
            log.bind(thread_no=t, seq=i).info("load line {} of thread {}", i, t)

    workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    leak = logger.bind(actor="/leak", rpc=RPC_URL, webhook=WEBHOOK)
    leak.warning("connecting to {} with key {} and token {}", RPC_URL, PRIVATE_KEY, BOT_TOKEN)
    try:
        key = PRIVATE_KEY  # noqa: F841 - a local a diagnose=True traceback would print
        raise ConnectionError(f"POST {WEBHOOK} failed for bot{BOT_TOKEN}")
    except ConnectionError:
        leak.bind(trace_id="ab" * 16).exception("alert channel failed")
    logging.getLogger("web3.providers").warning("request to %s timed out", RPC_URL)
    other_paths(Path(directory))
    logger.remove()  # stops the file sink's writer once it has written every queued line
    print("DONE", flush=True)


def other_paths(directory: Path) -> None:
    """The secrets through the other places bytes are written: a config error, an RPC error, the console's
    answer, span attributes (kept and logged) and an audit record (on disk)."""
    import argparse

    from console.registry import CommandRegistry
    from monitoring import tracing
    from persistence.audit_trail import AuditTrail
    from protocol.config import ConfigError, load_config
    from rpc.errors import RpcError

    try:
        load_config({"RPC_URL_PRIMARY": RPC_URL, "PRIVATE_KEY": PRIVATE_KEY[:-1], "DISCORD_WEBHOOK_URL": WEBHOOK})
    except ConfigError as exc:
        logger.error("config: {}", exc)
    try:
        raise RpcError("eth_call", -32000, f"upstream {RPC_URL} refused key {PRIVATE_KEY}")
    except RpcError:
        logger.exception("rpc failed")
    registry = CommandRegistry()
    registry.register_command("leak", argparse.ArgumentParser(), lambda a: {"url": RPC_URL, "token": BOT_TOKEN})
    logger.info("console answered {}", registry.run(["leak"]))
    from opentelemetry.sdk.trace import TracerProvider

    store = tracing.TraceStore()
    provider = TracerProvider()
    provider.add_span_processor(tracing.StoreProcessor(store))
    tracing.install(provider.get_tracer("leak"), store)
    trace_id = tracing.open_trade(1, {"endpoint": RPC_URL})
    sent = tracing.start_stage(trace_id, "sent", None, 1, {"endpoint": RPC_URL, "webhook": WEBHOOK})
    tracing.end_stage(sent, {"hops": [RPC_URL]}, error=f"key {PRIVATE_KEY}", end_ns=2)
    tracing.end_trade(trace_id, "failed", f"POST {RPC_URL}", 3)
    logger.info("span kept: {}", store.timeline(trace_id))
    trail = AuditTrail(directory / "audit")
    trail.append("config", {"rpc": RPC_URL, "webhook": WEBHOOK, "token": BOT_TOKEN, "key": PRIVATE_KEY})
    trail.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *(sys.argv[4:5]))
