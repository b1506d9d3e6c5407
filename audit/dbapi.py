"""A few hot-path statements run straight on the driver's cursor, inside the caller's transaction.

SQLAlchemy Core costs tens of microseconds a statement beyond the driver's own work (execution
context, parameter and result processing, expanding IN lists), which on the authorised query and
the audit append was a fifth of a request, most of it while the write lock is held. A `Statement`
is plain SQL written once per dialect; `execute` sends it on the DBAPI cursor of the same
connection, so it is part of the same transaction (savepoints in tests included).

What stays as SQLAlchemy would do it:
- the connection's `before_cursor_execute` listeners see every statement, so tests that count or
  order a request's statements (and tests that make one fail) work unchanged (a listener registered
  with retval=True cannot rewrite these, though: none is);
- a driver error is raised as SQLAlchemy's `DBAPIError` for it (callers catch `SQLAlchemyError`:
  an audit append that fails still fails closed), and a lost connection is invalidated.

Parameters and results are the driver's own values: the caller converts them (see `sqlite_time`
for the text SQLAlchemy stores a datetime as on SQLite). Keep this for the few statements a
profile shows on the hot path; everything else goes through SQLAlchemy.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Statement:
    """One statement with `:name` parameters, in the SQL of each dialect (the same text by default)."""

    __slots__ = ("postgresql", "rows", "sqlite")

    def __init__(self, sql: str, *, postgresql: str | None = None, binary: bool = False) -> None:
        self.sqlite = " ".join(sql.split())
        # Many rows on SQLite: bound by position, each row's values taken out of its mapping in C. SQLite looks
        # each :name up in each row's dict: a batch of 500 rows of 15 columns cost 4.5 us a row that way, 2.8 by
        # position (a busy machine).
        names = _NAMED.findall(self.sqlite)
        self.rows: tuple[str, Callable[[Mapping[str, Any]], Any]] | None = (
            (_NAMED.sub("?", self.sqlite), operator.itemgetter(*names)) if len(set(names)) == len(names) > 1 else None)
        # psycopg's placeholders are %(name)s; a literal % must then be doubled. %(name)b sends the value in
        # binary (`binary`): for arrays, psycopg's text form quotes each element with a regular expression.
        pg = " ".join((sql if postgresql is None else postgresql).split()).replace("%", "%%")
        self.postgresql = _NAMED.sub(r"%(\1)b" if binary else r"%(\1)s", pg)

    def text(self, dialect: str) -> str:
        """Return the statement's SQL for the dialect ("sqlite" or "postgresql")."""
        return self.postgresql if dialect == "postgresql" else self.sqlite


def expanded(sql: str, **counts: int) -> Statement:
    """Return the statement whose `{name}` slots are IN lists of counts[name] parameters :name_0, :name_1, ...
    (give the values with `listed`). Cache the result per count: the text is made once per list length."""
    return Statement(sql.format(**{name: ", ".join(f":{name}_{i}" for i in range(count))
                                   for name, count in counts.items()}))


def listed(name: str, values: Sequence[Any]) -> dict[str, Any]:
    """Return the parameters of an IN list made by `expanded`."""
    return {f"{name}_{i}": value for i, value in enumerate(values)}


