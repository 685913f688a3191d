"""Execution: everything between "an opportunity" and "a trade on chain", as pure modules.

transaction (the Executor.execute call, fees, chain-id-bound signing), nonces (NonceBook), bundle
(eth_sendBundle body, X-Flashbots-Signature), receipts (realized profit, revert reasons), ledger
(trade records, outcomes, inclusion verdicts), reserve_book (pool-state's reorg-aware reserves),
mode (paper / public / private), resume (taking over trades in flight after a restart).
No I/O here: the coroutines that read and send live in adapters/ (chain_reads for pool-state,
executor_chain for the executor, relay_client for bundles); the devnet's relay stub and executor
set-up live in devnet/. The actors (actors/pool_state.py, strategy.py, executor.py) are thin shells.
"""
