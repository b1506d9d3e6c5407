"""The result table, as text for a terminal and as JSON for comparing runs."""

from __future__ import annotations

from typing import Any

from bench.registry import Row

HEADER = ("metric", "backend", "value", "baseline", "ratio", "aim", "met")


def number(value: float) -> str:
    """Return `value` with as many decimals as its size deserves."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cells(row: Row) -> tuple[str, ...]:
    """Return the row's table cells."""
    ratio = row.ratio
    met = {True: "yes", False: "NO", None: "-"}[row.met]
    return (
        row.metric,
        row.backend,
        f"{number(row.value)} {row.unit}",
        "-" if row.baseline is None else f"{number(row.baseline)} {row.unit}",
        "-" if ratio is None else f"{ratio:.3f}",
        "-" if row.aim is None else str(row.aim),
        met,
    )


def render(rows: list[Row]) -> str:
    """Return the table, then one numbered note per row and the sources of the aims."""
    body = [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in [HEADER, *body]) for i in range(len(HEADER))]

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [line(HEADER), line(tuple("-" * w for w in widths)), *(line(b) for b in body)]
    out.append("")
    out.append("ratio: higher is better (value / baseline for rates, baseline / value for latencies)")
    for index, row in enumerate(rows, start=1):
        if row.note:
            out.append(f"[{index}] {row.metric}, {row.backend}: {row.note}")
    aims = {f"aim of {r.metric}: {r.aim} ({r.aim.source})": None for r in rows if r.aim and r.aim.source}
    out.extend(aims)
    return "\n".join(out)


def as_json(rows: list[Row]) -> list[dict[str, Any]]:
    """Return the rows as plain dicts, ratio and verdict included."""
    return [{
        "metric": r.metric, "backend": r.backend, "unit": r.unit, "value": r.value, "baseline": r.baseline,
        "ratio": r.ratio, "aim": None if r.aim is None else r.aim.minimum, "met": r.met, "errors": r.errors,
        "note": r.note,
    } for r in rows]
