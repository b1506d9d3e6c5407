"""Credit commitments (信用承诺): the text a person signed and their details, sealed under their key.

The consent context owns the templates and who may accept what; this module stores and opens the sealed
parts, each time with its audit entry in the caller's transaction, and stores the breach record of a broken
commitment made to an authority through the records' own entry path.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import insert, select, update

from audit.tags import Tag
from audit.tx import Tx
from vault import _records
from vault._applications import open_json, open_text, seal_answer, seal_json
from vault._keyring import Keyring
from vault._subjects import data_key, get_sealed
from vault.errors import CommitmentNotFound
from vault.models import Commitment, Subject
from vault.types import CommitmentTexts, NewRecord, Prepared, Provider, RecordDraft

KIND = "commitment"


def new_commitment_id() -> str:
    """Return an unguessable commitment id."""
    return "cm_" + secrets.token_hex(12)


def sign(tx: Tx, ring: Keyring, subject_ref: str, template: str, body: str, body_role: str, text: str,
         details: str | None, due_date: date | None) -> str:
    """Store a commitment the person signed, its text and details sealed; return its id."""
    subject = get_sealed(tx, subject_ref)
    commitment_id = new_commitment_id()
    tx.session.execute(insert(Commitment).values(
        id=commitment_id, subject_id=subject.id, template=template, accepting_body=body, body_role=body_role,
        status="pending", signed_at=tx.now, due_date=due_date,
        texts_ct=seal_json(data_key(ring, subject), KIND, commitment_id, subject_ref, "texts",
                           {"text": text, "details": details})))
    tx.record(Tag.COMMITMENT_SIGNED, subject_ref=subject_ref, detail={
        "commitment_id": commitment_id, "template": template, "institution": body,
        "due_date": None if due_date is None else due_date.isoformat()})
    return commitment_id


def _open(dek: bytes, subject_ref: str, row: Any) -> CommitmentTexts:
    texts = open_json(dek, KIND, row.id, subject_ref, "texts", row.texts_ct)
    return CommitmentTexts(row.id, texts["text"], texts["details"],
                           open_text(dek, KIND, row.id, subject_ref, "answer", row.answer_ct))


_TEXTS = select(Commitment.id, Commitment.texts_ct, Commitment.answer_ct, Subject.subject_ref).join(
    Subject, Subject.id == Commitment.subject_id)


def read_own(tx: Tx, ring: Keyring, subject_ref: str, ids: Sequence[str]) -> dict[str, CommitmentTexts]:
    """Return the sealed parts of the person's commitments named, recorded as their read."""
    subject = get_sealed(tx, subject_ref)
    dek = data_key(ring, subject)
    rows = tx.session.execute(_TEXTS.where(Commitment.subject_id == subject.id, Commitment.id.in_(ids))).all()
    found = {row.id: _open(dek, subject_ref, row) for row in rows}
    tx.record(Tag.COMMITMENT_READ, subject_ref=subject_ref, detail={"commitments": sorted(found)})
    return found


def _opened(tx: Tx, ring: Keyring, commitment_id: str, body: str) -> tuple[str, CommitmentTexts]:
    row = tx.session.execute(_TEXTS.where(Commitment.id == commitment_id,
                                          Commitment.accepting_body == body)).one_or_none()
    if row is None:
        raise CommitmentNotFound(commitment_id)
    return row.subject_ref, _open(data_key(ring, get_sealed(tx, row.subject_ref)), row.subject_ref, row)


def release_to_body(tx: Tx, ring: Keyring, commitment_id: str, body: str) -> CommitmentTexts:
    """Return a commitment's texts to the body it was made to, recorded as a release.

    Raises CommitmentNotFound for one made to another body (which it must not learn about).
    """
    subject_ref, texts = _opened(tx, ring, commitment_id, body)
    tx.record(Tag.COMMITMENT_RELEASED, subject_ref=subject_ref,
              detail={"commitment_id": commitment_id, "institution": body})
    return texts


def close(tx: Tx, ring: Keyring, commitment_id: str, body: str, outcome: str, words: str,
          breach: tuple[Provider, Callable[[CommitmentTexts], RecordDraft], Callable[[NewRecord], Prepared]] | None,
          ) -> str | None:
    """Seal the body's reason; for a breach recorded by an authority, store the breach record (`breach`).

    The consent context has already moved the commitment on. Returns the breach record's id, if one was made.
    """
    subject_ref = seal_answer(tx, ring, Commitment, KIND, commitment_id, words)
    record_id = None
    if breach is not None:
        provider, draft, prepare = breach
        _, texts = _opened(tx, ring, commitment_id, body)  # into the record, not to the body: no release
        record_id = _records.store_for(tx, ring, provider, subject_ref, draft(texts), prepare).id
        tx.session.execute(update(Commitment).where(Commitment.id == commitment_id).values(record_id=record_id)
                           .execution_options(synchronize_session=False))
    tx.record(Tag.COMMITMENT_OUTCOME, subject_ref=subject_ref, record_ids=[record_id] if record_id else [],
              detail={"commitment_id": commitment_id, "institution": body, "outcome": outcome})
    return record_id
