"""Audit entries: gapless numbers, leaf hashes over canonical JSON, and no access without its entry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from audit import entries as audit
from audit.clock import FrozenClock
from audit.entries import AuditEntry, EntryDraft, canonical_json, stored_document
from audit.errors import AuditAppendFailed
from audit.tags import Outcome, Tag
from audit.tx import AccessContext
from consent import entry
from gateway.runtime import Runtime
from tests.conftest import NOW, People, penalty
from vault.models import Record
from vault.types import Document, NewRecord, Prepared, Provider


class Boom(Exception):
    """Raised by a test to roll a transaction back."""


def draft(actor: str = "inst_1", **changes: Any) -> EntryDraft:
    fields: dict[str, Any] = {"actor": actor, "role": "institution", "action": Tag.QUERY_RELEASED, **changes}
    return EntryDraft(**fields)


def counter(session: Session) -> int:
    return int(session.execute(text("SELECT last_seq FROM audit_counter WHERE id = 1")).scalar_one())


def seqs(session: Session) -> list[int]:
    return list(session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars())


def state(rt: Runtime) -> tuple[int, list[int]]:
    with rt.sessions() as session, session.begin():
        return counter(session), seqs(session)


def append(rt: Runtime, *drafts: EntryDraft) -> list[int]:
    with rt.sessions() as session, session.begin():
        return audit.append_many(session, rt.clock, drafts)


# --- sequence numbers ---------------------------------------------------------------------------


def test_the_log_is_numbered_from_one_and_the_next_entry_takes_the_next_number(rt: Runtime) -> None:
    base, existing = state(rt)
    assert existing == list(range(1, base + 1))
    with rt.sessions() as session, session.begin():
        assert audit.append(session, rt.clock, draft()) == base + 1


def test_sequence_numbers_over_many_transactions_are_gapless(rt: Runtime) -> None:
    base, _ = state(rt)
    got = [n for i in range(5) for n in append(rt, draft(f"inst_{i}"))]
    assert got == list(range(base + 1, base + 6))
    assert state(rt) == (base + 5, list(range(1, base + 6)))


def test_append_many_allocates_consecutive_numbers_in_order(rt: Runtime) -> None:
    base, _ = state(rt)
    assert append(rt, draft("a"), draft("b"), draft("c")) == [base + 1, base + 2, base + 3]
    assert append(rt, draft("d")) == [base + 4]
    with rt.sessions() as session, session.begin():
        rows = session.execute(select(AuditEntry).where(AuditEntry.seq > base).order_by(AuditEntry.seq)).scalars()
        assert [(r.seq, r.actor) for r in rows] == [(base + 1, "a"), (base + 2, "b"), (base + 3, "c"), (base + 4, "d")]


def test_appending_nothing_takes_no_number(rt: Runtime) -> None:
    before = state(rt)
    assert append(rt) == []
    assert state(rt) == before


def _append_in_savepoint_then_fail(session: Session, rt: Runtime, expected: list[int]) -> None:
    with session.begin_nested():
        assert audit.append_many(session, rt.clock, [draft("gone"), draft("gone")]) == expected
        raise Boom


def _append_then_fail(rt: Runtime) -> None:
    with rt.sessions() as session, session.begin():
        audit.append(session, rt.clock, draft("rolled back"))
        raise Boom


def test_a_rolled_back_savepoint_gives_its_numbers_back(rt: Runtime) -> None:
    with rt.sessions() as session, session.begin():
        base = counter(session)
        with pytest.raises(Boom):
            _append_in_savepoint_then_fail(session, rt, expected=[base + 1, base + 2])
        assert counter(session) == base
        assert audit.append(session, rt.clock, draft("kept")) == base + 1
    with rt.sessions() as session, session.begin():
        assert seqs(session) == list(range(1, base + 2))
        assert session.execute(select(AuditEntry.actor).where(AuditEntry.seq == base + 1)).scalar_one() == "kept"


def test_a_rolled_back_transaction_gives_its_numbers_back_and_leaves_no_gap(rt: Runtime) -> None:
    base, _ = state(rt)
    append(rt, draft("first"))
    with pytest.raises(Boom):
        _append_then_fail(rt)
    assert append(rt, draft("second")) == [base + 2]
    with rt.sessions() as session, session.begin():
        actors = session.execute(select(AuditEntry.actor).where(AuditEntry.seq > base).order_by(AuditEntry.seq))
        assert list(actors.scalars()) == ["first", "second"]
        assert seqs(session) == list(range(1, base + 3))


# --- leaf hashes and canonical JSON -------------------------------------------------------------


def test_the_leaf_hash_is_sha256_of_a_zero_byte_and_the_canonical_json_of_the_stored_row(
    rt: Runtime, clock: FrozenClock
) -> None:
    clock.set(NOW + timedelta(microseconds=123457))
    append(
        rt,
        draft(),
        draft("operator", role="operator", action=Tag.SUBJECT_SHREDDED, subject_ref="a" * 64, purpose="erasure",
              basis="个人信息删除请求", record_ids=["rec_1", "rec_2"], reason=None, request_id="req-9",
              detail={"说明": "依申请删除", "n": 2, "nested": {"z": [1, None, True], "a": "x"}}),
        draft("inst_2", outcome=Outcome.DENIED, reason="consent_expired", detail={}),
    )
    with rt.sessions() as session, session.begin():
        rows = list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
    assert rows
    for row in rows:
        document = stored_document(row)
        independent = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        assert row.leaf_hash == hashlib.sha256(b"\x00" + independent).digest()
        assert row.leaf_hash == hashlib.sha256(b"\x00" + canonical_json(document)).digest()


def test_the_stored_row_rebuilds_exactly_the_document_that_was_hashed(rt: Runtime, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 11, 22, 10, 30, 0, 999999, tzinfo=timezone(timedelta(hours=8))))
    entry = draft(subject_ref="b" * 64, record_ids=["rec_9"], detail={"类别": "行政处罚"})
    [seq] = append(rt, entry)
    with rt.sessions() as session, session.begin():
        row = session.execute(select(AuditEntry).where(AuditEntry.seq == seq)).scalar_one()
    expected = audit.entry_document(seq, clock.now(), entry)
    assert stored_document(row) == expected
    assert expected["at"] == "2026-11-22T02:30:00.999999Z"
    assert row.leaf_hash == audit.leaf_hash_of(expected)


def test_a_changed_stored_field_no_longer_matches_its_leaf_hash(rt: Runtime) -> None:
    [seq] = append(rt, draft(purpose="employment_screening"))
    with rt.sessions() as session, session.begin():
        row = session.execute(select(AuditEntry).where(AuditEntry.seq == seq)).scalar_one()
        row.purpose = "tenancy_screening"
        assert row.leaf_hash != audit.leaf_hash_of(stored_document(row))


def test_canonical_json_sorts_keys_at_every_depth_and_leaves_out_spaces() -> None:
    value = {"b": 1, "a": {"d": [3, {"y": 1, "x": 2}], "c": None}}
    assert canonical_json(value) == b'{"a":{"c":null,"d":[3,{"x":2,"y":1}]},"b":1}'


def test_canonical_json_writes_chinese_as_utf8_not_escapes() -> None:
    encoded = canonical_json({"说明": "信用"})
    assert encoded == '{"说明":"信用"}'.encode()
    assert b"\\u" not in encoded


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=50)
@given(st.dictionaries(st.text(max_size=4), json_values, max_size=4))
def test_canonical_json_depends_on_content_not_key_order_and_parses_back(value: dict[str, Any]) -> None:
    reordered = dict(reversed(list(value.items())))
    encoded = canonical_json(value)
    assert canonical_json(reordered) == encoded
    assert json.loads(encoded.decode("utf-8")) == value
    assert not encoded.startswith(b"{ ")


# --- failures -----------------------------------------------------------------------------------


@contextmanager
def _failing(connection: Connection, statement: str, error: str) -> Iterator[None]:
    """Make every statement on the test's connection that contains `statement` fail as the database would.

    At the connection, not the session: the append may execute through either.
    """
    def fail(conn: Connection, cursor: Any, sql: str, *args: Any) -> None:
        if statement in sql:
            raise OperationalError(sql, {}, Exception(error))

    event.listen(connection, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(connection, "before_cursor_execute", fail)


def _failing_inserts(connection: Connection) -> AbstractContextManager[None]:
    return _failing(connection, "INSERT INTO audit_entries", "disk I/O error")


def test_a_failing_insert_raises_append_failed_and_nothing_is_written(rt: Runtime, connection: Connection) -> None:
    before = state(rt)
    with (_failing_inserts(connection), rt.sessions() as session,
          pytest.raises(AuditAppendFailed) as caught, session.begin()):
        audit.append(session, rt.clock, draft())
    assert isinstance(caught.value.__cause__, SQLAlchemyError)
    assert state(rt) == before


def test_any_database_error_from_the_session_raises_append_failed(rt: Runtime, connection: Connection) -> None:
    before = state(rt)
    with (_failing(connection, "audit_", "database is locked"), rt.sessions() as session,
          pytest.raises(AuditAppendFailed), session.begin()):
        audit.append_many(session, rt.clock, [draft(), draft()])
    assert state(rt) == before


def _append_after(rt: Runtime, breakage: str) -> None:
    with rt.sessions() as session, session.begin():
        session.execute(text(breakage))
        audit.append(session, rt.clock, draft())


def test_a_missing_entries_table_raises_append_failed_and_nothing_is_written(rt: Runtime) -> None:
    before = state(rt)
    with pytest.raises(AuditAppendFailed):
        _append_after(rt, "ALTER TABLE audit_entries RENAME TO audit_entries_gone")
    assert state(rt) == before


def test_a_missing_counter_row_raises_append_failed_and_nothing_is_written(rt: Runtime) -> None:
    before = state(rt)
    with pytest.raises(AuditAppendFailed):
        _append_after(rt, "DELETE FROM audit_counter")
    assert state(rt) == before


def _ingest(rt: Runtime, provider: Provider, prepared: Prepared) -> None:
    with rt.uow.begin(AccessContext(actor=provider.client_id, role="provider")) as tx:
        rt.vault.ingest(tx, provider, [prepared])


def test_a_record_whose_audit_entry_cannot_be_written_is_not_stored(
    rt: Runtime, people: People, connection: Connection
) -> None:
    body = penalty(people.new())
    doc = body["document"]
    record = NewRecord(body["citizen_id"], body["name"], body["category"], date(2026, 10, 1),
                       Document(doc["type"], doc["number"], doc["authority"], date(2026, 10, 1)), body["payload"])
    provider = Provider("prov_a", frozenset({body["category"]}), "any_competent_authority")
    prepared = entry.prepare(rt.catalogue, rt.vault.fingerprint, provider, record, NOW.date())
    before = state(rt)
    with _failing_inserts(connection), pytest.raises(AuditAppendFailed):
        _ingest(rt, provider, prepared)
    assert state(rt) == before
    with rt.sessions() as session, session.begin():
        assert session.execute(select(func.count()).select_from(Record)).scalar_one() == 0


def test_an_overlong_reason_is_clipped_rather_than_failing_the_append(rt: Runtime) -> None:
    with rt.sessions() as session, session.begin():
        draft = EntryDraft(actor="a", role="provider", action=Tag.RECORD_INGEST_DENIED, outcome=Outcome.DENIED,
                           reason="x" * 500)
        seq = audit.append(session, rt.clock, draft)
        stored = session.get(audit.AuditEntry, seq)
        assert stored is not None
        assert stored.reason is not None
        assert len(stored.reason) == audit.REASON_LENGTH
        assert stored.reason.endswith("…")


def test_who_looked_reads_the_persons_queries_through_the_index_that_holds_only_queries(
        connection: Connection) -> None:
    # The person's view of who looked runs on every self report: it must not read the rest of their log (their
    # own reports above all), which grows with every visit. The planner shows which index it reads.
    statement = audit._QUERIES_ABOUT.sqlite  # :name parameters, as text() takes them on both backends
    params = {"subject_ref": "ref", "since": datetime(2025, 1, 1), "limit": 1000}
    if connection.dialect.name == "sqlite":
        plan = " ".join(str(row[-1]) for row in connection.execute(text("EXPLAIN QUERY PLAN " + statement), params))
    else:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a small table is read whole otherwise
        plan = " ".join(row[0] for row in connection.execute(text("EXPLAIN " + statement), params))
    assert "ix_audit_entries_queries_subject_ref_seq" in plan, plan


def test_who_looked_asks_with_the_statement_that_names_the_query_actions(rt: Runtime) -> None:
    # The statement the plan test reads is the one the person's view of who looked sends.
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    with rt.sessions() as session, session.begin():
        event.listen(session.connection(), "before_cursor_execute", record)
        audit.for_subject(session, "ref", audit.QUERY_ACTIONS, datetime(2025, 1, 1, tzinfo=UTC))
    assert [s for s in seen if "audit_entries" in s] == [audit._QUERIES_ABOUT.text(rt.engine.dialect.name)]
    assert "'consent:query:released', 'consent:query:denied'" in audit._QUERIES_ABOUT.sqlite


def test_the_index_of_queries_is_the_one_the_migration_makes() -> None:
    from importlib import import_module

    migration = import_module("gateway.migrations.versions.0019_who_looked_index")
    assert migration.WHERE == audit.QUERIES_WHERE
    assert audit.QUERY_ACTIONS == (Tag.QUERY_RELEASED, Tag.QUERY_DENIED)
