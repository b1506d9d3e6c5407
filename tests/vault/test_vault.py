"""The Vault's audited methods: each writes its entries in the caller's transaction, or nothing happens.

Every public method that stores or returns plaintext is counted here (tests/test_layers.py holds
the list): exactly how many entries, which action, about whom (the blind index, never the citizen
ID) and by whom.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import func, select, text

from audit.entries import AuditEntry, canonical_json, stored_document
from audit.errors import AuditAppendFailed
from audit.tags import Outcome, Tag
from audit.tx import AccessContext, Tx
from consent import entry
from gateway.runtime import Runtime
from tests.conftest import NOW, People, penalty
from vault.errors import DecryptionFailed
from vault.types import Document, Ingested, NewRecord, Provider, Release, Selection

GENERAL = "ADMINISTRATIVE_PENALTY_GENERAL"
PROVIDER = Provider("prov_a", frozenset({GENERAL}), "any_competent_authority")
AS_PROVIDER = AccessContext(actor="prov_a", role="provider", request_id="req-1")
AS_OPERATOR = AccessContext(actor="operator-1", role="operator")
AS_INSTITUTION = AccessContext(actor="inst_1", role="institution", purpose="employment_screening",
                               basis="cg_1", request_id="req-2")
SELECTION = Selection(fields={GENERAL: frozenset({"violation", "penalty_type"})}, shown_on=NOW.date(),
                      decided_since=date(2021, 11, 22))
DETAIL = {"consent_id": "cg_1", "report_id": "rep_1"}


def entries_written(rt: Runtime, action: Callable[[Tx], object], *, by: AccessContext) -> list[AuditEntry]:
    """Run `action` in one unit of work acting as `by`; return the audit entries it wrote, in order."""
    with rt.sessions() as session, session.begin():
        last = session.execute(select(func.coalesce(func.max(AuditEntry.seq), 0))).scalar_one()
    with rt.uow.begin(by) as tx:
        action(tx)
    with rt.sessions() as session, session.begin():
        return list(session.execute(select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq)).scalars())


def _log(rt: Runtime) -> tuple[int, int]:
    """Return (the counter, how many entries there are)."""
    with rt.sessions() as session, session.begin():
        counter = session.execute(text("SELECT last_seq FROM audit_counter WHERE id = 1")).scalar_one()
        return int(counter), session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def _about(rt: Runtime, entry: AuditEntry, citizen_id: str) -> bool:
    """Return whether the entry names the person by their blind index and nowhere by their citizen ID."""
    return (entry.subject_ref == rt.vault.subject_ref(citizen_id)
            and citizen_id not in canonical_json(stored_document(entry)).decode())


def _new_record(citizen_id: str, decided: date = date(2026, 10, 1), key: str | None = None) -> NewRecord:
    body = penalty(citizen_id, decided)
    doc = body["document"]
    return NewRecord(citizen_id, body["name"], GENERAL, decided,
                     Document(doc["type"], doc["number"], doc["authority"], date.fromisoformat(doc["effective_at"])),
                     body["payload"], key)


def _ingest(rt: Runtime, *records: NewRecord) -> list[Ingested]:
    prepared = [entry.prepare(rt.catalogue, rt.vault.fingerprint, PROVIDER, r, NOW.date()) for r in records]
    with rt.uow.begin(AS_PROVIDER) as tx:
        return rt.vault.ingest(tx, PROVIDER, prepared)


def _release(rt: Runtime, subject_ref: str, then: Callable[[Tx], object] = lambda tx: None) -> Release:
    with rt.uow.begin(AS_INSTITUTION) as tx:
        release = rt.vault.release(tx, subject_ref, SELECTION, DETAIL)
        then(tx)
        return release


def _open(rt: Runtime, subject_ref: str, report_id: str, sealed: bytes) -> bytes:
    with rt.uow.begin(AS_INSTITUTION) as tx:
        return rt.vault.open_report(tx, subject_ref, report_id, sealed)


# --- one entry per access, about the person, by the actor -----------------------------------------


def test_enrolling_a_person_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    [written] = entries_written(
        rt, lambda tx: rt.vault.enrol(tx, citizen_id, "张三", basis="in-person identity check"), by=AS_OPERATOR)
    assert written.action == Tag.SUBJECT_ENROLLED
    assert _about(rt, written, citizen_id)
    assert "张三" not in canonical_json(stored_document(written)).decode()
    assert (written.actor, written.role, written.basis) == ("operator-1", "operator", "in-person identity check")


def test_ingesting_records_writes_an_entry_each(rt: Runtime, people: People) -> None:
    alice, bob = people.new(), people.new()
    batch = [_new_record(alice, key="k-1"), _new_record(alice, date(2026, 9, 1), key="k-2"), _new_record(bob)]
    prepared = [entry.prepare(rt.catalogue, rt.vault.fingerprint, PROVIDER, r, NOW.date()) for r in batch]
    ingested: list[Ingested] = []
    written = entries_written(rt, lambda tx: ingested.extend(rt.vault.ingest(tx, PROVIDER, prepared)), by=AS_PROVIDER)
    assert [e.action for e in written] == [Tag.RECORD_INGESTED] * 3
    assert [e.record_ids for e in written] == [[r.id] for r in ingested]
    assert [_about(rt, e, cid) for e, cid in zip(written, [alice, alice, bob], strict=True)] == [True] * 3
    assert {(e.actor, e.role) for e in written} == {("prov_a", "provider")}
    # A retry stores nothing new, so it records nothing new.
    assert entries_written(rt, lambda tx: rt.vault.ingest(tx, PROVIDER, prepared[:2]), by=AS_PROVIDER) == []


def test_revoking_a_record_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    [record] = _ingest(rt, _new_record(citizen_id))
    [written] = entries_written(rt, lambda tx: rt.vault.revoke(tx, PROVIDER, record.id, "复议撤销"), by=AS_PROVIDER)
    assert written.action == Tag.RECORD_REVOKED
    assert _about(rt, written, citizen_id)
    assert written.record_ids == [record.id]
    assert written.actor == "prov_a"
    assert "复议撤销" not in canonical_json(stored_document(written)).decode()  # the reason is sealed


def test_changing_a_records_period_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    [record] = _ingest(rt, _new_record(citizen_id))
    decision = Document("display_period_decision", "常市监决〔2026〕7号", "常州市市场监督管理局", date(2026, 11, 20))

    def change(tx: Tx) -> Ingested:
        state = rt.vault.period_state(tx, PROVIDER, record.id)
        return rt.vault.change_period(tx, PROVIDER, state, "ended", date(2026, 11, 22), decision)

    [written] = entries_written(rt, change, by=AS_PROVIDER)
    assert written.action == Tag.RECORD_PERIOD_CHANGED
    assert _about(rt, written, citizen_id)
    assert written.record_ids == [record.id]
    assert written.detail == {"category": GENERAL, "change": "ended", "version": 2, "display_until": "2026-11-22",
                              "previous_until": "2027-10-01"}
    assert "常市监决" not in canonical_json(stored_document(written)).decode()  # the document is sealed


def test_reapplying_periods_writes_one_entry_per_record_changed(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    longer, same = _ingest(rt, _new_record(citizen_id), _new_record(citizen_id, date(2026, 9, 1)))

    def rule(category: str, decided: date, payload: dict[str, object]) -> tuple[date | None, str]:
        return (None, "rule") if decided == date(2026, 10, 1) else (date(2027, 9, 1), "catalogue")

    [written] = entries_written(rt, lambda tx: rt.vault.reapply_periods(tx, [GENERAL], rule),
                                by=AccessContext(actor="operator", role="operator"))
    assert written.action == Tag.RECORD_PERIOD_CHANGED
    assert written.record_ids == [longer.id]
    assert written.detail == {"category": GENERAL, "change": "rule", "previous_until": "2027-10-01",
                              "display_until": None}
    assert same.id not in written.record_ids


def test_reading_ones_own_file_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    records = _ingest(rt, _new_record(citizen_id), _new_record(citizen_id, date(2026, 9, 1)))
    ref = rt.vault.subject_ref(citizen_id)
    [written] = entries_written(rt, lambda tx: rt.vault.read_own(tx, ref), by=AccessContext(actor=ref, role="person"))
    assert written.action == Tag.REPORT_SELF
    assert _about(rt, written, citizen_id)
    assert sorted(written.record_ids) == sorted(r.id for r in records)
    assert (written.actor, written.role) == (ref, "person")


def test_a_release_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    [record] = _ingest(rt, _new_record(citizen_id))
    ref = rt.vault.subject_ref(citizen_id)
    released: list[Release] = []
    [written] = entries_written(
        rt, lambda tx: released.append(rt.vault.release(tx, ref, SELECTION, DETAIL)), by=AS_INSTITUTION)
    assert written.action == Tag.QUERY_RELEASED
    assert _about(rt, written, citizen_id)
    assert written.record_ids == [record.id]
    assert (written.actor, written.role, written.purpose, written.basis) == (
        "inst_1", "institution", "employment_screening", "cg_1")
    assert written.detail == DETAIL
    [release] = released
    assert [set(r.fields) for r in release.records] == [{"violation", "penalty_type"}]
    assert release.masked_citizen_id != citizen_id


def test_opening_a_sealed_report_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    _ingest(rt, _new_record(citizen_id))
    ref = rt.vault.subject_ref(citizen_id)
    sealed = _release(rt, ref).seal_for_subject("rep_1", b'{"report": "rep_1"}')
    [written] = entries_written(rt, lambda tx: rt.vault.open_report(tx, ref, "rep_1", sealed), by=AS_INSTITUTION)
    assert written.action == Tag.REPORT_RETRIEVED
    assert _about(rt, written, citizen_id)
    assert written.detail == {"report_id": "rep_1"}
    assert (written.actor, written.outcome) == ("inst_1", Outcome.ALLOWED)


def test_shredding_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    _ingest(rt, _new_record(citizen_id))
    ref = rt.vault.subject_ref(citizen_id)
    erasure = AccessContext(actor="operator-1", role="operator", basis="erasure request 42")
    [written] = entries_written(rt, lambda tx: rt.vault.shred(tx, ref), by=erasure)
    assert written.action == Tag.SUBJECT_SHREDDED
    assert _about(rt, written, citizen_id)
    assert (written.actor, written.basis) == ("operator-1", "erasure request 42")


def test_expiring_writes_one_entry_per_record_made_a_tombstone(rt: Runtime, people: People) -> None:
    old, kept = people.new(), people.new()
    [gone] = _ingest(rt, _new_record(old, date(2019, 3, 1)))  # shown to 2020-03-01
    _ingest(rt, _new_record(kept, date(2021, 3, 1)))  # shown to 2022-03-01
    bounds = {GENERAL: date(2021, 11, 22)}  # displays ended by then are past retention
    written = entries_written(rt, lambda tx: rt.vault.expire(tx, bounds, lambda code: f"retention of {code}", 10),
                              by=AS_OPERATOR)
    assert [(e.action, list(e.record_ids)) for e in written] == [(Tag.RECORD_ERASED, [gone.id])]
    assert _about(rt, written[0], old)
    assert written[0].detail == {"category": GENERAL, "display_ended": "2020-03-01",
                                 "basis": f"retention of {GENERAL}"}
    assert entries_written(rt, lambda tx: rt.vault.expire(tx, bounds, str, 10), by=AS_OPERATOR) == []


def test_erasing_a_person_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    [first, second] = _ingest(rt, _new_record(citizen_id), _new_record(citizen_id, date(2026, 9, 1)))
    ref = rt.vault.subject_ref(citizen_id)
    erasure = AccessContext(actor="operator-1", role="operator", basis="court order (2026) 7")
    [written] = entries_written(rt, lambda tx: rt.vault.erase_subject(tx, ref), by=erasure)
    assert written.action == Tag.SUBJECT_ERASED
    assert _about(rt, written, citizen_id)
    assert sorted(written.record_ids) == sorted([first.id, second.id])
    assert (written.actor, written.basis, written.detail) == (
        "operator-1", "court order (2026) 7", {"records": 2, "categories": {GENERAL: 2}})


# --- fail closed, and reports sealed for their person --------------------------------------------


def _lose_the_log(tx: Tx) -> None:
    tx.session.execute(text("ALTER TABLE audit_entries RENAME TO audit_entries_gone"))


def test_a_release_whose_entry_cannot_be_written_returns_nothing_and_writes_nothing(
    rt: Runtime, people: People
) -> None:
    citizen_id = people.new()
    _ingest(rt, _new_record(citizen_id))
    ref = rt.vault.subject_ref(citizen_id)
    before = _log(rt)
    returned: list[Release] = []
    with pytest.raises(AuditAppendFailed):
        returned.append(_release(rt, ref, then=_lose_the_log))
    assert returned == []
    assert _log(rt) == before
    # Rolled back whole, the log takes the next release at the very next number.
    [written] = entries_written(rt, lambda tx: rt.vault.release(tx, ref, SELECTION, DETAIL), by=AS_INSTITUTION)
    assert written.seq == before[0] + 1


def test_a_report_sealed_for_a_person_opens_for_that_person_and_that_report_only(
    rt: Runtime, people: People
) -> None:
    alice, bob = people.new(), people.new()
    _ingest(rt, _new_record(alice), _new_record(bob))
    alice_ref, bob_ref = rt.vault.subject_ref(alice), rt.vault.subject_ref(bob)
    report = '{"violation": "未按规定明码标价"}'.encode()
    sealed = _release(rt, alice_ref).seal_for_subject("rep_1", report)
    assert report not in sealed
    assert _open(rt, alice_ref, "rep_1", sealed) == report
    with pytest.raises(DecryptionFailed):
        _open(rt, bob_ref, "rep_1", sealed)
    with pytest.raises(DecryptionFailed):
        _open(rt, alice_ref, "rep_2", sealed)
    with rt.sessions() as session, session.begin():
        retrievals = session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == str(Tag.REPORT_RETRIEVED))).scalar_one()
    assert retrievals == 1, "a report that does not open is not recorded as retrieved"
