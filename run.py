#!/usr/bin/env python3
"""arbiter's one entry point: `python run.py [command]`.

  run (default)   run the bot: the embedded devnet unless RPC URLs are configured
  console [CMD]   attach the debug console to a running bot (interactive, or one command)
  config          print the effective configuration, secrets masked
  paper           run the bot with paper trading (PAPER_MODE=true): fills simulated, nothing sent
  config-table    print the README's configuration table, generated from protocol/config.py (--write, --check)
  backtest [...]  replay the strategy and risk book on history (--synthetic 6mo, --history DIR; --help)
  history fetch   ingest Uniswap V2 pool history from a node (chunked eth_getLogs, resumable; --help)
  optimize [...]  genetic search of strategy parameters with walk-forward validation (--help)
  audit verify    check the audit trail's hash chain (audit show prints its records)
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv and not argv[0].startswith("-") else ("run", argv)
    if command in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if command == "console":
        from console.client import main as console_main

        return console_main(rest)
    if command == "backtest":
        from bot.backtesting import main as backtest_main

        return backtest_main(rest)
    if command == "history":
        from bot.history_cli import main as history_main

        return history_main(rest)
    if command == "optimize":
        from bot.optimizing import main as optimize_main

        return optimize_main(rest)
    if command == "config-table":
        from bot.config_table import main as table_main

        return table_main(rest)
    if command == "audit":
        from bot.audit_cli import main as audit_main

        return audit_main(rest)
    if command == "paper":
        import os

        from bot.app import main as app_main

        os.environ["PAPER_MODE"] = "true"
        return app_main(command, rest)
    if command in ("run", "config"):
        from bot.app import main as app_main

        return app_main(command, rest)
    print(f"run.py: unknown command {command!r}; try `python run.py --help`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
