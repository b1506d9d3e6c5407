"""`python -m bench.metrics_hook`: what the per-request metrics hook costs, in-process.

Times N test-client requests of GET /healthz on the real app with its metrics hook and on the same
app with the hook taken out, in alternating rounds (the machine's load drifts), and prints the
cost per request of each and the difference. `--multiprocess` runs it with PROMETHEUS_MULTIPROC_DIR
set, as `xinyong serve` does, in a child process (prometheus-client picks its storage at import).
The test client adds its own cost to both sides, so the difference is the hook's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import Flask


def _apps(home: Path) -> tuple[Flask, Flask]:
    from gateway.config import Settings
    from gateway.database import make_engine, upgrade
    from gateway.runtime import build_runtime
    from gateway.web import metrics
    from gateway.web.app import create_app
    from vault.vault import Vault

    engine = make_engine(f"sqlite:///{home / 'xinyong.db'}")
    upgrade(engine)
    settings = Settings(home=home, database_url=str(engine.url), keyring_path=home / "keyring.json")
    vault = Vault.generate()
    with_hook = create_app({"TESTING": True}, runtime=build_runtime(settings, engine=engine, vault=vault))
    real = metrics.timed
    try:
        metrics.timed = lambda wsgi_app: wsgi_app
        without = create_app({"TESTING": True}, runtime=build_runtime(settings, engine=engine, vault=vault))
    finally:
        metrics.timed = real
    return with_hook, without


def _per_request(app: Flask, n: int) -> float:
    client = app.test_client()
    started = time.perf_counter()
    for _ in range(n):
        client.get("/healthz")
    return (time.perf_counter() - started) / n


def hook_alone(n: int) -> float:
    """Return the seconds per request the WSGI wrapper adds around an app that answers at once (its one
    after_request hook, two context lookups of under a microsecond each, is not in this number)."""
    from werkzeug.test import EnvironBuilder

    from gateway.web.metrics import RULE, timed

    environ = EnvironBuilder(path="/healthz").get_environ()
    environ[RULE] = "/healthz"  # what the app's after_request hook leaves there (not timed here)

    def bare(_environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"{}"]

    def start(_status: str, _headers: list[tuple[str, str]], _exc_info: Any = None) -> Any:
        return None

    wrapped = timed(bare)
    timings = []
    apps: list[Any] = [bare, wrapped, bare, wrapped]
    for app in apps:
        started = time.perf_counter()
        for _ in range(n):
            app(environ, start)
        timings.append((time.perf_counter() - started) / n)
    return min(timings[1], timings[3]) - min(timings[0], timings[2])


def measure(requests: int, rounds: int) -> tuple[float, float, float]:
    """Return the median seconds per request with the hook and without it."""
    with tempfile.TemporaryDirectory() as home:
        with_hook, without = _apps(Path(home))
        _per_request(with_hook, 500)
        _per_request(without, 500)
        timed: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(rounds):
            timed["with"].append(_per_request(with_hook, requests))
            timed["without"].append(_per_request(without, requests))
        alone = min(hook_alone(requests) for _ in range(rounds))
        return statistics.median(timed["with"]), statistics.median(timed["without"]), alone


def main() -> None:
    """Print the cost per request with and without the metrics hook."""
    p = argparse.ArgumentParser(prog="python -m bench.metrics_hook", description=__doc__)
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--multiprocess", action="store_true")
    args = p.parse_args()
    if args.multiprocess and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        with tempfile.TemporaryDirectory() as files:
            argv = [sys.executable, "-m", "bench.metrics_hook", "--requests", str(args.requests),
                    "--rounds", str(args.rounds), "--multiprocess"]
            sys.exit(subprocess.run(argv, env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": files},
                                    check=False).returncode)
    with_hook, without, alone = measure(args.requests, args.rounds)
    mode = "multiprocess" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "single process"
    print(f"GET /healthz through the test client, {args.rounds} rounds of {args.requests:,} ({mode}):")
    print(f"  with the metrics hook    {with_hook * 1e6:8.1f} µs/request")
    print(f"  without                  {without * 1e6:8.1f} µs/request")
    print(f"  difference               {(with_hook - without) * 1e6:8.1f} µs/request (as noisy as the machine)")
    print(f"  the WSGI wrapper alone   {alone * 1e6:8.1f} µs/request (best of {args.rounds})")


if __name__ == "__main__":
    main()
