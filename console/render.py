"""Turn console answers into text an operator reads: aligned tables, indented JSON, plain text."""

from __future__ import annotations

from typing import Any

import msgspec

from console.wire import Response


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, dict | list):
        return msgspec.json.encode(value).decode()
    return str(value)


def render_table(columns: list[str], rows: list[list[Any]], title: str = "") -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        for i, text in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], len(text))
    numeric = [all(isinstance(row[i], int | float) and not isinstance(row[i], bool) for row in rows if i < len(row)
                   and row[i] is not None) and any(i < len(row) and row[i] is not None for row in rows)
               for i in range(len(columns))]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))]
        return "  ".join(parts).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    if title:
        out.append(f"({title})")
    return "\n".join(out)


def render(response: Response) -> str:
    if not response.ok:
        return f"error: {response.error}"
    if response.kind == "table" and isinstance(response.body, dict):
        body = response.body
        return render_table(body.get("columns", []), body.get("rows", []), body.get("title", ""))
    if response.kind == "data":
        return msgspec.json.format(msgspec.json.encode(response.body), indent=2).decode()
    return "" if response.body is None else str(response.body)
