"""The committed artifacts are what the pinned compiler makes of the committed sources."""

from __future__ import annotations

import hashlib
import json

from contracts import build


def test_artifact_records_the_pinned_compiler_and_the_current_source() -> None:
    artifact = json.loads(build.ARTIFACT.read_text())
    assert artifact["compiler"].startswith(build.SOLC_VERSION_FILE.read_text().strip())
    assert artifact["sourceSha256"] == hashlib.sha256(build.SOURCE.read_bytes()).hexdigest()
    assert artifact["settings"]["optimizer"] == {"enabled": True, "runs": 200}
    names = {entry.get("name") for entry in artifact["abi"]}
    assert {"execute", "executeFlash", "withdraw", "uniswapV2Call", "owner", "Executed", "Withdrawn"} <= names
    assert artifact["bytecode"].startswith("0x60") and len(artifact["bytecode"]) > 1000


def test_recompiling_reproduces_the_committed_artifacts_byte_for_byte() -> None:
    for name, artifact in build.compile_artifacts().items():
        assert build.render(artifact) == build.artifact_path(name).read_text(), f"{name} is stale"
