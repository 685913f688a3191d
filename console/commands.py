"""The console's built-in commands: tree, inspect, kill, help, quit.

`tree` and `inspect` read the live tree from supervision.introspect, which reads actor state
without asking any actor, so a stalled actor still shows up (with its growing mailbox).
"""

from __future__ import annotations

import argparse
from typing import Any

import msgspec

from console.registry import CommandError, CommandRegistry
from console.wire import Table
from protocol.config import Config, config_summary
from protocol.secrets import secret_enc_hook
from protocol.supervision import ActorInfo
from supervision import introspect
from supervision.handle import Handle

TREE_COLUMNS = ["PATH", "KIND", "STATE", "BREAKER", "MAILBOX", "OLDEST", "RESTARTS", "UPTIME", "LAST ERROR"]
#: Longest last-error text in the tree table; `inspect PATH` shows it whole.
ERROR_WIDTH = 60


def duration(seconds: float | None) -> str | None:
    """A short human duration: 0.25s, 42s, 3m07s, 2h05m, 3d04h."""
    if seconds is None:
        return None
    if seconds < 10:
        return f"{seconds:.2f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def _short(text: str | None, width: int) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def tree_row(info: ActorInfo) -> list[Any]:
    return [
        info.path, info.kind, info.state, info.breaker, info.mailbox_depth, duration(info.oldest_message_age_s),
        f"{info.restarts_total}/{info.restarts_recent}", duration(info.uptime_s), _short(info.last_error, ERROR_WIDTH),
    ]


def tree(args: argparse.Namespace) -> Table:
    infos = introspect.snapshot_tree()
    if not infos:
        raise CommandError("no actor tree is running in this process")
    return Table(columns=TREE_COLUMNS, rows=[tree_row(i) for i in infos],
                 title=f"{len(infos)} actors; RESTARTS is total/recent")


def _find(path: str) -> ActorInfo:
    info = introspect.find(path)
    if info is None:
        raise CommandError(f"no actor at {path!r}; `tree` lists the paths")
    return info


def inspect(args: argparse.Namespace) -> dict[str, Any]:
    info = _find(args.path)
    out: dict[str, Any] = msgspec.to_builtins(info, enc_hook=secret_enc_hook)
    snapshot = Handle(info.path).snapshot()
    if snapshot is not None:
        try:
            out["snapshot"] = msgspec.to_builtins(snapshot, enc_hook=secret_enc_hook)
        except (TypeError, msgspec.EncodeError):
            out["snapshot"] = repr(snapshot)
    return out


def kill(args: argparse.Namespace) -> str:
    info = _find(args.path)
    reason = " ".join(args.reason) if args.reason else "killed from the console"
    introspect.kill(info.path, reason)
    return f"crash injected into {info.path} ({reason}); its supervisor decides what happens next"


def register_config_command(registry: CommandRegistry, config: Config, summary: dict[str, Any] | None = None) -> None:
    """Add `config`: the settings this bot was started with, every secret masked. `summary` (already masked)
    replaces config_summary(config) where the running bot knows more (the devnet's own market)."""
    summary = summary if summary is not None else config_summary(config)

    def show(args: argparse.Namespace) -> Any:
        return summary[args.section] if args.section else summary

    p = argparse.ArgumentParser(description="The settings the bot runs with (secrets masked).")
    p.add_argument("section", nargs="?", choices=sorted(k for k, v in summary.items() if isinstance(v, dict)),
                   help="show one section only")
    registry.register_command("config", p, show)


def register_disabled_command(registry: CommandRegistry, name: str, why: str) -> None:
    """Replace command `name` by one that answers `why` (a component the bot was started without): an
    operator typing `risk` learns that the risk book is off, not that the command does not exist."""
    p = argparse.ArgumentParser(description=f"(disabled) {why}")
    p.add_argument("words", nargs=argparse.REMAINDER, help="ignored: the command is disabled")

    def refuse(args: argparse.Namespace) -> None:
        raise CommandError(why)

    registry.register_command(name, p, refuse)


def register_builtin_commands(registry: CommandRegistry) -> None:
    """Add tree, inspect, kill, help and quit to `registry`."""

    p = argparse.ArgumentParser(description="The live actor tree: state, breaker, mailbox, restarts, uptime.")
    p.add_argument("--watch", "-w", action="store_true",
                   help="refresh every second until Ctrl-C or 'q' (handled by the client)")
    registry.register_command("tree", p, tree)

    p = argparse.ArgumentParser(description="Everything known about one actor, with its published snapshot.")
    p.add_argument("path", help="the actor's path, e.g. /network/rpc:primary")
    registry.register_command("inspect", p, inspect)

    p = argparse.ArgumentParser(description="Crash an actor on purpose (its supervisor restarts it per policy).")
    p.add_argument("path", help="the actor's path, e.g. /market/strategy")
    p.add_argument("reason", nargs="*", help="recorded as the crash reason")
    registry.register_command("kill", p, kill, audited=True)

    def help_(args: argparse.Namespace) -> str | Table:
        if args.command:
            return registry.help_text(args.command)
        rows: list[list[Any]] = []
        for name in registry.names():
            command = registry.get(name)
            rows.append([name, command.summary if command else ""])
        return Table(columns=["COMMAND", "WHAT IT DOES"], rows=rows, title="`CMD --help` or `help CMD` for details")

    p = argparse.ArgumentParser(description="List the commands, or show one command's help.")
    p.add_argument("command", nargs="?", help="a command name")
    registry.register_command("help", p, help_)

    p = argparse.ArgumentParser(description="Leave the console (the bot keeps running).")
    registry.register_command("quit", p, lambda args: "bye")
