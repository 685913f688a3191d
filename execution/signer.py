"""The one object that holds a usable signing key in memory; it shows nothing but its address."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from protocol.secrets import Secret


class Signer:
    """The signing account of one key, derived once (deriving costs milliseconds); shows only its address."""

    __slots__ = ("_account", "address")

    def __init__(self, key: Secret) -> None:
        self._account = Account.from_key(key.reveal())
        self.address: str = self._account.address

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    def __reduce__(self) -> Any:
        raise TypeError("Signer cannot be pickled")

    def sign_transaction(self, fields: dict[str, Any]) -> Any:
        return self._account.sign_transaction(fields)

    def sign_message(self, message: Any) -> Any:
        return self._account.sign_message(message)
