"""Which way the executor trades: paper, public or private, decided once from the configuration.

The rule (ARCHITECTURE.md, "The embedded default"): on the devnet the bot trades with anvil's test
key; on a real chain it runs in paper mode (detect, simulate, record, never sign nor send) unless
live mode is enabled explicitly AND a key is supplied. A relay URL makes a live bot send private
bundles instead of public transactions.
"""

from __future__ import annotations

from protocol.execution import SubmitMode
from protocol.secrets import Secret


def decide_mode(*, devnet: bool, live_mode: bool, key: Secret | None, relay_url: str | None) -> tuple[SubmitMode, str]:
    """(mode, why), the why in words an operator reads in the startup log."""
    if key is None:
        if live_mode:
            return SubmitMode.PAPER, "live mode asked for without a signing key: paper mode"
        return SubmitMode.PAPER, "no signing key: paper mode"
    if not devnet and not live_mode:
        return SubmitMode.PAPER, "real chain without LIVE_MODE=true: paper mode (nothing is signed or sent)"
    where = "devnet" if devnet else "live"
    if relay_url:
        return SubmitMode.PRIVATE, f"{where}: private bundles to the configured relay"
    return SubmitMode.PUBLIC, f"{where}: public transactions through the router"
