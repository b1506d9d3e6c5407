"""Objections (异议): the person's reason, the agency's words and the evidence, sealed under the person's key.

The consent context owns the steps (who may act when, the deadlines); this module only stores and opens
the texts, each time with its audit entry in the caller's transaction. A ciphertext's associated data
names the objection, the person and what it is, so it cannot be moved to another row.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import insert, select, update

from audit.tags import Tag
from audit.tx import Tx
from vault import _crypto
from vault._keyring import Keyring
from vault._subjects import data_key, get_sealed
from vault.errors import ObjectionNotFound, RecordConflict, RecordNotFound
from vault.models import Objection, ObjectionEvidence, Record, Subject
from vault.types import Evidence, ObjectionTexts


def new_objection_id() -> str:
    """Return an unguessable objection id."""
    return "ob_" + secrets.token_hex(12)


def _aad(objection_id: str, subject_ref: str, what: str) -> bytes:
    return f"xinyong:objection:v1|{objection_id}|{subject_ref}|{what}".encode()


def file(tx: Tx, ring: Keyring, subject_ref: str, record_id: str, reason: str, evidence: Sequence[Evidence],
         accept_by: date) -> tuple[str, str]:
    """Store the person's objection to one of their records; return (objection id, the producing agency).

    Raises RecordNotFound for a record that is not theirs, RecordConflict for a revoked one. A second open
    objection on the record fails on the partial unique index (IntegrityError) at the flush.
    """
    subject = get_sealed(tx, subject_ref)
    found = tx.session.execute(select(Record.provider_id, Record.status).where(
        Record.id == record_id, Record.subject_id == subject.id, Record.erased_at.is_(None))).one_or_none()
    if found is None:
        raise RecordNotFound(record_id)
    provider_id, status = found
    if status != "active":
        raise RecordConflict(f"record {record_id} is {status}: there is nothing left to object to")
    dek = data_key(ring, subject)
    objection_id = new_objection_id()
    tx.session.execute(insert(Objection).values(
        id=objection_id, record_id=record_id, subject_id=subject.id, provider_id=provider_id, status="submitted",
        submitted_at=tx.now, accept_by=accept_by,
        reason_ct=_crypto.seal(dek, reason.encode(), _aad(objection_id, subject_ref, "reason"))))
    if evidence:
        tx.session.execute(insert(ObjectionEvidence), [{
            "objection_id": objection_id, "position": n, "content_type": e.content_type, "size": len(e.content),
            "filename_ct": _crypto.seal(dek, e.filename.encode(), _aad(objection_id, subject_ref, f"filename:{n}")),
            "content_ct": _crypto.seal(dek, e.content, _aad(objection_id, subject_ref, f"evidence:{n}")),
        } for n, e in enumerate(evidence)])
    tx.session.flush()
    tx.record(Tag.OBJECTION_SUBMITTED, subject_ref=subject_ref, record_ids=[record_id], detail={
        "objection_id": objection_id, "institution": provider_id, "evidence_files": len(evidence),
        "accept_by": accept_by.isoformat()})
    return objection_id, provider_id


def _open_texts(dek: bytes, subject_ref: str, row: Any, files: Sequence[Any]) -> ObjectionTexts:
    reason = _crypto.unseal(dek, row.reason_ct, _aad(row.id, subject_ref, "reason"), f"objection {row.id}").decode()
    answer = None
    if row.answer_ct is not None:
        answer = _crypto.unseal(dek, row.answer_ct, _aad(row.id, subject_ref, "answer"),
                                f"objection {row.id}").decode()
    opened = tuple(Evidence(
        _crypto.unseal(dek, f.filename_ct, _aad(row.id, subject_ref, f"filename:{f.position}"), "evidence").decode(),
        f.content_type,
        _crypto.unseal(dek, f.content_ct, _aad(row.id, subject_ref, f"evidence:{f.position}"), "evidence"),
    ) for f in files)
    return ObjectionTexts(row.id, reason, answer, opened, len(files))


_TEXTS = select(Objection.id, Objection.reason_ct, Objection.answer_ct)
_FILES = select(ObjectionEvidence.objection_id, ObjectionEvidence.position, ObjectionEvidence.content_type,
                ObjectionEvidence.filename_ct, ObjectionEvidence.content_ct)


def read_own(tx: Tx, ring: Keyring, subject_ref: str, ids: Sequence[str]) -> dict[str, ObjectionTexts]:
    """Return the texts of the person's objections named (evidence names and types, not contents), recorded."""
    subject = get_sealed(tx, subject_ref)
    dek = data_key(ring, subject)
    rows = tx.session.execute(_TEXTS.where(Objection.subject_id == subject.id, Objection.id.in_(ids))).all()
    counts: dict[str, list[Any]] = {}
    for f in tx.session.execute(_FILES.where(ObjectionEvidence.objection_id.in_([r.id for r in rows]))
                                .order_by(ObjectionEvidence.position)):
        counts.setdefault(f.objection_id, []).append(f)
    found = {row.id: _open_texts(dek, subject_ref, row, counts.get(row.id, [])) for row in rows}
    tx.record(Tag.OBJECTION_READ, subject_ref=subject_ref, detail={"objections": sorted(found)})
    return found


def release_to_agency(tx: Tx, ring: Keyring, objection_id: str, provider_id: str,
                      detail: Mapping[str, Any]) -> ObjectionTexts:
    """Return an objection with its evidence to the agency that must answer it, recorded as a release.

    Raises ObjectionNotFound for another agency's objection (which it must not learn about).
    """
    row = tx.session.execute(
        select(Objection.id, Objection.record_id, Objection.reason_ct, Objection.answer_ct, Subject.subject_ref)
        .join(Subject, Subject.id == Objection.subject_id)
        .where(Objection.id == objection_id, Objection.provider_id == provider_id)).one_or_none()
    if row is None:
        raise ObjectionNotFound(objection_id)
    dek = data_key(ring, get_sealed(tx, row.subject_ref))
    files = tx.session.execute(_FILES.where(ObjectionEvidence.objection_id == objection_id)
                               .order_by(ObjectionEvidence.position)).all()
    texts = _open_texts(dek, row.subject_ref, row, files)
    tx.record(Tag.OBJECTION_EVIDENCE_RELEASED, subject_ref=row.subject_ref, record_ids=[row.record_id],
              detail={**detail, "objection_id": objection_id, "institution": provider_id,
                      "evidence_files": len(files)})
    return texts


def answer(tx: Tx, ring: Keyring, objection_id: str, words: str, step: str, detail: Mapping[str, Any]) -> None:
    """Seal the agency's words (a refusal's or a decision's reason) under the person's key; record the step."""
    row = tx.session.execute(
        select(Objection.record_id, Subject.subject_ref).join(Subject, Subject.id == Objection.subject_id)
        .where(Objection.id == objection_id)).one()
    subject = get_sealed(tx, row.subject_ref)
    sealed = _crypto.seal(data_key(ring, subject), words.encode(), _aad(objection_id, row.subject_ref, "answer"))
    tx.session.execute(update(Objection).where(Objection.id == objection_id).values(answer_ct=sealed))
    tx.record(Tag.OBJECTION_ANSWERED, subject_ref=row.subject_ref, record_ids=[row.record_id],
              detail={**detail, "objection_id": objection_id, "step": step})

