"""The vault's repair methods: each writes its entries in the caller's transaction, texts sealed.

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
from gateway.runtime import Runtime
from tests.conftest import People
from tests.vault.test_vault import AS_PROVIDER, _about, _ingest, _new_record, entries_written
from vault.errors import RepairNotFound
from vault.models import Record, Repair
from vault.types import Evidence

PDF = Evidence("缴款凭证.pdf", "application/pdf", b"%PDF-1.7 receipt of the fine paid")
STATEMENT = "罚款已于十月缴清, 整改完毕"
COMMITMENT = "本人承诺今后守法经营, 如有违反愿承担相应责任"
DUE = date(2026, 12, 18)


def _filed(rt: Runtime, citizen_id: str) -> tuple[str, str]:
    [record] = _ingest(rt, _new_record(citizen_id))
    ref = rt.vault.subject_ref(citizen_id)
    holder: list[str] = []
    entries_written(rt, lambda tx: holder.append(rt.vault.file_repair(
        tx, ref, record.id, "prov_a", ["performance"], STATEMENT, COMMITMENT, [PDF], DUE)),
        by=AccessContext(actor=ref, role="person"))
    return holder[0], record.id


def test_filing_a_repair_writes_one_entry_and_seals_the_texts(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    [record] = _ingest(rt, _new_record(citizen_id))
    ref = rt.vault.subject_ref(citizen_id)
    [written] = entries_written(rt, lambda tx: rt.vault.file_repair(
        tx, ref, record.id, "prov_a", ["performance", "credit_commitment"], STATEMENT, COMMITMENT, [PDF], DUE),
        by=AccessContext(actor=ref, role="person"))
    assert written.action == Tag.REPAIR_SUBMITTED
    assert _about(rt, written, citizen_id)
    assert written.record_ids == [record.id]
    document = canonical_json(stored_document(written)).decode()
    assert STATEMENT not in document
    assert COMMITMENT not in document
    with rt.sessions() as session, session.begin():
        row = session.execute(select(Repair).where(Repair.record_id == record.id)).scalar_one()
        assert row.methods == "performance,credit_commitment"
        for plain in (STATEMENT.encode(), COMMITMENT.encode(), PDF.content, PDF.filename.encode()):
            assert plain not in row.texts_ct


def test_a_second_open_repair_on_a_record_is_refused_by_the_database(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    _, record_id = _filed(rt, citizen_id)
    ref = rt.vault.subject_ref(citizen_id)
    with pytest.raises(IntegrityError), rt.uow.begin(AccessContext(actor=ref, role="person")) as tx:
        rt.vault.file_repair(tx, ref, record_id, "prov_a", ["performance"], STATEMENT, COMMITMENT, [], DUE)


def test_reading_ones_repairs_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    repair_id, _ = _filed(rt, citizen_id)
    ref = rt.vault.subject_ref(citizen_id)
    found = {}
    [written] = entries_written(rt, lambda tx: found.update(rt.vault.read_repairs(tx, ref, [repair_id])),
                                by=AccessContext(actor=ref, role="person"))
    assert written.action == Tag.REPAIR_READ
    assert (found[repair_id].statement, found[repair_id].commitment) == (STATEMENT, COMMITMENT)
    assert found[repair_id].evidence == (PDF,)


def test_releasing_a_repair_to_its_agency_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    repair_id, record_id = _filed(rt, citizen_id)
    found = []
    [written] = entries_written(rt, lambda tx: found.append(
        rt.vault.release_repair(tx, repair_id, "prov_a", {"status": "submitted"})), by=AS_PROVIDER)
    assert written.action == Tag.REPAIR_RELEASED
    assert _about(rt, written, citizen_id)
    assert written.record_ids == [record_id]
    assert found[0].evidence == (PDF,)
    with pytest.raises(RepairNotFound), rt.uow.begin(AS_PROVIDER) as tx:
        rt.vault.release_repair(tx, repair_id, "prov_other", {})


def test_deciding_a_repair_writes_one_entry_seals_the_words_and_marks_the_record(
        rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    repair_id, record_id = _filed(rt, citizen_id)
    words = "已履行处罚决定, 准予修复"
    [written] = entries_written(rt, lambda tx: rt.vault.decide_repair(
        tx, repair_id, "repaired", "stop_sharing", words, {}), by=AS_PROVIDER)
    assert written.action == Tag.REPAIR_DECIDED
    assert _about(rt, written, citizen_id)
    assert words not in canonical_json(stored_document(written)).decode()
    with rt.sessions() as session, session.begin():
        sealed = session.execute(select(Repair.answer_ct).where(Repair.id == repair_id)).scalar_one()
        assert sealed is not None
        assert words.encode() not in sealed
        repaired = session.execute(select(Record.repaired_at, Record.repair_effect)
                                   .where(Record.id == record_id)).one()
        assert repaired.repaired_at is not None
        assert repaired.repair_effect == "stop_sharing"
