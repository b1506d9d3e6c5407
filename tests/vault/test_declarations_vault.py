"""The vault's declaration and commitment methods: each writes its entries in the caller's transaction, texts sealed.

Counted as tests/vault/test_vault.py counts the others (tests/test_layers.py lists them all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from audit.entries import canonical_json, stored_document
from audit.tags import Tag
from audit.tx import AccessContext
from consent import entry
from gateway.runtime import Runtime
from tests.conftest import NOW, People
from tests.vault.test_vault import AS_PROVIDER, PROVIDER, _about, _ingest, _new_record, entries_written
from vault.errors import CommitmentNotFound, DeclarationNotFound
from vault.models import Commitment, Declaration, Record
from vault.types import CommitmentTexts, DeclarationTexts, Document, Evidence, NewRecord, Prepared, RecordDraft

PDF = Evidence("志愿服务证明.pdf", "application/pdf", b"%PDF-1.7 hours of service")
HOURS = {"organisation": "青年志愿者协会", "service_hours": "12", "period_start": "2026-01-10",
         "period_end": "2026-09-30"}
PROMISE = "本人承诺所申报信息真实"
AUTHORISATION = "本人授权整合共享应用"
DETAILS = "营业执照副本, 十日内补交"
VERIFY_BY = date(2026, 12, 11)
CATEGORIES = ["VOLUNTEER_SERVICE"]
AGENCY = replace(PROVIDER, categories=frozenset({"VOLUNTEER_SERVICE", "CREDIT_COMMITMENT_BREACH"}),
                 agency="civil_affairs")


def _person(rt: Runtime, people: People) -> tuple[str, str]:
    citizen_id = people.new()
    _ingest(rt, _new_record(citizen_id))
    return citizen_id, rt.vault.subject_ref(citizen_id)


def _declared(rt: Runtime, ref: str, key: str = "k1") -> str:
    holder: list[str] = []
    entries_written(rt, lambda tx: holder.append(rt.vault.file_declaration(
        tx, ref, "VOLUNTEER_SERVICE", HOURS, PROMISE, AUTHORISATION, [PDF], key, VERIFY_BY)),
        by=AccessContext(actor=ref, role="person"))
    return holder[0]


def _signed(rt: Runtime, ref: str) -> str:
    holder: list[str] = []
    entries_written(rt, lambda tx: holder.append(rt.vault.sign_commitment(
        tx, ref, "tolerated_acceptance", "prov_a", "provider", "承诺补交材料", DETAILS, date(2026, 12, 1))),
        by=AccessContext(actor=ref, role="person"))
    return holder[0]


def _filed_by_agency(rt: Runtime) -> Callable[[NewRecord], Prepared]:
    return lambda record: entry.prepare(rt.catalogue, rt.vault.fingerprint, AGENCY, record, NOW.date())


def test_filing_a_declaration_writes_one_entry_and_seals_the_payload(rt: Runtime, people: People) -> None:
    citizen_id, ref = _person(rt, people)
    [written] = entries_written(rt, lambda tx: rt.vault.file_declaration(
        tx, ref, "VOLUNTEER_SERVICE", HOURS, PROMISE, AUTHORISATION, [PDF], "k1", VERIFY_BY),
        by=AccessContext(actor=ref, role="person"))
    assert written.action == Tag.DECLARATION_SUBMITTED
    assert _about(rt, written, citizen_id)
    document = canonical_json(stored_document(written)).decode()
    assert HOURS["organisation"] not in document
    with rt.sessions() as session, session.begin():
        row = session.execute(select(Declaration).where(Declaration.item_key == "k1")).scalar_one()
        for plain in (HOURS["organisation"].encode(), PROMISE.encode(), PDF.content, PDF.filename.encode()):
            assert plain not in row.texts_ct


def test_the_same_item_waiting_twice_is_refused_by_the_database(rt: Runtime, people: People) -> None:
    _, ref = _person(rt, people)
    _declared(rt, ref)
    with pytest.raises(IntegrityError), rt.uow.begin(AccessContext(actor=ref, role="person")) as tx:
        rt.vault.file_declaration(tx, ref, "VOLUNTEER_SERVICE", HOURS, PROMISE, AUTHORISATION, [], "k1", VERIFY_BY)


def test_reading_ones_declarations_writes_one_entry(rt: Runtime, people: People) -> None:
    _, ref = _person(rt, people)
    declaration_id = _declared(rt, ref)
    found = {}
    [written] = entries_written(rt, lambda tx: found.update(rt.vault.read_declarations(tx, ref, [declaration_id])),
                                by=AccessContext(actor=ref, role="person"))
    assert written.action == Tag.DECLARATION_READ
    opened = found[declaration_id]
    assert (opened.payload, opened.commitment, opened.authorisation, opened.evidence) == (
        HOURS, PROMISE, AUTHORISATION, (PDF,))


def test_releasing_a_declaration_to_a_competent_agency_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id, ref = _person(rt, people)
    declaration_id = _declared(rt, ref)
    found = []
    [written] = entries_written(rt, lambda tx: found.append(rt.vault.release_declaration(
        tx, declaration_id, "prov_a", CATEGORIES, {"status": "unverified"})), by=AS_PROVIDER)
    assert written.action == Tag.DECLARATION_RELEASED
    assert _about(rt, written, citizen_id)
    assert found[0].evidence == (PDF,)
    with pytest.raises(DeclarationNotFound), rt.uow.begin(AS_PROVIDER) as tx:
        rt.vault.release_declaration(tx, declaration_id, "prov_a", ["TAX_ARREARS"], {})


def test_deciding_a_declaration_writes_its_record_and_one_entry_and_seals_the_words(
        rt: Runtime, people: People) -> None:
    citizen_id, ref = _person(rt, people)
    declaration_id = _declared(rt, ref)
    words = "与志愿服务记录一致"

    def draft(texts: DeclarationTexts) -> RecordDraft:
        return RecordDraft("VOLUNTEER_SERVICE", NOW.date(), None, HOURS)

    stored = []
    ingested, verified = entries_written(rt, lambda tx: stored.append(rt.vault.decide_declaration(
        tx, AGENCY, declaration_id, CATEGORIES, "verified", words, draft, _filed_by_agency(rt))),
        by=AS_PROVIDER)
    assert (ingested.action, verified.action) == (Tag.RECORD_INGESTED, Tag.DECLARATION_VERIFIED)
    assert _about(rt, verified, citizen_id)
    assert verified.record_ids == [stored[0].id]
    assert words not in canonical_json(stored_document(verified)).decode()
    with rt.sessions() as session, session.begin():
        row = session.execute(select(Declaration.record_id, Declaration.answer_ct)
                              .where(Declaration.id == declaration_id)).one()
        assert row.record_id == stored[0].id
        assert words.encode() not in row.answer_ct
        assert session.execute(select(Record.category).where(Record.id == row.record_id)).scalar_one() == \
            "VOLUNTEER_SERVICE"


def test_signing_a_commitment_writes_one_entry_and_seals_the_details(rt: Runtime, people: People) -> None:
    citizen_id, ref = _person(rt, people)
    [written] = entries_written(rt, lambda tx: rt.vault.sign_commitment(
        tx, ref, "onboarding", "inst_1", "institution", "承诺信息真实", DETAILS, None),
        by=AccessContext(actor=ref, role="person"))
    assert written.action == Tag.COMMITMENT_SIGNED
    assert _about(rt, written, citizen_id)
    assert DETAILS not in canonical_json(stored_document(written)).decode()
    with rt.sessions() as session, session.begin():
        sealed = session.execute(select(Commitment.texts_ct).where(Commitment.accepting_body == "inst_1")).scalar_one()
        assert DETAILS.encode() not in sealed


def test_reading_ones_commitments_writes_one_entry(rt: Runtime, people: People) -> None:
    _, ref = _person(rt, people)
    commitment_id = _signed(rt, ref)
    found = {}
    [written] = entries_written(rt, lambda tx: found.update(rt.vault.read_commitments(tx, ref, [commitment_id])),
                                by=AccessContext(actor=ref, role="person"))
    assert written.action == Tag.COMMITMENT_READ
    assert (found[commitment_id].text, found[commitment_id].details) == ("承诺补交材料", DETAILS)


def test_releasing_a_commitment_to_its_body_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id, ref = _person(rt, people)
    commitment_id = _signed(rt, ref)
    [written] = entries_written(rt, lambda tx: rt.vault.release_commitment(tx, commitment_id, "prov_a"),
                                by=AS_PROVIDER)
    assert written.action == Tag.COMMITMENT_RELEASED
    assert _about(rt, written, citizen_id)
    with pytest.raises(CommitmentNotFound), rt.uow.begin(AS_PROVIDER) as tx:
        rt.vault.release_commitment(tx, commitment_id, "prov_other")


def test_closing_a_commitment_broken_writes_its_record_and_one_entry(rt: Runtime, people: People) -> None:
    citizen_id, ref = _person(rt, people)
    commitment_id = _signed(rt, ref)
    document = Document("commitment_breach_determination", "cm finding", "bureau", NOW.date())

    def draft(texts: CommitmentTexts) -> RecordDraft:
        return RecordDraft("CREDIT_COMMITMENT_BREACH", NOW.date(), document, {
            "breach": "not_fulfilled", "scenario": "tolerated_acceptance", "commitment": "承诺补交材料",
            "finding": "逾期未补交"})

    made: list[str | None] = []
    ingested, closed = entries_written(rt, lambda tx: made.append(rt.vault.close_commitment(
        tx, commitment_id, "prov_a", "breached", "逾期未补交", (AGENCY, draft, _filed_by_agency(rt)))),
        by=AS_PROVIDER)
    assert (ingested.action, closed.action) == (Tag.RECORD_INGESTED, Tag.COMMITMENT_OUTCOME)
    assert _about(rt, closed, citizen_id)
    assert closed.record_ids == made
    with rt.sessions() as session, session.begin():
        assert session.execute(select(Commitment.record_id).where(Commitment.id == commitment_id)).scalar_one() == \
            made[0]


def test_closing_a_commitment_kept_writes_one_entry_and_no_record(rt: Runtime, people: People) -> None:
    _, ref = _person(rt, people)
    commitment_id = _signed(rt, ref)
    [written] = entries_written(rt, lambda tx: rt.vault.close_commitment(
        tx, commitment_id, "prov_a", "fulfilled", "已补交", None), by=AS_PROVIDER)
    assert (written.action, written.record_ids) == (Tag.COMMITMENT_OUTCOME, [])

