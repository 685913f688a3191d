"""The risk book's pure model: state, assessment, limits, reports and Monte Carlo. No I/O, no actors."""

from risk.assess import assess
from risk.book import apply_outcome, reserve, reset_stop, roll_day, trigger_stop
from risk.report import report
from risk.state import RiskBookState, new_state

__all__ = [
    "RiskBookState",
    "apply_outcome",
    "assess",
    "new_state",
    "report",
    "reserve",
    "reset_stop",
    "roll_day",
    "trigger_stop",
]
