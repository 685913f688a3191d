"""Contract artifacts (ABI + creation bytecode) the devnet deploys.

Uniswap V2's factory and pair come from the real `@uniswap/v2-core` build in node_modules. The
tokens are ours (devnet/contracts/DevnetTokens.sol): v2-core's test ERC20 has no configurable
symbol or decimals (every copy says "UNI-V2", 18), and the bot values tokens by their on-chain
decimals, so the devnet ships tokens with real symbols and decimals (USDC has 6, WBTC 8).
Their compiled artifact is committed (devnet/artifacts/DevnetTokens.json) so a run needs no
compiler; `python -m devnet.artifacts` rebuilds it with the pinned solcjs (through the one compile
path, contracts.build.compile_standard_json) and a test checks that the committed file still
matches its source.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from contracts.build import SOLCJS, compile_standard_json, render

REPO_ROOT = Path(__file__).resolve().parent.parent
V2_CORE_BUILD = REPO_ROOT / "node_modules" / "@uniswap" / "v2-core" / "build"
TOKENS_SOURCE = Path(__file__).resolve().parent / "contracts" / "DevnetTokens.sol"
TOKENS_ARTIFACT = Path(__file__).resolve().parent / "artifacts" / "DevnetTokens.json"

# Settings used for the committed artifact; changing them changes the bytecode.
SOLC_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
}


class ArtifactMissing(Exception):
    """A contract artifact is not where the devnet expects it (usually: `make setup` not run)."""

    def __init__(self, what: str, path: Path) -> None:
        super().__init__(f"{what} not found at {path}; run `make setup` to install the node packages")
        self.path = path


class Artifact(msgspec.Struct, frozen=True):
    """What deploying and calling one contract needs."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed creation code


def _hex(code: str) -> str:
    return code if code.startswith("0x") else "0x" + code


@functools.cache
def uniswap_v2(name: str) -> Artifact:
    """`UniswapV2Factory` or `UniswapV2Pair` from @uniswap/v2-core's published build."""
    path = V2_CORE_BUILD / f"{name}.json"
    if not path.is_file():
        raise ArtifactMissing(f"@uniswap/v2-core artifact {name}", path)
    raw = json.loads(path.read_bytes())
    code = raw.get("bytecode") or raw["evm"]["bytecode"]["object"]
    return Artifact(name=name, abi=raw["abi"], bytecode=_hex(code))


@functools.cache
def devnet_token(name: str) -> Artifact:
    """`DevnetERC20` or `DevnetWETH` from the committed artifact."""
    if not TOKENS_ARTIFACT.is_file():
        raise ArtifactMissing("devnet token artifact", TOKENS_ARTIFACT)
    contracts = json.loads(TOKENS_ARTIFACT.read_bytes())["contracts"]
    entry = contracts[name]
    return Artifact(name=name, abi=entry["abi"], bytecode=_hex(entry["bytecode"]))


def compile_tokens(solcjs: Path = SOLCJS) -> dict[str, Any]:
    """Compile DevnetTokens.sol with the pinned solcjs; returns the artifact document."""
    version, compiled = compile_standard_json(
        {TOKENS_SOURCE.name: TOKENS_SOURCE.read_text()}, SOLC_SETTINGS, solcjs=solcjs
    )
    return {
        "compiler": version,
        "settings": SOLC_SETTINGS,
        "contracts": {
            name: {"abi": c["abi"], "bytecode": _hex(c["evm"]["bytecode"]["object"])}
            for name, c in sorted(compiled[TOKENS_SOURCE.name].items())
        },
    }


def main() -> int:
    doc = compile_tokens()
    TOKENS_ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    TOKENS_ARTIFACT.write_text(render(doc))
    print(f"wrote {TOKENS_ARTIFACT.relative_to(REPO_ROOT)}: {', '.join(doc['contracts'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
