"""An interrupted bench leaves nothing behind: neither its workspace nor its PostgreSQL database.

The bench runs as a user runs it, in its own process; it is stopped while it imports (its data file
exists), and must then delete its temporary XINYONG_HOME and drop the database it created.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bench.options import PG_ADMIN_URL
from gateway.database import make_engine
from tests.conftest import CI

REPO = Path(__file__).resolve().parents[1]
# Large enough that the import is still running a few seconds after the data file appears.
ARGS = ["--people", "20000", "--records-per-person", "5", "--only", "import", "--no-progress"]


def _start(backend: str, workdir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *ARGS, "--backends", backend, "--workdir", str(workdir)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _wait_until_importing(process: subprocess.Popen[str], workdir: Path) -> None:
    deadline = time.monotonic() + 120
    while not list(workdir.glob("xinyong-bench-*/*/records.jsonl")):
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the bench never started importing"
        time.sleep(0.1)
    time.sleep(1.0)


def _bench_databases(pid: int) -> list[str]:
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return list(conn.execute(text("SELECT datname FROM pg_database WHERE datname = :name"),
                                     {"name": f"xinyong_bench_{pid}"}).scalars())
    finally:
        admin.dispose()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_bench_stopped_by_a_signal_deletes_its_sqlite_workspace(tmp_path: Path, sig: signal.Signals) -> None:
    process = _start("sqlite", tmp_path)
    _wait_until_importing(process, tmp_path)

    process.send_signal(sig)
    output = process.communicate(timeout=60)[0]

    assert process.returncode == 128 + sig, output
    assert list(tmp_path.iterdir()) == []


def test_bench_stopped_by_sigterm_drops_its_postgresql_database(tmp_path: Path) -> None:
    try:
        _bench_databases(0)
    except OperationalError as exc:
        if CI:
            pytest.fail(f"PostgreSQL is required under CI and is not reachable: {exc.orig}")
        pytest.skip("PostgreSQL is not reachable")
    process = _start("postgresql", tmp_path)
    _wait_until_importing(process, tmp_path)
    assert _bench_databases(process.pid) == [f"xinyong_bench_{process.pid}"]

    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0]

    assert process.returncode == 128 + signal.SIGTERM, output
    assert list(tmp_path.iterdir()) == []
    assert _bench_databases(process.pid) == []
