"""Voluntary registration (自愿注册): what the person declared, with the texts they accepted, sealed under their key.

The consent context owns the steps (which categories are open, who may verify, the deadline); this module
stores and opens the sealed parts, each time with its audit entry in the caller's transaction, and stores the
record a verification makes (of the declared category, or the breach of a false one) through the records'
own entry path. A declaration is never a record before that: nothing here is released to a third party.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import insert, select, update

from audit.tags import Tag
from audit.tx import Tx
from vault import _records
from vault._applications import evidence_from_json, evidence_to_json, open_json, open_text, seal_answer, seal_json
from vault._keyring import Keyring
from vault._subjects import data_key, get_sealed
from vault.errors import DeclarationNotFound
from vault.models import Declaration, Subject
from vault.types import DeclarationTexts, Evidence, Ingested, NewRecord, Prepared, Provider, RecordDraft

KIND = "declaration"


def new_declaration_id() -> str:
    """Return an unguessable declaration id."""
    return "dc_" + secrets.token_hex(12)


def file(tx: Tx, ring: Keyring, subject_ref: str, category: str, payload: Mapping[str, Any], commitment: str,
         authorisation: str, evidence: Sequence[Evidence], item_key: str, verify_by: date) -> str:
    """Store the person's declaration with its payload and texts sealed; return its id.

    The caller has checked the category and payload. The same item declared again while the first waits fails
    on the partial unique index (IntegrityError) at the flush.
    """
    subject = get_sealed(tx, subject_ref)
    declaration_id = new_declaration_id()
    texts = {"payload": dict(payload), "commitment": commitment, "authorisation": authorisation,
             "evidence": evidence_to_json(evidence)}
    tx.session.execute(insert(Declaration).values(
        id=declaration_id, subject_id=subject.id, category=category, status="unverified", item_key=item_key,
        submitted_at=tx.now, verify_by=verify_by,
        texts_ct=seal_json(data_key(ring, subject), KIND, declaration_id, subject_ref, "texts", texts)))
    tx.session.flush()
    tx.record(Tag.DECLARATION_SUBMITTED, subject_ref=subject_ref, detail={
        "declaration_id": declaration_id, "category": category, "evidence_files": len(evidence),
        "verify_by": verify_by.isoformat()})
    return declaration_id


def _open(dek: bytes, subject_ref: str, row: Any) -> DeclarationTexts:
    texts = open_json(dek, KIND, row.id, subject_ref, "texts", row.texts_ct)
    return DeclarationTexts(row.id, texts["payload"], texts["commitment"], texts["authorisation"],
                            open_text(dek, KIND, row.id, subject_ref, "answer", row.answer_ct),
                            evidence_from_json(texts["evidence"]))


_TEXTS = select(Declaration.id, Declaration.category, Declaration.texts_ct, Declaration.answer_ct,
                Subject.subject_ref).join(Subject, Subject.id == Declaration.subject_id)


def read_own(tx: Tx, ring: Keyring, subject_ref: str, ids: Sequence[str]) -> dict[str, DeclarationTexts]:
    """Return the sealed parts of the person's declarations named, recorded as their read."""
    subject = get_sealed(tx, subject_ref)
    dek = data_key(ring, subject)
    rows = tx.session.execute(_TEXTS.where(Declaration.subject_id == subject.id, Declaration.id.in_(ids))).all()
    found = {row.id: _open(dek, subject_ref, row) for row in rows}
    tx.record(Tag.DECLARATION_READ, subject_ref=subject_ref, detail={"declarations": sorted(found)})
    return found


def _row(tx: Tx, declaration_id: str, categories: Sequence[str]) -> Any:
    row = tx.session.execute(_TEXTS.where(Declaration.id == declaration_id,
                                          Declaration.category.in_(list(categories)))).one_or_none()
    if row is None:
        raise DeclarationNotFound(declaration_id)
    return row


def release_to_agency(tx: Tx, ring: Keyring, declaration_id: str, provider_id: str, categories: Sequence[str],
                      detail: Mapping[str, Any]) -> DeclarationTexts:
    """Return a declaration of the agency's categories with its evidence, recorded as a release to it.

    Raises DeclarationNotFound for one the agency may not verify (which it must not learn about).
    """
    row = _row(tx, declaration_id, categories)
    texts = _open(data_key(ring, get_sealed(tx, row.subject_ref)), row.subject_ref, row)
    tx.record(Tag.DECLARATION_RELEASED, subject_ref=row.subject_ref, detail={
        **detail, "declaration_id": declaration_id, "institution": provider_id, "category": row.category,
        "evidence_files": len(texts.evidence)})
    return texts


def decide(tx: Tx, ring: Keyring, provider: Provider, declaration_id: str, categories: Sequence[str],
           outcome: str, words: str, draft: Callable[[DeclarationTexts], RecordDraft],
           prepare: Callable[[NewRecord], Prepared]) -> Ingested:
    """Seal the agency's reason and store the record the outcome makes (`draft` says which); return it.

    The consent context has already moved the declaration on; the record is checked by `prepare` as any
    record the agency files, and linked to the declaration.
    """
    row = _row(tx, declaration_id, categories)
    texts = _open(data_key(ring, get_sealed(tx, row.subject_ref)), row.subject_ref, row)
    seal_answer(tx, ring, Declaration, KIND, declaration_id, words)
    stored = _records.store_for(tx, ring, provider, row.subject_ref, draft(texts), prepare)
    tx.session.execute(update(Declaration).where(Declaration.id == declaration_id).values(record_id=stored.id)
                       .execution_options(synchronize_session=False))
    tx.record(Tag.DECLARATION_VERIFIED, subject_ref=row.subject_ref, record_ids=[stored.id], detail={
        "declaration_id": declaration_id, "institution": provider.client_id, "category": row.category,
        "outcome": outcome})
    return stored
