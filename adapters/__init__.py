"""I/O beside the actors: coroutines on the shared io loop that talk to one external service each and
classify its answers, deciding nothing (rpc/ is the JSON-RPC layer; these are the rest).

chain_reads (pool-state's reads of headers, logs and reserves), executor_chain (the executor's
start-up reads, simulation, sends and receipt follow-up), relay_client (eth_sendBundle to a relay).
Their results come back to the actors as the messages of protocol/.
"""
