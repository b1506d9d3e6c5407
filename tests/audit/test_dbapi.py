"""Statements on the driver's cursor behave as SQLAlchemy's would: seen, wrapped, stored alike."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from audit import dbapi
from audit import entries as audit
from audit.clock import FrozenClock
from audit.entries import AuditCounter, AuditEntry, EntryDraft, leaf_hash_of, stored_document
from audit.errors import AuditAppendFailed
from audit.tags import Tag
from gateway.runtime import Runtime

_COUNT = dbapi.Statement("SELECT count(*) FROM audit_entries WHERE actor = :actor")


def test_a_statement_on_the_drivers_cursor_is_seen_by_the_connections_listeners(connection: Connection) -> None:
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", listen)
    try:
        assert dbapi.execute(connection, _COUNT, {"actor": "nobody"}) == [(0,)]
    finally:
        event.remove(connection, "before_cursor_execute", listen)
    assert seen == [(_COUNT.text(connection.dialect.name), {"actor": "nobody"})]


def test_a_driver_error_is_raised_as_sqlalchemys_error_for_it(rt: Runtime, connection: Connection) -> None:
    with rt.sessions() as session, session.begin():
        audit.append(session, rt.clock, EntryDraft(actor="inst_1", role="institution", action=Tag.QUERY_RELEASED))
    # The counter set back: the next append's number is taken, and the driver refuses the duplicate key.
    with rt.sessions() as session, session.begin():
        session.execute(update(AuditCounter).values(last_seq=AuditCounter.last_seq - 1))
    with pytest.raises(AuditAppendFailed) as caught, rt.sessions() as session, session.begin():
        audit.append(session, rt.clock, EntryDraft(actor="inst_2", role="institution", action=Tag.QUERY_RELEASED))
    assert isinstance(caught.value.__cause__, IntegrityError)


@pytest.mark.parametrize("at", [datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
                                datetime(2026, 11, 27, 8, 0, 0, 1, tzinfo=UTC), datetime(9999, 1, 2, tzinfo=UTC)])
def test_an_entry_appended_on_the_drivers_cursor_reads_back_through_sqlalchemy_as_written(
        rt: Runtime, clock: FrozenClock, at: datetime) -> None:
    clock.set(at)
    drafted = EntryDraft(actor="inst_1", role="institution", action=Tag.QUERY_RELEASED, subject_ref="ref",
                         record_ids=["r_1", "r_2"], detail={"fields": {"A": ["b"]}, "名": "值"})
    with rt.sessions() as session, session.begin():
        seq = audit.append(session, clock, drafted)
    with rt.sessions() as session, session.begin():
        row = session.execute(select(AuditEntry).where(AuditEntry.seq == seq)).scalar_one()
        assert row.at == at
        assert row.record_ids == ["r_1", "r_2"]
        assert row.detail == {"fields": {"A": ["b"]}, "名": "值"}
        assert row.leaf_hash == leaf_hash_of(stored_document(row))
        # And SQLAlchemy finds it by its time, compared as the column is stored.
        assert session.execute(select(AuditEntry.seq).where(AuditEntry.at == at)).scalars().all() == [seq]


def test_driver_values_of_dates_and_times_read_as_sqlalchemy_reads_them() -> None:
    assert dbapi.read_time("2026-11-27 08:00:00.000001") == datetime(2026, 11, 27, 8, 0, 0, 1, tzinfo=UTC)
    assert dbapi.read_time(datetime(2026, 11, 27, 8)) == datetime(2026, 11, 27, 8, tzinfo=UTC)
    assert dbapi.read_time(None) is None
    assert dbapi.read_date("0999-01-02") == date(999, 1, 2)
    assert dbapi.read_date(date(2026, 1, 2)) == date(2026, 1, 2)
    assert dbapi.sqlite_time(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02 03:04:05.000000"
    with pytest.raises(ValueError, match="NULL"):
        dbapi.to_time(None)  # type: ignore[arg-type]


def test_an_in_list_is_expanded_to_one_parameter_per_value() -> None:
    statement = dbapi.expanded("SELECT 1 WHERE x IN ({xs})", xs=3)
    assert statement.sqlite == "SELECT 1 WHERE x IN (:xs_0, :xs_1, :xs_2)"
    assert statement.postgresql == "SELECT 1 WHERE x IN (%(xs_0)s, %(xs_1)s, %(xs_2)s)"
    assert dbapi.listed("xs", ["a", "b", "c"]) == {"xs_0": "a", "xs_1": "b", "xs_2": "c"}
    assert dbapi.Statement("SELECT '100%' WHERE a::text = :a").postgresql == "SELECT '100%%' WHERE a::text = %(a)s"


def test_many_rows_are_bound_by_name_whatever_the_order_of_their_keys(connection: Connection) -> None:
    connection.execute(text("CREATE TEMPORARY TABLE bound (a VARCHAR(10), b INTEGER, c VARCHAR(10))"))
    insert = dbapi.Statement("INSERT INTO bound (c, a, b) VALUES (:c, :a, :b)")
    rows = [{"a": "one", "b": 1, "c": "x"}, {"b": 2, "c": "y", "a": "two", "unused": "z"}]
    assert dbapi.execute_many(connection, insert, rows) == 2
    stored = dbapi.execute(connection, dbapi.Statement("SELECT a, b, c FROM bound ORDER BY b"), {})
    assert [tuple(row) for row in stored] == [("one", 1, "x"), ("two", 2, "y")]
