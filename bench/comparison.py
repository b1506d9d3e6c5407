"""Rows for a product endpoint measured beside the constant endpoint: latency p50/p99 and throughput."""

from __future__ import annotations

from dataclasses import dataclass

from bench.cpu import CpuUse
from bench.load import PYTHON_NOTE, LoadResult
from bench.registry import Aim, Row
from bench.workspace import Workspace


@dataclass(frozen=True)
class Observed:
    """One server's latency (one request at a time) and throughput (concurrent connections)."""

    latency: LoadResult
    throughput: LoadResult
    statements: tuple[str, ...] = ()
    cpu: CpuUse | None = None  # where the throughput run's CPU went


def comparison_rows(label: str, ws: Workspace, generator: str, product: Observed, baseline: Observed, aim: Aim,
                    work: str = "") -> list[Row]:
    """Return `label latency p50/p99` and `label throughput` rows, each against the baseline."""
    opts = ws.options
    runs = (product.latency, product.throughput, baseline.latency, baseline.throughput)
    errors = sum(o.errors for o in runs)
    first = next((o.first_error for o in runs if o.first_error), "")
    trouble = f"; {errors} failed requests, first: {first}" if errors else ""
    sequential = f"one request at a time on 1 connection, python client, {product.latency.ok} requests"
    sequential += (f"; {work}" if work else "") + trouble
    server = f"gunicorn, {opts.workers} sync workers" if opts.server == "gunicorn" else \
        "werkzeug in the bench's process: these numbers mean nothing"
    load = f"{opts.connections} connections, {opts.throughput_seconds:g} s, {generator}, {server}{trouble}"
    if generator == "python":
        load += f" ({PYTHON_NOTE})"
    for name, seen in (("", product), ("constant app's ", baseline)):
        if seen.cpu is not None:
            load += f"; {name}{seen.cpu.describe(seen.throughput.ok)}"
    rows = [
        Row(f"{label} latency p{q}", ws.backend, "ms", product.latency.percentile(q) * 1000,
            baseline.latency.percentile(q) * 1000, lower_is_better=True, note=sequential, errors=errors)
        for q in (50, 99)
    ]
    rows.append(Row(f"{label} throughput", ws.backend, "req/s", product.throughput.rate,
                    baseline.throughput.rate, aim=aim, note=load, errors=errors))
    return rows
