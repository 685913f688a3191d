"""The process: load config, bring up the devnet (by default), start the tree, serve the console,
and stop everything within a bound on Ctrl-C, SIGTERM or the root supervisor's escalation."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import msgspec
from loguru import logger

from bot.logging import LogPathError, setup_logging
from persistence import audit_trail
from protocol.config import Config, ConfigError, config_summary, load_config

#: Ctrl-C must stop the whole bot within this bound, anvil included.
SHUTDOWN_BOUND_S = 15.0


def _parse(command: str, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"run.py {command}", description=__doc__)
    parser.add_argument("--config", help="a TOML file of settings (the environment wins over it)")
    parser.add_argument("--block-time", type=float, default=1.0, help="devnet seconds per block (default 1)")
    parser.add_argument("--seed", type=int, default=7, help="devnet market simulator seed")
    parser.add_argument("--anvil-port", type=int, default=0, help="devnet anvil port (default: a free one)")
    return parser.parse_args(argv)


#: What a real chain needs to be told before the bot has anything to watch (the devnet knows its own).
MARKET_SETTINGS = (("WETH_ADDRESS", "weth"), ("FACTORIES", "factories"), ("EXECUTOR_ADDRESS", "executor_address"))


def missing_market_settings(config: Config) -> tuple[str, ...]:
    """The settings a real chain still lacks for the bot to watch anything (none on the devnet)."""
    if config.devnet:
        return ()
    return tuple(env for env, key in MARKET_SETTINGS if not getattr(config.market, key))


def nothing_to_watch(missing: tuple[str, ...]) -> str:
    verb = "is" if len(missing) == 1 else "are"
    return (f"config error: nothing to watch: {', '.join(missing)} {verb} not set; expected "
            "WETH_ADDRESS=0x..., FACTORIES=dex=0xFactory,... and EXECUTOR_ADDRESS=0x... beside the RPC URLs")


def main(command: str, argv: list[str]) -> int:
    args = _parse(command, argv)
    try:
        config = load_config(os.environ, args.config or os.environ.get("ARBITER_CONFIG"))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    from bot.alerts import alerts_config_problem

    problem = alerts_config_problem(config.alerts)
    if problem is not None:  # a channel asked for but not built, or a bad rule: say so before anything starts
        print(problem, file=sys.stderr)
        return 2
    if command == "config":
        print(msgspec.json.format(msgspec.json.encode(config_summary(config))).decode())
        return 0
    missing = missing_market_settings(config)
    if missing:  # a paper bot with nothing to watch would idle forever
        print(nothing_to_watch(missing), file=sys.stderr)
        return 2
    return run(config, args)


def log_dir(config: Config) -> Path:
    return Path(config.monitoring.log_dir or Path(config.storage.data_dir) / "logs")


def audit_dir(config: Config) -> Path:
    return Path(config.monitoring.audit_dir or Path(config.storage.data_dir) / "audit")


def start_monitoring(config: Config) -> tuple[audit_trail.AuditTrail, Any]:
    """Logging (with the monitor's error sink), tracing, then the audit trail (its first record: the
    effective configuration, secrets masked). Raises LogPathError / AuditPathError / TracingUnavailable
    (one line each) for a directory that cannot be written or an exporter that is not installed."""
    from actors.monitor import error_sink
    from bot.tracing import start_tracing

    mon = config.monitoring
    setup_logging(config.log_level, json_path=log_dir(config) / "arbiter.jsonl", terminal_format=mon.log_format,
                  rotation=mon.log_rotation, retention=mon.log_retention, compression=mon.log_compression,
                  extra_sinks=((error_sink, "ERROR"),))
    provider = start_tracing(mon)
    return open_audit_trail(config), provider


def open_audit_trail(config: Config) -> audit_trail.AuditTrail:
    """Open the configured trail, make it the process's, and record the effective config (secrets masked)."""
    mon = config.monitoring
    trail = audit_trail.AuditTrail(audit_dir(config), segment_s=mon.audit_segment_s,
                                   segment_bytes=mon.audit_segment_bytes)
    audit_trail.install(trail)
    trail.append("config", config_summary(config), actor="/")
    return trail


def run(config: Config, args: argparse.Namespace) -> int:
    from bot.tracing import TracingUnavailable, stop_tracing

    try:
        trail, provider = start_monitoring(config)
    except (LogPathError, audit_trail.AuditPathError, audit_trail.AuditTrailDamaged, TracingUnavailable) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    from bot.system import System, SystemStartError

    try:
        system = System.start(
            config, block_time_s=args.block_time, seed=args.seed, anvil_port=args.anvil_port
        )
    except SystemStartError as exc:
        print(f"arbiter: {exc}", file=sys.stderr)
        return 1
    logger.info("arbiter is running ({}); Ctrl-C stops it", "devnet" if config.devnet else "paper mode")
    logger.info("console: .venv/bin/python run.py console")
    exit_code = 0
    try:
        while not stop.wait(0.2):
            if system.tree.exited.is_set():
                exit_msg: Any = system.tree.exit
                logger.error("the actor tree stopped: {}", exit_msg.reason if exit_msg else "unknown")
                exit_code = 1
                break
    finally:
        logger.info("stopping (bound {}s)", SHUTDOWN_BOUND_S)
        try:
            system.stop(SHUTDOWN_BOUND_S)
        except Exception as exc:  # the process exits either way; what went wrong must be on record
            logger.opt(exception=exc).error("shutdown did not complete cleanly: {}", exc)
        logger.info("stopped")
        stop_tracing(provider)
        audit_trail.install(None)
        trail.close()
    return exit_code
