"""Compile the contracts with the pinned solcjs into contracts/build/<Name>.json.

Executor.sol is the product; testing/*.sol are misbehaving contracts that only tests deploy.
Deterministic: standard-JSON input with fixed settings, sources given by content (no paths
from the machine), output written with sorted keys. `python contracts/build.py` rebuilds the
artifacts; `python contracts/build.py --check` exits 1 when a committed artifact no longer
matches what its source compiles to (a test runs the same check).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = CONTRACTS_DIR.parent
SOLCJS = REPO_ROOT / "node_modules" / ".bin" / "solcjs"
SOURCE = CONTRACTS_DIR / "Executor.sol"
ARTIFACT = CONTRACTS_DIR / "build" / "Executor.json"
SOLC_VERSION_FILE = CONTRACTS_DIR / "SOLC_VERSION"
CONTRACT_NAME = "Executor"
# contract name -> its source, relative to contracts/
CONTRACTS = {
    "Executor": "Executor.sol",
    "FeeOnTransferToken": "testing/FeeOnTransferToken.sol",
    "GarbagePair": "testing/GarbagePair.sol",
}
COMPILE_TIMEOUT_S = 180.0

# Changing any of these changes the bytecode; they are recorded in the artifact.
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",  # transient storage (EIP-1153) for the flash-swap guard
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "evm.methodIdentifiers"]}
    },
}


class CompileFailed(Exception):
    """solcjs is missing, is not the pinned version, or reported errors."""


def solc_version(solcjs: Path = SOLCJS) -> str:
    out = subprocess.run([str(solcjs), "--version"], capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip().splitlines()[-1]


def artifact_path(name: str) -> Path:
    return CONTRACTS_DIR / "build" / f"{name}.json"


def compile_standard_json(
    sources: dict[str, str], settings: dict[str, Any], *, solcjs: Path = SOLCJS
) -> tuple[str, dict[str, dict[str, Any]]]:
    """Compile `sources` (unit name -> Solidity text) with the pinned solcjs.

    Returns (compiler version, the output's `contracts`: unit name -> contract name -> output).
    The one place the project runs solc: the Executor's build and the devnet's tokens both
    come through here, so both are pinned to contracts/SOLC_VERSION. Sources go in by content
    (no paths from the machine), so the bytecode is the same on every checkout.
    """
    if not solcjs.exists():
        raise CompileFailed(f"solcjs not found at {solcjs}; run `make setup` to install the node packages")
    pinned = SOLC_VERSION_FILE.read_text().strip()
    version = solc_version(solcjs)
    if not version.startswith(pinned):
        raise CompileFailed(f"solcjs is {version}, contracts/SOLC_VERSION pins {pinned}")
    request = {
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in sources.items()},
        "settings": settings,
    }
    out = subprocess.run(
        [str(solcjs), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        timeout=COMPILE_TIMEOUT_S,
    )
    # solcjs may print notices (">>> Cannot retry compilation with SMT...") before the JSON document
    result = json.loads(out.stdout[out.stdout.index("{") :])
    errors = [e for e in result.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileFailed(
            f"{', '.join(sources)} do not compile: "
            + "; ".join(e.get("formattedMessage", e.get("message", "?")) for e in errors)
        )
    return version, result["contracts"]


def compile_artifacts() -> dict[str, dict[str, Any]]:
    """name -> artifact dict for every contract in CONTRACTS, compiled by the pinned compiler."""
    sources = {path: (CONTRACTS_DIR / path).read_text() for path in CONTRACTS.values()}
    version, compiled = compile_standard_json(sources, SETTINGS)
    artifacts = {}
    for name, path in CONTRACTS.items():
        contract = compiled[path][name]
        artifacts[name] = {
            "contractName": name,
            "source": path,
            "compiler": version,
            "settings": {k: v for k, v in SETTINGS.items() if k != "outputSelection"},
            "sourceSha256": hashlib.sha256(sources[path].encode()).hexdigest(),
            "abi": contract["abi"],
            "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + contract["evm"]["deployedBytecode"]["object"],
            "methodIdentifiers": contract["evm"]["methodIdentifiers"],
        }
    return artifacts


def compile_artifact() -> dict[str, Any]:
    """The Executor's artifact for the current source."""
    return compile_artifacts()[CONTRACT_NAME]


def render(artifact: dict[str, Any]) -> str:
    """The committed form of an artifact: sorted keys, one-space indent, trailing newline."""
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    rendered = {name: render(artifact) for name, artifact in compile_artifacts().items()}
    if "--check" in argv:
        stale = [
            name for name, text in rendered.items()
            if not artifact_path(name).exists() or artifact_path(name).read_text() != text
        ]
        if stale:
            print(f"stale artifacts: {', '.join(stale)}; run python contracts/build.py", file=sys.stderr)
            return 1
        print(f"contracts/build matches the sources: {', '.join(rendered)}")
        return 0
    for name, text in rendered.items():
        path = artifact_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
