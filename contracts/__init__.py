"""The executor contract: Solidity source, its build script and the committed artifact (build/Executor.json)."""
