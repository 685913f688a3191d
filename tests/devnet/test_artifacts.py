"""The committed token artifact is what its source compiles to, and v2-core's artifacts are present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.build import render
from devnet import artifacts


def test_committed_token_artifact_matches_its_source():
    if not artifacts.SOLCJS.exists():
        pytest.skip("solcjs not installed (make setup)")
    committed_text = artifacts.TOKENS_ARTIFACT.read_text()
    committed = json.loads(committed_text)
    rebuilt = artifacts.compile_tokens()
    # the bytecode ends with the metadata hash of the exact source: any edit without a rebuild shows
    assert rebuilt["contracts"] == committed["contracts"], "run `python -m devnet.artifacts` to rebuild"
    assert set(rebuilt["contracts"]) == {"DevnetERC20", "DevnetWETH"}
    # the whole committed file, compiler and settings included, is what the shared compile path writes
    assert render(rebuilt) == committed_text


def test_uniswap_artifacts_load_with_bytecode():
    for name in ("UniswapV2Factory", "UniswapV2Pair"):
        art = artifacts.uniswap_v2(name)
        assert art.bytecode.startswith("0x60") and len(art.bytecode) > 10_000
        assert any(entry.get("name") == "getReserves" or entry.get("name") == "createPair" for entry in art.abi)


def test_a_missing_artifact_names_the_path_and_the_fix(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(artifacts, "V2_CORE_BUILD", tmp_path)
    artifacts.uniswap_v2.cache_clear()
    try:
        with pytest.raises(artifacts.ArtifactMissing, match="make setup") as err:
            artifacts.uniswap_v2("UniswapV2Pair")
        assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)
    finally:
        artifacts.uniswap_v2.cache_clear()
