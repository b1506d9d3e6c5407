"""What a measurement is, what it reports, and the list of them that `python -m bench` runs.

A later bench (the authorised query, audit appends and proofs) is one more module with a
`MEASUREMENT` and one more line in `measurements()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.workspace import Workspace


class BenchError(RuntimeError):
    """Raised when a measurement cannot be taken (wrong result, server did not start, bad responses)."""


@dataclass(frozen=True, slots=True)
class Aim:
    """A lower bound on a ratio where higher is better; `source` says where the number comes from."""

    minimum: float
    source: str = ""

    def met(self, ratio: float | None) -> bool | None:
        """Return whether `ratio` reaches the aim, or None when there is no ratio."""
        return None if ratio is None else ratio >= self.minimum

    def __str__(self) -> str:
        return f">= {self.minimum:g}"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the result table.

    `ratio` is always "higher is better": value / baseline for rates, baseline / value for
    latencies (`lower_is_better`). `errors` counts failed operations behind the numbers: a run
    with any is reported, and exits non-zero.
    """

    metric: str
    backend: str
    unit: str
    value: float
    baseline: float | None = None
    aim: Aim | None = None
    lower_is_better: bool = False
    note: str = ""
    errors: int = 0

    @property
    def ratio(self) -> float | None:
        """Return the ratio to the baseline, higher meaning closer to the baseline's speed."""
        if self.baseline is None or self.value <= 0 or self.baseline <= 0:
            return None
        return self.baseline / self.value if self.lower_is_better else self.value / self.baseline

    @property
    def met(self) -> bool | None:
        """Return whether the aim was met, or None when there is no aim."""
        return None if self.aim is None else self.aim.met(self.ratio)


@dataclass(frozen=True, slots=True)
class Measurement:
    """A named measurement: `run` takes one backend's workspace and returns its rows."""

    name: str
    summary: str
    run: Callable[[Workspace], list[Row]]


def measurements() -> dict[str, Measurement]:
    """Return every measurement by name, in the order they run (later ones may reuse earlier data)."""
    from bench import audit_log, authorised_query, import_rate, self_report

    found = [import_rate.MEASUREMENT, self_report.MEASUREMENT, authorised_query.MEASUREMENT, audit_log.MEASUREMENT]
    return {m.name: m for m in found}
