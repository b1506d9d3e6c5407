"""A fresh installation per backend: XINYONG_HOME in a temporary directory, its own database.

The database is created by the bench and dropped afterwards (PostgreSQL), or lives in the
temporary home (SQLite). `xinyong init` runs as a user would run it (its click command, in process).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import make_url, text

from bench.options import Options
from bench.registry import BenchError
from gateway.config import from_environ
from gateway.database import make_engine
from gateway.runtime import Runtime, build_runtime

if TYPE_CHECKING:
    from bench.dataset import Dataset

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Workspace:
    """One backend's installation, shared by the measurements that run on it."""

    backend: str
    options: Options
    home: Path
    database_url: str
    runtime: Runtime
    dataset: Dataset | None = None

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Time a step of a measurement and say how long it took on stderr (unless quiet)."""
        started = time.perf_counter()
        yield
        self.say(f"{what}: {time.perf_counter() - started:.1f} s")

    def say(self, text: str) -> None:
        """Print a line of progress on stderr (unless quiet)."""
        if self.options.verbose:
            print(f"[{self.backend}]   {text}", file=sys.stderr, flush=True)

    @property
    def env(self) -> dict[str, str]:
        """Return the environment a process of this installation runs with (development: http cookies)."""
        return server_env(self.home, self.database_url)


def server_env(home: Path, database_url: str) -> dict[str, str]:
    """Return os.environ with this installation's XINYONG_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINYONG_")}
    env.update(XINYONG_HOME=str(home), XINYONG_DATABASE_URL=database_url, XINYONG_ENV="development")
    return env


@contextmanager
def open_workspace(backend: str, options: Options, parent: Path) -> Iterator[Workspace]:
    """Yield an initialised installation on `backend`; drop its database afterwards."""
    home = parent / backend
    home.mkdir(parents=True)
    with _database(backend, options, home) as url:
        _init(home, url)
        runtime = build_runtime(from_environ(server_env(home, url)))
        try:
            yield Workspace(backend, options, home, url, runtime)
        finally:
            runtime.engine.dispose()


@contextmanager
def _database(backend: str, options: Options, home: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{home / 'xinyong.db'}"
        return
    if backend != "postgresql":
        raise BenchError(f"unknown backend {backend!r}: use sqlite or postgresql")
    name = f"xinyong_bench_{os.getpid()}"
    admin = make_engine(options.pg_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(options.pg_admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _init(home: Path, url: str) -> None:
    """Run `xinyong init` as a person setting up a machine would, in this process to save a start-up."""
    from click.testing import CliRunner

    from gateway.cli import main

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("XINYONG_")}
    env.update(server_env(home, url))
    done = CliRunner().invoke(main, ["init", "--json"], env=env)
    if done.exit_code != 0:
        raise BenchError(f"xinyong init failed ({done.exit_code}): {done.output.strip()[-2000:]}") from done.exception
