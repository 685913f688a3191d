"""The performance grade, A to F, from rules read top to bottom: the first row that matches decides.

| grade | rule (first match wins)                                                                  |
| ----- | ---------------------------------------------------------------------------------------- |
| F     | the health check is unhealthy, a fast-burn ("page") pair fires, or a budget is overspent  |
| D     | a slow-burn ("ticket") pair fires, or a budget has less than 25 % left                   |
| C     | an SLO is out of compliance over 1 h, or a budget has less than 50 % left                |
| B     | an SLO is out of compliance over 5 min, a budget has less than 90 % left, or a bottleneck  |
|       | finding stands                                                                            |
| A     | everything else: every SLO compliant in every window, budgets at least 90 % left          |

An SLO without events in a window is neither compliant nor not: it does not count. Each grade comes
with the reasons that put it there, so the console can say why it is not an A.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.performance import Finding, SloStatus


def _compliant(slo: SloStatus, window_s: int) -> bool:
    window = next((w for w in slo.windows if w.window_s == window_s), None)
    return window is None or window.compliance is None or window.compliance >= slo.objective


def grade(
    slos: Sequence[SloStatus], findings: Sequence[Finding] = (), health: str = "healthy"
) -> tuple[str, list[str]]:
    """(grade, reasons) per the table in the module docstring."""
    budgets = {s.name: s.budget_remaining for s in slos if s.budget_remaining is not None}
    rules: list[tuple[str, list[str]]] = [
        ("F", ([f"health is {health}"] if health == "unhealthy" else [])
         + [f"{s.name}: fast burn (page)" for s in slos if "page" in s.firing]
         + [f"{n}: error budget overspent ({b:.0%} left)" for n, b in budgets.items() if b < 0]),
        ("D", [f"{s.name}: slow burn (ticket)" for s in slos if "ticket" in s.firing]
         + [f"{n}: {b:.0%} of the error budget left" for n, b in budgets.items() if b < 0.25]),
        ("C", [f"{s.name}: out of compliance over 1 h" for s in slos if not _compliant(s, 3600)]
         + [f"{n}: {b:.0%} of the error budget left" for n, b in budgets.items() if b < 0.5]),
        ("B", [f"{s.name}: out of compliance over 5 min" for s in slos if not _compliant(s, 300)]
         + [f"{n}: {b:.0%} of the error budget left" for n, b in budgets.items() if b < 0.9]
         + [f"bottleneck: {f.subject} ({f.rule})" for f in findings]),
    ]
    for letter, reasons in rules:
        if reasons:
            return letter, reasons
    return "A", []
