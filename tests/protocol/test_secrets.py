"""Secrets never show themselves; redact() masks them and URL credentials in any text."""

from __future__ import annotations

import pickle

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.secrets import MASK, Secret, redact, redact_url, secret_enc_hook


class Holder(msgspec.Struct, frozen=True):
    key: Secret
    note: str = ""


def test_secret_never_prints_its_value() -> None:
    s = Secret("hunter2-very-secret")
    for shown in (str(s), repr(s), f"{s}", f"{s!r}", f"{s:>30}", "%s" % (s,),  # noqa: UP031
                   repr([s]), repr(Holder(s))):
        assert "hunter2" not in shown
    assert repr(s) == "Secret('***')" and str(s) == MASK
    assert s.reveal() == "hunter2-very-secret"


def test_msgspec_refuses_a_secret_without_the_hook_and_masks_it_with_it() -> None:
    holder = Holder(Secret("hunter2-very-secret"), note="n")
    with pytest.raises(TypeError) as err:
        msgspec.json.encode(holder)
    assert "hunter2" not in str(err.value)
    assert msgspec.json.encode(holder, enc_hook=secret_enc_hook) == b'{"key":"***","note":"n"}'


def test_secret_is_immutable_comparable_and_not_picklable() -> None:
    s = Secret("Zq9abcdefgh")
    with pytest.raises(AttributeError):
        s._value = "x"  # type: ignore[misc]
    assert s == Secret("Zq9abcdefgh") and s != Secret("Zq9abcdefgX") and len({s, Secret("Zq9abcdefgh")}) == 1
    with pytest.raises(TypeError):
        pickle.dumps(s)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://alice:pw123@node.example:8545/rpc", "https://***@node.example:8545/rpc"),
        ("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", "https://mainnet.infura.io/v3/***"),
        ("wss://eth.example/ws?apiKey=k3y&x=1", "wss://eth.example/ws?apiKey=***&x=1"),
        ("https://api.telegram.org/bot123456:AAH-xyz_987/sendMessage", "https://api.telegram.org/bot***/sendMessage"),
        ("https://discord.com/api/webhooks/42/tok.EN-x?wait=true", "https://discord.com/api/webhooks/42/***?wait=true"),
        ("redis://:p4ss@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
    ],
)
def test_redact_url_masks_credentials_and_keeps_the_host(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_masks_known_secret_values_anywhere() -> None:
    key = Secret("0x" + "5f" * 32)
    line = f"signing with {key.reveal()} failed; retry via https://u:topsecretpw@relay.example/x"
    Secret("https://u:topsecretpw@relay.example/x")
    out = redact(line)
    assert key.reveal() not in out and "topsecretpw" not in out and "relay.example" in out


@settings(max_examples=50, deadline=None)
@given(tail=st.text(min_size=3, max_size=30).filter(lambda t: "*" not in t),
       before=st.text(max_size=20), after=st.text(max_size=20))
def test_a_registered_secret_is_masked_in_any_surrounding_text(tail: str, before: str, after: str) -> None:
    value = "Zq9" + tail  # registrations are process-wide: keep them from matching other tests' text
    Secret(value)
    assert value not in redact(before + value + after)
