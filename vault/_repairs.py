"""Credit repair (信用修复): the person's statement, commitment and evidence, sealed under the person's key.

The consent context owns the steps (who may decide when, whether a record may be repaired yet); this
module stores and opens the texts, each time with its audit entry in the caller's transaction, and marks a
record repaired. A ciphertext's associated data names the application, the person and what it is.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import insert, select, update

from audit.tags import Tag
from audit.tx import Tx
from vault._applications import evidence_from_json, evidence_to_json, open_json, open_text, seal_answer, seal_json
from vault._keyring import Keyring
from vault._subjects import data_key, get_sealed
from vault.errors import RecordConflict, RepairNotFound
from vault.models import Record, Repair, Subject
from vault.types import Evidence, RepairTexts

KIND = "repair"


def new_repair_id() -> str:
    """Return an unguessable repair application id."""
    return "rp_" + secrets.token_hex(12)


def file(tx: Tx, ring: Keyring, subject_ref: str, record_id: str, provider_id: str, methods: Sequence[str],
         statement: str, commitment: str, evidence: Sequence[Evidence], decide_by: date) -> str:
    """Store the person's repair application with its texts sealed; return its id.

    The caller has checked that the record is the person's and may be repaired now. A second open
    application on the record fails on the partial unique index (IntegrityError) at the flush.
    """
    subject = get_sealed(tx, subject_ref)
    dek = data_key(ring, subject)
    repair_id = new_repair_id()
    texts = {"statement": statement, "commitment": commitment, "evidence": evidence_to_json(evidence)}
    tx.session.execute(insert(Repair).values(
        id=repair_id, record_id=record_id, subject_id=subject.id, provider_id=provider_id, status="submitted",
        methods=",".join(methods), submitted_at=tx.now, decide_by=decide_by,
        texts_ct=seal_json(dek, KIND, repair_id, subject_ref, "texts", texts)))
    tx.session.flush()
    tx.record(Tag.REPAIR_SUBMITTED, subject_ref=subject_ref, record_ids=[record_id], detail={
        "repair_id": repair_id, "institution": provider_id, "methods": list(methods),
        "evidence_files": len(evidence), "decide_by": decide_by.isoformat()})
    return repair_id


def _open(dek: bytes, subject_ref: str, row: Any) -> RepairTexts:
    texts = open_json(dek, KIND, row.id, subject_ref, "texts", row.texts_ct)
    answer = open_text(dek, KIND, row.id, subject_ref, "answer", row.answer_ct)
    return RepairTexts(row.id, texts["statement"], texts["commitment"], answer, evidence_from_json(texts["evidence"]))


_TEXTS = select(Repair.id, Repair.record_id, Repair.texts_ct, Repair.answer_ct, Subject.subject_ref).join(
    Subject, Subject.id == Repair.subject_id)


def read_own(tx: Tx, ring: Keyring, subject_ref: str, ids: Sequence[str]) -> dict[str, RepairTexts]:
    """Return the texts of the person's applications named, recorded as their read."""
    subject = get_sealed(tx, subject_ref)
    dek = data_key(ring, subject)
    rows = tx.session.execute(_TEXTS.where(Repair.subject_id == subject.id, Repair.id.in_(ids))).all()
    found = {row.id: _open(dek, subject_ref, row) for row in rows}
    tx.record(Tag.REPAIR_READ, subject_ref=subject_ref, detail={"repairs": sorted(found)})
    return found


def release_to_agency(tx: Tx, ring: Keyring, repair_id: str, provider_id: str,
                      detail: Mapping[str, Any]) -> RepairTexts:
    """Return an application with its evidence to the agency that decides it, recorded as a release.

    Raises RepairNotFound for another agency's application (which it must not learn about).
    """
    row = tx.session.execute(_TEXTS.where(Repair.id == repair_id, Repair.provider_id == provider_id)).one_or_none()
    if row is None:
        raise RepairNotFound(repair_id)
    texts = _open(data_key(ring, get_sealed(tx, row.subject_ref)), row.subject_ref, row)
    tx.record(Tag.REPAIR_RELEASED, subject_ref=row.subject_ref, record_ids=[row.record_id],
              detail={**detail, "repair_id": repair_id, "institution": provider_id,
                      "evidence_files": len(texts.evidence)})
    return texts


def decide(tx: Tx, ring: Keyring, repair_id: str, outcome: str, effect: str | None, words: str,
           detail: Mapping[str, Any]) -> None:
    """Seal the agency's reason under the person's key; if repaired, mark the record so no third party gets it.

    The consent context has already moved the application on. Raises RecordConflict if the record was
    revoked meanwhile (the decision then rolls back).
    """
    subject_ref = seal_answer(tx, ring, Repair, KIND, repair_id, words)
    record_id = tx.session.execute(select(Repair.record_id).where(Repair.id == repair_id)).scalar_one()
    if outcome == "repaired":
        done = tx.session.execute(
            update(Record).where(Record.id == record_id, Record.status == "active",
                                 Record.repaired_at.is_(None))
            .values(repaired_at=tx.now, repair_effect=effect).execution_options(synchronize_session=False))
        if getattr(done, "rowcount", 0) != 1:
            raise RecordConflict(f"record {record_id} is no longer active and unrepaired")
    tx.record(Tag.REPAIR_DECIDED, subject_ref=subject_ref, record_ids=[record_id],
              detail={**detail, "repair_id": repair_id, "outcome": outcome, "effect": effect})
