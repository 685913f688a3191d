"""Which world a risk book belongs to: one book per (mode, chain, genesis, trading account).

Equity, PnL, Kelly statistics and emergency stops are facts about one world. A fresh devnet has
a new genesis (anvil stamps it with the start time), so it starts a fresh book; a paper book on a
real chain never inherits a devnet's or a live one's, because the mode is part of the key.
Pure: the caller reads the chain id and the genesis hash and hands them in.
"""

from __future__ import annotations

import re

import msgspec

MODES = ("devnet", "paper", "live")
UNKNOWN_GENESIS = "genesis-unknown"  # the chain could not be asked: a book of its own, never a shared one


class BookWorld(msgspec.Struct, frozen=True):
    mode: str  # devnet | paper | live
    chain_id: int
    genesis: str  # the genesis block hash (0x...), or a chain fingerprint
    account: str  # the trading account or executor contract address

    @property
    def book_id(self) -> str:
        """The store key: readable by an operator, e.g. paper:1:0xd4e56740f876aef8:0x1234...abcd."""
        return f"{self.mode}:{self.chain_id}:{self.genesis[:18].lower()}:{self.account.lower()}"


def book_world(mode: str, chain_id: int, genesis: str | None, account: str | None) -> BookWorld:
    """Validate and normalise the four parts of a book's key; ValueError names a bad one."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id < 0:
        raise ValueError(f"chain id {chain_id!r} must be an integer >= 0")
    genesis = (genesis or UNKNOWN_GENESIS).strip()
    if not re.fullmatch(r"[0-9A-Za-z:_-]+", genesis):
        raise ValueError(f"genesis {genesis!r} is not a hash or fingerprint")
    account = (account or "no-account").strip()
    if not re.fullmatch(r"[0-9A-Za-z_-]+", account):
        raise ValueError(f"account {account!r} is not an address")
    return BookWorld(mode=mode, chain_id=chain_id, genesis=genesis, account=account)
