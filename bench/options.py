"""How big and how long a bench run is."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("sqlite", "postgresql")
PG_ADMIN_URL = os.environ.get("XINYONG_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Options:
    """Everything a run is told; the defaults are the full-scale run."""

    people: int = 100_000
    records_per_person: int = 20
    backends: tuple[str, ...] = BACKENDS
    only: tuple[str, ...] = ()
    sample_people: int = 200
    latency_requests: int = 1000
    latency_max_seconds: float = 60.0
    throughput_seconds: float = 15.0
    connections: int = 16
    workers: int = 2
    generator: str = "auto"
    server: str = "gunicorn"
    pg_admin_url: str = PG_ADMIN_URL
    seed: int = 20261122
    workdir: Path | None = None
    progress: bool | None = None
    verbose: bool = True

    @property
    def records(self) -> int:
        """Return the number of records the data set holds."""
        return self.people * self.records_per_person


QUICK = {
    "people": 2_000,
    "records_per_person": 20,
    "sample_people": 200,
    "latency_requests": 300,
    "throughput_seconds": 5.0,
}