def execute(conn: Connection, statement: Statement, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Run the statement with `params` in the connection's transaction; return its rows (none: [])."""
    return _run(conn, statement, params, many=False)


def execute_many(conn: Connection, statement: Statement, rows: Sequence[Mapping[str, Any]]) -> int:
    """Run the statement once per mapping of `rows`, in the connection's transaction; return the rows it
    changed as the driver counts them (-1 where it does not)."""
    if len(rows) == 1:
        # As SQLAlchemy does: psycopg's executemany enters a pipeline.
        return int(_run(conn, statement, rows[0], many=False, count=True)[0][0])
    if rows:
        return int(_run(conn, statement, rows, many=True, count=True)[0][0])
    return 0


def insert_many(conn: Connection, statement: Statement, rows: Sequence[Mapping[str, Any]],
                columns: Statement | None = None) -> int:
    """Insert `rows` in the connection's transaction; return how many were inserted (-1: not counted).

    On PostgreSQL, `columns` (if given) inserts them all in one statement that takes each column as an array
    (`unnest`): the server plans and runs one statement instead of one per row, as psycopg's pipelined
    executemany does, which made a batch of 500 three times slower than its Python side. Elsewhere
    (SQLite, where executemany reuses one prepared statement in C) each row is sent by `statement`.
    """
    if columns is None or len(rows) < 2 or conn.dialect.name != "postgresql":
        return execute_many(conn, statement, rows)
    params = {name: [row[name] for row in rows] for name in rows[0]}
    return int(_run(conn, columns, params, many=False, count=True)[0][0])


def control(conn: Connection, statement: Statement) -> None:
    """Send a statement that opens or ends the driver's transaction (BEGIN, COMMIT): from the connection's
    `begin` event, where the connection is not yet in a transaction of its own, or to turn a SQLite
    transaction that has read into one that writes (`gateway.database.begin_writing`)."""
    _run(conn, statement, (), many=False, autobegin=False)


def _run(conn: Connection, statement: Statement, params: Any, *, many: bool,
         autobegin: bool = True, count: bool = False) -> list[tuple[Any, ...]]:
    dialect = conn.dialect
    sql = statement.text(dialect.name)
    if autobegin and not conn.in_transaction():
        conn.begin()  # as SQLAlchemy's autobegin (a session's connection has begun already)
    fairy = conn.connection
    cursor = fairy.cursor()
    try:
        if many and statement.rows is not None and dialect.name == "sqlite":
            sql, values = statement.rows
            params = list(map(values, params))
        listeners = conn.dispatch.before_cursor_execute
        if listeners:
            for listen in listeners:
                listen(conn, cursor, sql, params, None, many)
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        if count:
            return [(cursor.rowcount,)]
        return list(cursor.fetchall()) if cursor.description is not None else []
    except dialect.loaded_dbapi.Error as exc:
        disconnected = dialect.is_disconnect(exc, fairy.dbapi_connection, cursor)
        if disconnected:
            conn.invalidate(exc)
        raise DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error,
                                  hide_parameters=True, dialect=dialect,
                                  connection_invalidated=disconnected) from exc
    finally:
        cursor.close()


def sqlite_time(at: datetime) -> str:
    """Return an aware time as SQLAlchemy stores a UTC DateTime on SQLite (naive UTC, microseconds)."""
    u = at.astimezone(UTC)  # as SQLAlchemy's storage format, years before 1000 with their leading zero
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d} {u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}"


def bind_date(dialect: str, day: date | None) -> date | str | None:
    """Return a date as a Date column takes it on the dialect (SQLite: text, as SQLAlchemy stores it)."""
    if day is None or dialect != "sqlite":
        return day
    return day.isoformat()  # YYYY-MM-DD, the year zero-padded to four digits as SQLAlchemy writes it


def bind_time(dialect: str, at: datetime) -> datetime | str:
    """Return an aware time as a UTCDateTime column takes it on the dialect (naive UTC)."""
    return sqlite_time(at) if dialect == "sqlite" else at.astimezone(UTC).replace(tzinfo=None)


def read_time(value: datetime | str | None) -> datetime | None:
    """Return a UTCDateTime column's driver value (SQLite text, or a PostgreSQL datetime) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        return from_sqlite_time(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def from_sqlite_time(value: str) -> datetime:
    """Return the text SQLite holds for a UTCDateTime (naive UTC, as `sqlite_time` writes it) as aware UTC."""
    at = datetime.fromisoformat(value)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def read_date(value: date | str | None) -> date | None:
    """Return a Date column's driver value (SQLite text, or a PostgreSQL date) as a date."""
    if value is None or type(value) is date:
        return value
    assert isinstance(value, str)
    return date.fromisoformat(value)


def to_time(value: datetime | str) -> datetime:
    """Return a NOT NULL UTCDateTime column's driver value as aware UTC."""
    at = read_time(value)
    if at is None:
        raise ValueError("a NOT NULL time column held NULL")
    return at


def to_date(value: date | str) -> date:
    """Return a NOT NULL Date column's driver value as a date."""
    day = read_date(value)
    if day is None:
        raise ValueError("a NOT NULL date column held NULL")
    return day
