"""Settings an operator gets wrong are refused with a line that shows the mistake but no credential:
live mode without a key on any chain, a non-URL endpoint (shown, with only credentials masked)."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocol.config import ConfigError, config_summary, load_config
from protocol.secrets import MASK, mask_url

KEY = "0x" + "ab" * 32

_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
hosts = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_label, min_size=1, max_size=3),
                  st.sampled_from(["com", "io", "example", "pro"]))
# Credentials: printable and URL-ish, but no '?', '#', '@' or whitespace (those end or split a userinfo).
creds = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.~:/!$&'()*+,;=%",
                min_size=8, max_size=30)
api_keys = st.text(alphabet="abcdef0123456789", min_size=16, max_size=40).filter(
    lambda k: re.search("[a-f]", k) and re.search("[0-9]", k))


def test_live_mode_without_a_key_is_refused_on_the_devnet_too() -> None:
    with pytest.raises(ConfigError, match="LIVE_MODE=true but PRIVATE_KEY is not set") as err:
        load_config({"LIVE_MODE": "true"})
    assert "\n" not in str(err.value)
    assert load_config({"LIVE_MODE": "true", "PRIVATE_KEY": KEY}).execution.live_mode


def test_a_non_url_endpoint_is_named_and_shown() -> None:
    with pytest.raises(ConfigError) as err:
        load_config({"RPC_URL_PRIMARY": "notaurl"})
    line = str(err.value)
    assert line.startswith("config error: RPC_URL_PRIMARY=") and "'notaurl'" in line and "is not a URL" in line


def test_a_bad_endpoint_url_shows_its_host_but_not_its_credentials() -> None:
    with pytest.raises(ConfigError) as err:
        load_config({"RPC_URL_PRIMARY": "htps://user:hunter2hunter2@node.example/v3/0123456789abcdef0123"})
    line = str(err.value)
    assert "node.example" in line and "hunter2" not in line and "0123456789abcdef0123" not in line


def test_the_summary_shows_hosts_of_plain_urls() -> None:
    cfg = load_config({"RPC_URL_PRIMARY": "http://127.0.0.1:8545", "WS_URL_PRIMARY": "ws://127.0.0.1:8546"})
    endpoint = config_summary(cfg)["network"]["endpoints"][0]
    assert endpoint["url"] == "http://127.0.0.1:8545" and endpoint["ws_url"] == "ws://127.0.0.1:8546"


@pytest.mark.parametrize(("raw", "shown"), [
    ("notaurl", "notaurl"),
    ("https://user:pw@node.example:8545/rpc", f"https://{MASK}@node.example:8545/rpc"),
    ("https://eth.g.alchemy.com/v2/short", f"https://eth.g.alchemy.com/v2/{MASK}"),
    ("https://a.quiknode.pro/0123abcd0123abcd0123/?x=1&apikey=z", f"https://a.quiknode.pro/{MASK}/?x=1&apikey={MASK}"),
    ("https://host/rpc#frag", f"https://host/rpc#{MASK}"),
])
def test_mask_url_examples(raw: str, shown: str) -> None:
    assert mask_url(raw) == shown


@settings(max_examples=200, deadline=None)
@given(scheme=st.sampled_from(["http", "https", "ws", "wss", "htp"]), host=hosts, user=creds, password=creds,
       port=st.none() | st.integers(1, 65535), key=api_keys,
       token=creds.filter(lambda t: "&" not in t and "=" not in t),
       layout=st.sampled_from(["userinfo", "path", "query", "all"]))
def test_a_credential_never_shows_and_the_host_always_does(
    scheme: str, host: str, user: str, password: str, port: int | None, key: str, token: str, layout: str
) -> None:
    authority = host + (f":{port}" if port is not None else "")
    userinfo = f"{user}:{password}@" if layout in ("userinfo", "all") else ""
    path = f"/v3/{key}" if layout in ("path", "all") else "/rpc"
    query = f"?chain=main&access_token={token}" if layout in ("query", "all") else ""
    url = f"{scheme}://{userinfo}{authority}{path}{query}"
    secrets = {"userinfo": [user, password], "path": [key], "query": [token]}
    hidden = [s for part, values in secrets.items() if layout in (part, "all") for s in values]
    for secret in hidden:  # a credential that happens to spell part of the visible URL proves nothing
        assume(secret not in f"{scheme}://{authority}/v3/rpc?chain=main&access_token=")
    shown = mask_url(url)
    assert authority in shown
    for secret in hidden:
        assert secret not in shown
