"""The vault's objection methods: each writes its entries in the caller's transaction, texts sealed.

Counted as tests/vault/test_vault.py counts the others (tests/test_layers.py lists them all).
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from audit.entries import canonical_json, stored_document
from audit.tags import Tag
from audit.tx import AccessContext
from consent import entry
from gateway.runtime import Runtime
from tests.conftest import People
from tests.vault.test_vault import AS_PROVIDER, GENERAL, PROVIDER, _about, _ingest, _new_record, entries_written
from vault.errors import ObjectionNotFound, RecordNotFound
from vault.models import Objection, ObjectionEvidence, Record
from vault.types import Evidence, NewRecord, Prepared

PDF = Evidence("决定书.pdf", "application/pdf", b"%PDF-1.7 evidence bytes")
REASON = "罚款金额记录有误, 实为二百元"


def _filed(rt: Runtime, citizen_id: str) -> tuple[str, str]:
    [record] = _ingest(rt, _new_record(citizen_id))
    ref = rt.vault.subject_ref(citizen_id)
    holder: list[str] = []
    entries_written(rt, lambda tx: holder.append(
        rt.vault.file_objection(tx, ref, record.id, REASON, [PDF], date(2026, 11, 24))[0]),
        by=AccessContext(actor=ref, role="person"))
    return holder[0], record.id


def test_filing_an_objection_writes_one_entry_and_seals_the_texts(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    [record] = _ingest(rt, _new_record(citizen_id))
    ref = rt.vault.subject_ref(citizen_id)
    [written] = entries_written(
        rt, lambda tx: rt.vault.file_objection(tx, ref, record.id, REASON, [PDF], date(2026, 11, 24)),
        by=AccessContext(actor=ref, role="person"))
    assert written.action == Tag.OBJECTION_SUBMITTED
    assert _about(rt, written, citizen_id)
    assert written.record_ids == [record.id]
    assert REASON not in canonical_json(stored_document(written)).decode()
    with rt.sessions() as session, session.begin():
        row = session.execute(select(Objection).where(Objection.record_id == record.id)).scalar_one()
        files = session.execute(select(ObjectionEvidence)).scalars().all()
        assert REASON.encode() not in row.reason_ct
        assert [f.size for f in files] == [len(PDF.content)]
        assert PDF.content not in files[0].content_ct
        assert PDF.filename.encode() not in files[0].filename_ct


def test_an_objection_to_someone_elses_record_is_not_found(rt: Runtime, people: People) -> None:
    [record] = _ingest(rt, _new_record(people.new()))
    other = people.new()
    _ingest(rt, _new_record(other))
    ref = rt.vault.subject_ref(other)
    with pytest.raises(RecordNotFound), rt.uow.begin(AccessContext(actor=ref, role="person")) as tx:
        rt.vault.file_objection(tx, ref, record.id, REASON, [], date(2026, 11, 24))


def test_a_second_open_objection_on_a_record_is_refused_by_the_database(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    _, record_id = _filed(rt, citizen_id)
    ref = rt.vault.subject_ref(citizen_id)
    with pytest.raises(IntegrityError), rt.uow.begin(AccessContext(actor=ref, role="person")) as tx:
        rt.vault.file_objection(tx, ref, record_id, REASON, [], date(2026, 11, 24))


def test_reading_ones_objections_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    objection_id, _ = _filed(rt, citizen_id)
    ref = rt.vault.subject_ref(citizen_id)
    found = {}
    [written] = entries_written(rt, lambda tx: found.update(rt.vault.read_objections(tx, ref, [objection_id])),
                                by=AccessContext(actor=ref, role="person"))
    assert written.action == Tag.OBJECTION_READ
    assert found[objection_id].reason == REASON
    assert found[objection_id].evidence[0].filename == PDF.filename


def test_releasing_an_objection_to_its_agency_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    objection_id, record_id = _filed(rt, citizen_id)
    found = []
    [written] = entries_written(rt, lambda tx: found.append(
        rt.vault.release_objection(tx, objection_id, "prov_a", {"status": "submitted"})), by=AS_PROVIDER)
    assert written.action == Tag.OBJECTION_EVIDENCE_RELEASED
    assert _about(rt, written, citizen_id)
    assert written.record_ids == [record_id]
    assert found[0].evidence == (PDF,)
    with pytest.raises(ObjectionNotFound), rt.uow.begin(AS_PROVIDER) as tx:
        rt.vault.release_objection(tx, objection_id, "prov_other", {})


def test_answering_an_objection_writes_one_entry_and_seals_the_words(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    objection_id, _ = _filed(rt, citizen_id)
    words = "经核实, 原记录无误"
    [written] = entries_written(
        rt, lambda tx: rt.vault.answer_objection(tx, objection_id, words, "upheld", {}), by=AS_PROVIDER)
    assert written.action == Tag.OBJECTION_ANSWERED
    assert _about(rt, written, citizen_id)
    assert words not in canonical_json(stored_document(written)).decode()
    with rt.sessions() as session, session.begin():
        sealed = session.execute(select(Objection.answer_ct).where(Objection.id == objection_id)).scalar_one()
        assert sealed is not None
        assert words.encode() not in sealed


def test_correcting_a_record_writes_its_entries_and_keeps_the_old_one_revoked(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    [record] = _ingest(rt, _new_record(citizen_id))
    corrected = dict(_new_record(citizen_id).payload, penalty_content="罚款人民币200元", fine_amount="200.00")

    def prepare(new: NewRecord) -> Prepared:
        return entry.prepare(rt.catalogue, rt.vault.fingerprint, PROVIDER, new, date(2026, 11, 22))

    written = entries_written(rt, lambda tx: rt.vault.correct(tx, PROVIDER, record.id, corrected, prepare, "更正"),
                              by=AS_PROVIDER)
    assert [e.action for e in written] == [Tag.RECORD_INGESTED, Tag.RECORD_REVOKED, Tag.RECORD_CORRECTED]
    assert all(_about(rt, e, citizen_id) for e in written)
    new_id = written[-1].record_ids[1]
    with rt.sessions() as session, session.begin():
        rows = dict(session.execute(select(Record.id, Record.status).where(Record.id.in_([record.id, new_id]))).all())
    assert rows == {record.id: "revoked", new_id: "active"}
    ref = rt.vault.subject_ref(citizen_id)
    with rt.uow.begin(AccessContext(actor=ref, role="person")) as tx:
        own = {v.id: v for v in rt.vault.read_own(tx, ref).records}
    assert own[new_id].payload["fine_amount"] == "200.00"
    assert own[new_id].category == GENERAL
