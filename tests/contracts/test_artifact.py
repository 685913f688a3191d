"""The committed artifacts are what the pinned compiler makes of the committed sources."""

from __future__ import annotations

import hashlib
import json

import pytest

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


def test_a_missing_compiler_names_its_path_and_the_fix(tmp_path) -> None:
    missing = tmp_path / "solcjs"
    with pytest.raises(build.CompileFailed, match="make setup") as err:
        build.compile_standard_json({"A.sol": "contract A {}"}, build.SETTINGS, solcjs=missing)
    assert str(missing) in str(err.value)


def test_a_source_that_does_not_compile_names_the_unit_and_the_error() -> None:
    broken = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.28;\ncontract Broken { function f() {} }\n"
    with pytest.raises(build.CompileFailed, match=r"Broken\.sol") as err:
        build.compile_standard_json({"Broken.sol": broken}, build.SETTINGS)
    assert "Error" in str(err.value)
