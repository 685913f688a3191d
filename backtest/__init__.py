"""Backtesting: the live strategy search (amm/) and risk rules (risk/) replayed on pool history.

Pure: data in, data out. History comes in as numpy arrays (backtest.history), the engine replays
it (backtest.engine), and backtest.metrics / backtest.intervals turn the result into figures that
backtest.report renders. No sockets, no actors; the CLI and the operator API live in bot/.
"""
