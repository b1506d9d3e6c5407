"""PostgreSQL connections are pinged at checkout only after sitting idle, and a dead one is replaced."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from gateway import database
from gateway.database import make_engine


@pytest.fixture
def pg(engine: Engine) -> Iterator[Engine]:
    if engine.dialect.name != "postgresql":
        pytest.skip("pooled connections are pinged on PostgreSQL; SQLite opens a file")
    own = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    yield own
    own.dispose()


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real = engine.dialect.do_ping

    def counting(dbapi_conn: Any) -> bool:
        seen.append(1)
        return bool(real(dbapi_conn))

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return seen


def test_a_connection_back_in_the_pool_a_moment_ago_is_not_pinged(
        pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _pings(pg, monkeypatch)
    first = _backend(pg)
    assert [_backend(pg) for _ in range(5)] == [first] * 5
    assert pings == [], "no round trip before each request"


def test_a_connection_that_died_while_idle_is_replaced_at_checkout(
        pg: Engine, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _pings(pg, monkeypatch)
    first = _backend(pg)
    with engine.connect() as conn:  # as a database restart or an idle timeout would
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        conn.rollback()
    monkeypatch.setattr(database, "PING_IDLE_SECONDS", 0.0)  # as if it had waited past the idle time
    second = _backend(pg)
    assert second != first
    assert len(pings) == 1


def _fill(engine: Engine, rows: int) -> None:
    """Commit `rows` rows of 4 KB each, one transaction per 10, on a connection that never checkpoints itself."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body BLOB)")
        conn.commit()
        for _ in range(rows // 10):
            conn.exec_driver_sql("INSERT INTO filler (body) SELECT randomblob(4096) FROM"
                                 " (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4"
                                 " UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8"
                                 " UNION ALL SELECT 9 UNION ALL SELECT 10)")
            conn.commit()
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint=20000")


@pytest.mark.parametrize("in_background", [True, False])
def test_a_bulk_writers_wal_is_copied_into_the_database_file_by_a_thread_of_its_own(
        tmp_path: Any, in_background: bool) -> None:
    # The writer never checkpoints here: only the background thread can move its pages into the file.
    path = tmp_path / "bulk.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        before = path.stat().st_size
        if in_background:
            with database.checkpointing(engine, every=0.02):
                _fill(engine, 500)  # ~2 MB
                time.sleep(0.2)
            assert not [t for t in threading.enumerate() if t.name == "xinyong-wal-checkpoint"]
        else:
            _fill(engine, 500)
            time.sleep(0.2)
        grown = path.stat().st_size - before
        assert (grown > 1_000_000) is in_background, grown
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM filler").scalar_one() == 500
    finally:
        engine.dispose()


def test_checkpointing_starts_no_thread_where_there_is_no_sqlite_file() -> None:
    engine = make_engine("sqlite://")
    try:
        with database.checkpointing(engine, every=0.01):
            assert not [t for t in threading.enumerate() if t.name == "xinyong-wal-checkpoint"]
    finally:
        engine.dispose()
