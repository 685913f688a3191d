"""Local nonce tracking for one sending account: a pure value the executor replaces on every event.

The chain is the authority; the book is a cache that lets us send without asking first. It learns
the chain's count once (`synced`), hands out nonces in order (`reserve`), remembers what it sent
(`sent`), gives back a nonce whose transaction never left or never landed (`released`), and
resyncs when a node says "nonce too low" (`synced` again). A released nonce below the highest
handed out leaves a gap the chain would wait on forever, so the book forgets its count and asks
the chain again instead of guessing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

#: geth refuses a replacement unless both fee caps rise by at least 10%; 12.5% clears it with margin
#: and matches the most a base fee can rise in one block.
REPLACEMENT_BUMP_PER_MILLE = 125


class NonceUnknown(Exception):
    """The book does not know the account's next nonce: read eth_getTransactionCount(pending) first."""

    def __init__(self, account: str) -> None:
        super().__init__(f"next nonce of {account} unknown: resync from the chain first")
        self.account = account


@dataclasses.dataclass(frozen=True)
class InFlight:
    """A signed transaction sent with `nonce`, not yet seen mined."""

    nonce: int
    tx_hash: str
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    sent_block: int
    replacements: int = 0


def bump_fee(fee: int) -> int:
    """The smallest fee a node accepts to replace a pending transaction paying `fee` (rounded up, +1 wei at least)."""
    return fee + max(1, -(-fee * REPLACEMENT_BUMP_PER_MILLE // 1000))


@dataclasses.dataclass(frozen=True)
class NonceBook:
    account: str
    next_nonce: int | None = None  # None: unknown, resync needed
    in_flight: Mapping[int, InFlight] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    reserved: frozenset[int] = frozenset()  # handed out, not yet sent nor released

    def synced(self, chain_pending_count: int) -> NonceBook:
        """The chain's eth_getTransactionCount(account, "pending"): everything below it is used.

        In-flight entries below it are settled (mined or replaced); reservations below it are void.
        """
        if chain_pending_count < 0:
            raise ValueError(f"negative transaction count {chain_pending_count}")
        in_flight = {n: tx for n, tx in self.in_flight.items() if n >= chain_pending_count}
        reserved = frozenset(n for n in self.reserved if n >= chain_pending_count)
        known = [chain_pending_count, *(n + 1 for n in in_flight), *(n + 1 for n in reserved)]
        return dataclasses.replace(
            self, next_nonce=max(known), in_flight=MappingProxyType(in_flight), reserved=reserved
        )

    def reserve(self) -> tuple[NonceBook, int]:
        """The next nonce to sign with; raises NonceUnknown until the book has synced."""
        if self.next_nonce is None:
            raise NonceUnknown(self.account)
        nonce = self.next_nonce
        return dataclasses.replace(self, next_nonce=nonce + 1, reserved=self.reserved | {nonce}), nonce

    def sent(self, tx: InFlight) -> NonceBook:
        """A transaction with a reserved (or in-flight, for a replacement) nonce went out."""
        if tx.nonce not in self.reserved and tx.nonce not in self.in_flight:
            raise ValueError(f"nonce {tx.nonce} was not reserved from this book")
        in_flight = dict(self.in_flight)
        in_flight[tx.nonce] = tx
        return dataclasses.replace(self, in_flight=MappingProxyType(in_flight), reserved=self.reserved - {tx.nonce})

    def released(self, nonce: int) -> NonceBook:
        """`nonce` will not be used after all (not sent, refused, or a bundle that was not included).

        The top nonce is simply handed out again; any lower one leaves a gap, so the count is forgotten
        (next_nonce None) and the owner resyncs from the chain.
        """
        in_flight = {n: tx for n, tx in self.in_flight.items() if n != nonce}
        reserved = self.reserved - {nonce}
        if self.next_nonce is not None and nonce == self.next_nonce - 1:
            next_nonce: int | None = nonce
        elif self.next_nonce is not None and nonce >= self.next_nonce:
            next_nonce = self.next_nonce  # never handed out by this book: nothing to give back
        else:
            next_nonce = None
        return dataclasses.replace(
            self, next_nonce=next_nonce, in_flight=MappingProxyType(in_flight), reserved=reserved
        )

    def mined(self, nonce: int) -> NonceBook:
        """A transaction with `nonce` was included: every nonce up to it is settled."""
        in_flight = {n: tx for n, tx in self.in_flight.items() if n > nonce}
        reserved = frozenset(n for n in self.reserved if n > nonce)
        next_nonce = None if self.next_nonce is None else max(self.next_nonce, nonce + 1)
        return dataclasses.replace(
            self, next_nonce=next_nonce, in_flight=MappingProxyType(in_flight), reserved=reserved
        )

    def stuck(self, head: int, after_blocks: int) -> tuple[InFlight, ...]:
        """In-flight transactions sent `after_blocks` or more blocks before `head`, lowest nonce first."""
        return tuple(sorted((tx for tx in self.in_flight.values() if head - tx.sent_block >= after_blocks),
                            key=lambda tx: tx.nonce))

    def replacement_fees(self, nonce: int, floor_max_fee: int = 0, floor_priority_fee: int = 0) -> tuple[int, int]:
        """(max_fee, priority_fee) a replacement of in-flight `nonce` must pay: both bumped, at least the floors."""
        tx = self.in_flight[nonce]
        priority = max(bump_fee(tx.max_priority_fee_per_gas), floor_priority_fee)
        max_fee = max(bump_fee(tx.max_fee_per_gas), floor_max_fee, priority)
        return max_fee, priority
