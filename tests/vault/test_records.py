"""Records in the vault: stored once per idempotency key, sealed per person, revoked by their owner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from audit.clock import FrozenClock
from audit.entries import AuditEntry
from audit.tags import Tag
from audit.tx import AccessContext
from consent import entry
from gateway.runtime import Runtime
from tests.conftest import NOW, People, new_record, penalty
from vault import _crypto, _records
from vault.errors import RecordConflict, RecordNotFound
from vault.models import Record
from vault.types import Ingested, NewRecord, Prepared, Provider

GENERAL = "ADMINISTRATIVE_PENALTY_GENERAL"
MINOR = "ADMINISTRATIVE_PENALTY_MINOR"
TODAY = NOW.date()
PROVIDER = Provider("prov_a", frozenset({GENERAL, MINOR}), "any_competent_authority")
OTHER = Provider("prov_b", frozenset({GENERAL, MINOR}), "any_competent_authority")


def access(provider: Provider = PROVIDER) -> AccessContext:
    return AccessContext(actor=provider.client_id, role="provider", request_id="req-1")


def prepare(rt: Runtime, record: NewRecord, provider: Provider = PROVIDER, today: date = TODAY) -> Prepared:
    return entry.prepare(rt.catalogue, rt.vault.fingerprint, provider, record, today)


def ingest(rt: Runtime, batch: Sequence[Prepared], provider: Provider = PROVIDER) -> list[Ingested]:
    with rt.uow.begin(access(provider)) as tx:
        return rt.vault.ingest(tx, provider, batch)


def stored(rt: Runtime) -> list[Record]:
    with rt.sessions() as session, session.begin():
        return list(session.execute(select(Record).order_by(Record.created_at, Record.id)).scalars())


def audit_actions(session: Session) -> list[str]:
    return list(session.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


# --- display periods ----------------------------------------------------------------------------


def test_a_general_penalty_is_displayed_for_one_year_from_the_decision(rt: Runtime, people: People) -> None:
    [result] = ingest(rt, [prepare(rt, new_record(people.new(), decided=date(2026, 10, 1)))])
    assert (result.display_from, result.display_until) == (date(2026, 10, 1), date(2027, 10, 1))
    [row] = stored(rt)
    assert (row.display_from, row.display_until) == (date(2026, 10, 1), date(2027, 10, 1))


def test_a_general_penalty_decided_on_a_leap_day_ends_on_the_last_of_february(rt: Runtime, people: People) -> None:
    [result] = ingest(rt, [prepare(rt, new_record(people.new(), decided=date(2024, 2, 29)))])
    assert result.display_until == date(2025, 2, 28)


def test_a_minor_penalty_is_displayed_for_three_months_clamped_to_the_month_end(
    rt: Runtime, people: People, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    decided = date(2026, 11, 30)
    prepared = prepare(rt, new_record(people.new(), category=MINOR, decided=decided), today=clock.now().date())
    [result] = ingest(rt, [prepared])
    assert (result.display_from, result.display_until) == (decided, date(2027, 2, 28))
    [row] = stored(rt)
    assert row.display_until == date(2027, 2, 28)
    assert row.category == MINOR


# --- ingest -------------------------------------------------------------------------------------


def test_an_ingested_record_is_sealed_and_reads_back_for_its_person(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    [result] = ingest(rt, [prepare(rt, new_record(citizen_id))])
    [row] = stored(rt)
    assert row.id == result.id
    assert row.provider_id == PROVIDER.client_id
    assert "未按规定明码标价".encode() not in row.sealed
    assert citizen_id.encode() not in row.sealed
    with rt.uow.begin(AccessContext(actor="person", role="person")) as tx:
        [view] = rt.vault.read_own(tx, rt.vault.subject_ref(citizen_id)).records
    assert view.id == result.id
    assert view.payload["violation"] == "未按规定明码标价"
    assert view.payload["fine_amount"] == "2000.00"
    assert view.document == penalty(citizen_id)["document"]


def test_a_batch_repeating_one_idempotency_key_stores_the_record_once(rt: Runtime, people: People) -> None:
    prepared = prepare(rt, new_record(people.new(), key="k-1"))
    again = prepare(rt, new_record(prepared.record.citizen_id, key="k-1"))
    results = ingest(rt, [prepared, again])
    assert results[0].id == results[1].id
    assert [r.created for r in results] == [True, False]
    assert len(stored(rt)) == 1
    with rt.sessions() as session, session.begin():
        assert audit_actions(session).count(Tag.RECORD_INGESTED) == 1


def test_a_retry_with_the_same_key_and_content_returns_the_first_record(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    [first] = ingest(rt, [prepare(rt, new_record(citizen_id, key="k-1"))])
    [retry] = ingest(rt, [prepare(rt, new_record(citizen_id, key="k-1"))])
    assert retry.id == first.id
    assert (first.created, retry.created) == (True, False)
    assert len(stored(rt)) == 1


def test_a_batch_reusing_a_key_for_different_content_is_a_conflict_and_stores_nothing(
    rt: Runtime, people: People
) -> None:
    citizen_id = people.new()
    batch = [prepare(rt, new_record(citizen_id, key="k-1")),
             prepare(rt, new_record(citizen_id, category=MINOR, key="k-1"))]
    with pytest.raises(RecordConflict):
        ingest(rt, batch)
    assert stored(rt) == []


def test_a_later_request_reusing_a_key_for_different_content_is_a_conflict(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    ingest(rt, [prepare(rt, new_record(citizen_id, key="k-1"))])
    with pytest.raises(RecordConflict):
        ingest(rt, [prepare(rt, new_record(citizen_id, decided=date(2026, 9, 30), key="k-1"))])
    assert len(stored(rt)) == 1


def test_the_same_key_from_two_providers_makes_two_records(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    [mine] = ingest(rt, [prepare(rt, new_record(citizen_id, key="k-1"))])
    [theirs] = ingest(rt, [prepare(rt, new_record(citizen_id, key="k-1"), OTHER)], OTHER)
    assert mine.id != theirs.id
    assert theirs.created
    assert len(stored(rt)) == 2


def test_records_without_keys_are_each_stored(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    results = ingest(rt, [prepare(rt, new_record(citizen_id)), prepare(rt, new_record(citizen_id))])
    assert results[0].id != results[1].id
    assert all(r.created for r in results)
    assert len(stored(rt)) == 2



def test_each_record_of_a_batch_is_sealed_with_a_nonce_of_its_own(rt: Runtime, people: People) -> None:
    # One person's records share their data key: under AES-GCM, two seals with one nonce would give both away.
    citizen_id = people.new()
    ingest(rt, [prepare(rt, new_record(citizen_id, decided=date(2026, 9, day))) for day in range(1, 21)])
    nonces = [bytes(row.sealed)[:_crypto.NONCE] for row in stored(rt)]
    assert len(nonces) == 20
    assert len(set(nonces)) == 20

def test_every_ingested_record_is_audited_with_its_provider_and_the_blind_index(rt: Runtime, people: People) -> None:
    ids = [people.new(), people.new()]
    results = ingest(rt, [prepare(rt, new_record(cid)) for cid in ids])
    with rt.sessions() as session, session.begin():
        entries = list(session.execute(
            select(AuditEntry).where(AuditEntry.action == str(Tag.RECORD_INGESTED)).order_by(AuditEntry.seq)
        ).scalars())
    assert [e.record_ids for e in entries] == [[r.id] for r in results]
    assert [e.subject_ref for e in entries] == [rt.vault.subject_ref(cid) for cid in ids]
    assert {e.actor for e in entries} == {PROVIDER.client_id}
    # A penalty decided 2026-10-01 was due 2026-10-15 (the 7th working day after it, past National Day): filed late.
    assert all(e.detail == {"category": GENERAL, "publication_due": "2026-10-15", "filed_late": True}
               for e in entries)


# --- revoke -------------------------------------------------------------------------------------


def revoke(rt: Runtime, record_id: str, provider: Provider = PROVIDER) -> Ingested:
    with rt.uow.begin(access(provider)) as tx:
        return rt.vault.revoke(tx, provider, record_id, "复议撤销")


def test_a_provider_revokes_its_own_record_which_stays_in_history(rt: Runtime, people: People) -> None:
    [result] = ingest(rt, [prepare(rt, new_record(people.new()))])
    assert revoke(rt, result.id).status == "revoked"
    [row] = stored(rt)
    assert row.status == "revoked"
    assert row.revoked_at == rt.clock.now()
    assert row.revoke_reason_ct is not None
    assert "复议撤销".encode() not in row.revoke_reason_ct


def test_revoking_another_providers_record_is_not_found_and_changes_nothing(rt: Runtime, people: People) -> None:
    [result] = ingest(rt, [prepare(rt, new_record(people.new()))])
    with pytest.raises(RecordNotFound):
        revoke(rt, result.id, OTHER)
    [row] = stored(rt)
    assert row.status == "active"
    assert row.revoked_at is None


def test_revoking_an_unknown_record_is_not_found(rt: Runtime) -> None:
    with pytest.raises(RecordNotFound):
        revoke(rt, "rec_000000000000000000000000")


def test_revoking_twice_is_a_conflict(rt: Runtime, people: People) -> None:
    [result] = ingest(rt, [prepare(rt, new_record(people.new()))])
    revoke(rt, result.id)
    with pytest.raises(RecordConflict):
        revoke(rt, result.id)


def test_a_revocation_is_audited(rt: Runtime, people: People) -> None:
    [result] = ingest(rt, [prepare(rt, new_record(people.new()))])
    revoke(rt, result.id)
    with rt.sessions() as session, session.begin():
        entry = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
        count = session.execute(select(func.count()).select_from(Record)).scalar_one()
    assert entry.action == Tag.RECORD_REVOKED
    assert entry.record_ids == [result.id]
    assert entry.actor == PROVIDER.client_id
    assert count == 1


def test_a_batch_looks_its_idempotency_keys_up_in_the_unique_index_not_by_scanning(connection: Connection) -> None:
    # A scan made each batch cost more as the table grew: the import slowed from 3,770 to 523 records/s.
    keys = [f"import:{n:048x}" for n in range(500)]
    dialect = connection.dialect.name
    statement, params = _records._existing_lookup(dialect, "prov_a", keys)
    sql = statement.text(dialect)
    if dialect == "sqlite":
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
        assert [row[3] for row in plan] == [
            "SEARCH records USING INDEX sqlite_autoindex_records_2 (provider_id=? AND idempotency_key=?)"]
    else:
        # Planned from the statistics of a near-empty table, as an import that grows the table sees them (never
        # analysed meanwhile): `idempotency_key = ANY(keys)` was then an index scan of the provider alone with the
        # keys as a filter, reading every record of the provider per batch. Each key must be searched for itself.
        plan = "\n".join(connection.exec_driver_sql(f"EXPLAIN {sql}", params).scalars())
        assert plan.startswith("Nested Loop"), plan
        assert "Index Scan using uq_records_provider_idempotency" in plan, plan
        assert "AND ((idempotency_key)::text = (k.key)::text))" in plan, plan
        assert "Filter" not in plan, plan


def test_the_dates_an_evaluation_weighs_are_read_without_contents_and_without_an_entry(
    rt: Runtime, people: People
) -> None:
    citizen_id, other = people.new(), people.new()
    kept, gone = ingest(rt, [prepare(rt, new_record(citizen_id, key="a")),
                             prepare(rt, new_record(citizen_id, MINOR, key="b"))])
    ingest(rt, [prepare(rt, new_record(other, key="c"))])
    revoke(rt, gone.id)
    ref = rt.vault.subject_ref(citizen_id)
    with rt.uow.begin(access()) as tx:
        before = tx.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        found = rt.vault.record_dates(tx, ref, {GENERAL, MINOR})
        only_general = rt.vault.record_dates(tx, ref, {GENERAL})
        after = tx.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    assert after == before  # nothing sealed was opened: the release the dates serve is what is recorded
    assert {(d.id, d.status) for d in found} == {(kept.id, "active"), (gone.id, "revoked")}
    assert [d.id for d in only_general] == [kept.id]
    [dates] = only_general
    assert (dates.decided_at, dates.display_until, dates.period_source, dates.repaired_at) == (
        date(2026, 10, 1), date(2027, 10, 1), "catalogue", None)
    assert not hasattr(dates, "payload")


def test_record_ids_of_a_batch_share_a_random_prefix_and_keep_80_random_bits_each() -> None:
    first, second = _records.new_record_ids(500), _records.new_record_ids(500)
    for ids in (first, second):
        assert len(set(ids)) == 500
        assert all(len(i) == 32 and i.startswith("rec_") and int(i[4:], 16) >= 0 for i in ids)
        assert len({i[:12] for i in ids}) == 1  # neighbours in the primary key's index
        assert len({i[12:] for i in ids}) == 500
    assert first[0][:12] != second[0][:12]  # 32 random bits: a clash is a one in four billion chance
    assert len(_records.new_record_id()) == 32
