"""Execution: everything between "an opportunity" and "a trade on chain", as plain modules.

Pure: transaction (the Executor.execute call, fees, chain-id-bound signing), nonces (NonceBook),
bundle (eth_sendBundle body, X-Flashbots-Signature), receipts (realized profit, revert reasons),
ledger (trade records, outcomes, inclusion verdicts), reserve_book (pool-state's reorg-aware
reserves), mode (paper / public / private). Coroutines for the io loop: chain_reads (pool-state),
executor_io (executor), relay_client (one aiohttp POST). Local servers and set-up for the devnet
and tests: relay_stub (a Flashbots-style relay in front of anvil), deploy (the executor contract).
The actors (actors/pool_state.py, strategy.py, executor.py) are thin shells over these.
"""
