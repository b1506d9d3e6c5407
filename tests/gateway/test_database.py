"""PostgreSQL connections are pinged at checkout only after sitting idle, and a dead one is replaced."""

from __future__ import annotations

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
