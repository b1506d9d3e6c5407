"""Run the chosen measurements on each backend, each backend in its own fresh installation."""

from __future__ import annotations

import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from bench.options import Options
from bench.registry import BenchError, Measurement, Row, measurements
from bench.workspace import open_workspace


class Stopped(BaseException):
    """Raised in the main thread when the bench is sent SIGTERM, SIGINT or SIGHUP.

    A BaseException, so that no `except Exception` in a measurement swallows it: it unwinds through
    every `finally`, which stop the servers, drop the PostgreSQL database and delete the workspace.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# The signal that asked the bench to stop. A driver may turn the Stopped raised inside one of its calls into an
# error of its own (psycopg: "cannot exit pipeline mode while busy"); the handlers below then raise it again.
STOP_SIGNAL: list[int] = []


def _stop_if_asked() -> None:
    if STOP_SIGNAL:
        raise Stopped(STOP_SIGNAL[0])


@dataclass
class Outcome:
    """The rows measured and what went wrong; `ok` is False after any failure or failed request."""

    rows: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether everything ran without an error (aims do not count)."""
        return not self.failures and not any(r.errors for r in self.rows)


def select(names: tuple[str, ...]) -> list[Measurement]:
    """Return the named measurements in registry order (all when `names` is empty); raises BenchError."""
    known = measurements()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BenchError(f"unknown measurement {', '.join(unknown)}; known: {', '.join(known)}")
    return [m for name, m in known.items() if not names or name in names]


def run(options: Options) -> Outcome:
    """Run every selected measurement on every backend and return the rows and failures."""
    chosen = select(options.only)
    log = options.verbose
    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix="xinyong-bench-", dir=options.workdir) as tmp:
        for backend in options.backends:
            try:
                with open_workspace(backend, options, Path(tmp)) as ws:
                    for measurement in chosen:
                        _say(log, f"[{backend}] {measurement.name}: {measurement.summary}")
                        started = time.perf_counter()
                        try:
                            outcome.rows.extend(measurement.run(ws))
                        except Exception as exc:  # noqa: BLE001 - reported; the other measurements still run
                            _stop_if_asked()
                            outcome.failures.append(f"{backend} {measurement.name}: {type(exc).__name__}: {exc}")
                            _say(True, traceback.format_exc())
                        _say(log, f"[{backend}] {measurement.name} done in {time.perf_counter() - started:.1f} s")
            except Exception as exc:  # noqa: BLE001 - a backend that cannot be set up is reported, the next runs
                _stop_if_asked()
                outcome.failures.append(f"{backend}: {type(exc).__name__}: {exc}")
                _say(True, traceback.format_exc())
    return outcome


def _say(log: bool, text: str) -> None:
    if log:
        print(text, file=sys.stderr, flush=True)
