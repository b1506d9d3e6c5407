"""`python -m bench`: measure Xinyong against plain baselines on SQLite and PostgreSQL.

Exits 0 when every measurement ran, whether or not it met its aim (this is a measurement, not a
test), 1 when one failed or saw failed requests, 2 on a bad command line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
from dataclasses import fields, replace
from pathlib import Path
from types import FrameType
from typing import Any

from bench import load, table
from bench.options import BACKENDS, QUICK, Options
from bench.registry import BenchError, measurements
from bench.runner import STOP_SIGNAL, Stopped, run, select


def parser() -> argparse.ArgumentParser:
    """Return the command-line parser; options left out keep the defaults (or --quick's)."""
    defaults = Options()
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help=f"small scale, for a run of a few minutes: {QUICK}")
    p.add_argument("--people", type=int, help=f"people in the data set (default {defaults.people:,})")
    p.add_argument("--records-per-person", type=int, help=f"default {defaults.records_per_person}")
    p.add_argument("--backends", type=_names, help=f"comma-separated, from {','.join(BACKENDS)} (default both)")
    p.add_argument("--only", type=_names, help=f"comma-separated measurements, from {','.join(measurements())}")
    p.add_argument("--sample-people", type=int,
                   help=f"people enrolled to log in for the self report (default {defaults.sample_people})")
    p.add_argument("--latency-requests", type=int, help=f"default {defaults.latency_requests}")
    p.add_argument("--throughput-seconds", type=float, help=f"default {defaults.throughput_seconds:g}")
    p.add_argument("--connections", type=int, help=f"concurrent connections (default {defaults.connections})")
    p.add_argument("--workers", type=int, help=f"gunicorn workers (default {defaults.workers})")
    p.add_argument("--generator", choices=["auto", "wrk", "python"],
                   help="load generator for throughput (default auto: wrk if on PATH)")
    p.add_argument("--server", choices=["gunicorn", "thread"],
                   help="gunicorn as `xinyong serve` runs it (default), or werkzeug in this process: "
                        "only to check the machinery, its numbers mean nothing")
    p.add_argument("--pg-admin-url", help="PostgreSQL URL of a database to create the bench database from")
    p.add_argument("--seed", type=int)
    p.add_argument("--workdir", type=Path, help="where the temporary XINYONG_HOMEs go (default: system temp)")
    p.add_argument("--no-progress", action="store_true", help="never show progress bars")
    p.add_argument("--json", type=Path, dest="json_path", help="also write the rows as JSON to this file")
    p.add_argument("--list", action="store_true", help="list the measurements and exit")
    return p


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def options_from(args: argparse.Namespace) -> Options:
    """Return the Options the parsed arguments ask for."""
    chosen: dict[str, Any] = dict(QUICK) if args.quick else {}
    for f in fields(Options):
        value = getattr(args, f.name, None)
        if value is not None:
            chosen[f.name] = value
    if args.no_progress:
        chosen["progress"] = False
    opts = replace(Options(), **chosen)
    unknown = [b for b in opts.backends if b not in BACKENDS]
    if unknown:
        raise BenchError(f"unknown backend {', '.join(unknown)}; known: {', '.join(BACKENDS)}")
    select(opts.only)
    return opts


def describe(opts: Options) -> str:
    """Return a line saying the scale and the machine."""
    generator = load.choose_generator(opts.generator)
    busy = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"xinyong bench: {opts.people:,} people x {opts.records_per_person} records = {opts.records:,} records; "
            f"backends {','.join(opts.backends)}; server {opts.server}, {opts.workers} workers; "
            f"throughput generator {generator}, latency generator python\n"
            f"machine: {os.cpu_count()} CPUs, load average {busy} (other work on the machine skews absolute "
            f"numbers; compare ratios), Python {platform.python_version()}")


def _stop_on_signals() -> None:
    def stop(signum: int, _frame: FrameType | None) -> None:
        # A second signal must not cut the clean-up short (a 5 GB workspace, a database left behind).
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        print(f"stopping on {signal.Signals(signum).name}: cleaning up", file=sys.stderr, flush=True)
        STOP_SIGNAL.append(signum)
        raise Stopped(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print the table; return the exit status."""
    args = parser().parse_args(argv)
    if args.list:
        for name, m in measurements().items():
            print(f"{name}: {m.summary}")
        return 0
    try:
        opts = options_from(args)
        header = describe(opts)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(header, file=sys.stderr, flush=True)
    _stop_on_signals()
    try:
        outcome = run(opts)
    except Stopped as exc:
        return 128 + exc.signum
    print(header)
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print()
    print(table.render(outcome.rows))
    if args.json_path:
        args.json_path.write_text(json.dumps(table.as_json(outcome.rows), indent=2, ensure_ascii=False))
    for failure in outcome.failures:
        print(f"FAILED: {failure}")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
