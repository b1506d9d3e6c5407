"""Reading one snapshot of the database, from this process and from worker processes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CompoundSelect, Engine, Select, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

Query = Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]
"""A statement that row_batches compiles once per dialect."""


@dataclass(frozen=True)
class Source:
    """How a worker process reads the snapshot being verified: the URL and PostgreSQL's snapshot id."""

    url: str
    snapshot: str | None = None


@contextmanager
def snapshot(url: str) -> Iterator[tuple[Connection, Source]]:
    """Yield a read-only connection inside one snapshot that holds no lock, and its Source for workers.

    On SQLite a deferred transaction (WAL readers do not block the writer), not the write lock the
    service's engine takes at BEGIN; on PostgreSQL REPEATABLE READ, exported for the workers.
    """
    engine = reader_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                exported = None
                if engine.dialect.name == "postgresql":
                    exported = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
                yield conn, Source(url, exported)
    finally:
        engine.dispose()


def reader_engine(url: str) -> Engine:
    """Return an engine of read-only connections that open their transactions as `snapshot` needs."""
    if not url.startswith("sqlite"):
        return create_engine(url, poolclass=NullPool)
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy, not the driver, opens the transaction
        dbapi_conn.execute("PRAGMA query_only=ON")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN DEFERRED")

    return engine


def row_batches(conn: Connection, statement: str | Query, batch: int, large: bool = True,
                params: Mapping[str, Any] | None = None) -> Iterator[Sequence[Any]]:
    """Yield the statement's rows in lists straight from the driver, in the connection's transaction.

    No Row objects and no type processing: at a million rows, those cost more than the checks. A
    Select must be a module's constant: it is compiled once per dialect and then run with `params`
    for its bind parameters (compiling one costs about 1 ms, and a small chunk runs several). Give
    any other statement as SQL (see `literal_sql`).
    """
    if isinstance(statement, str):
        sql, args = statement, None
    else:
        sql, order, defaults = _compiled(conn, statement)
        values = {**defaults, **(params or {})}
        args = tuple(values[name] for name in order) if conn.dialect.positional else dict(values)
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    # On PostgreSQL a named (server-side) cursor, so the rows are not all held in memory at once
    # (binary, so that hashes and times arrive without text decoding).
    if conn.dialect.name != "postgresql":
        cursor = dbapi.cursor()
    elif large:
        cursor = dbapi.cursor(name=f"xinyong_verify_{next(_CURSORS)}", binary=True)
    else:
        cursor = dbapi.cursor(binary=True)  # one round trip, for results small enough to hold at once
    try:
        if args is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, args)
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()


def literal_sql(conn: Connection, statement: Select[*tuple[Any, ...]], **params: Any) -> str:
    """Return a one-off statement's SQL with its values, and `params` for its bind parameters, written in."""
    if params:
        statement = statement.params(**params)
    return str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


_CURSORS = itertools.count()
_Compiled = tuple[str, tuple[str, ...], dict[str, Any]]
_COMPILED: dict[tuple[str, Query], _Compiled] = {}


def _compiled(conn: Connection, statement: Query) -> _Compiled:
    """Return the statement's SQL for the connection's dialect, the names of its positional parameters,
    and the values of those it holds itself."""
    key = (conn.dialect.name, statement)
    found = _COMPILED.get(key)
    if found is None:
        compiled = statement.compile(dialect=conn.dialect)
        found = _COMPILED[key] = (compiled.string, tuple(compiled.positiontup or ()), dict(compiled.params))
    return found
