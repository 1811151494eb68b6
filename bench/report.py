"""Printing results as a plain-text table."""

from __future__ import annotations

from collections.abc import Sequence

from bench.registry import Result

HEADERS = ("scenario", "metric", "value", "unit", "notes")


def format_value(value: float | int | str) -> str:
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def table(results: Sequence[Result]) -> str:
    rows = [(r.scenario, r.metric, format_value(r.value), r.unit, r.notes) for r in results]
    widths = [max(len(str(row[i])) for row in [HEADERS, *rows]) for i in range(len(HEADERS) - 1)]
    lines = []
    for row in [HEADERS, tuple("-" * w for w in widths) + ("-----",), *rows]:
        cells = [f"{row[0]:<{widths[0]}}", f"{row[1]:<{widths[1]}}", f"{row[2]:>{widths[2]}}", f"{row[3]:<{widths[3]}}"]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    return "\n".join(lines)
