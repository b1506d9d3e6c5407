"""What the person's applications share in the vault: texts sealed as JSON under the person's key, evidence,
and the deciding body's words.

Repair applications, declarations and credit commitments seal their texts the same way: one JSON document
whose associated data names the kind, the application, the person and what it is, so a ciphertext cannot be
moved to another row or read as another part.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from audit.tx import Tx
from vault import _crypto
from vault._keyring import Keyring
from vault._subjects import data_key, get_sealed
from vault.models import Subject
from vault.types import Evidence


def aad(kind: str, app_id: str, subject_ref: str, what: str) -> bytes:
    """Return the associated data of one sealed part of an application."""
    return f"xinyong:{kind}:v1|{app_id}|{subject_ref}|{what}".encode()


def seal_json(dek: bytes, kind: str, app_id: str, subject_ref: str, what: str, value: Any) -> bytes:
    """Return `value` as JSON sealed under the person's data key."""
    text = json.dumps(value, ensure_ascii=False)
    return _crypto.seal(dek, text.encode(), aad(kind, app_id, subject_ref, what))


def open_json(dek: bytes, kind: str, app_id: str, subject_ref: str, what: str, blob: bytes) -> Any:
    """Return the JSON value sealed by `seal_json`; raises DecryptionFailed if moved or tampered with."""
    return json.loads(_crypto.unseal(dek, blob, aad(kind, app_id, subject_ref, what), f"{kind} {app_id}"))


def open_text(dek: bytes, kind: str, app_id: str, subject_ref: str, what: str, blob: bytes | None) -> str | None:
    """Return a sealed plain text (the deciding body's words), or None if there is none yet."""
    if blob is None:
        return None
    return _crypto.unseal(dek, blob, aad(kind, app_id, subject_ref, what), f"{kind} {app_id}").decode()


def evidence_to_json(evidence: Sequence[Evidence]) -> list[dict[str, str]]:
    """Return evidence files as JSON data (contents in base64), to be sealed with the texts."""
    return [{"filename": e.filename, "content_type": e.content_type, "content": base64.b64encode(e.content).decode()}
            for e in evidence]


def evidence_from_json(items: Sequence[dict[str, str]]) -> tuple[Evidence, ...]:
    """Return the evidence files of `evidence_to_json`."""
    return tuple(Evidence(f["filename"], f["content_type"], base64.b64decode(f["content"])) for f in items)


def seal_answer(tx: Tx, ring: Keyring, table: Any, kind: str, app_id: str, words: str) -> str:
    """Seal the deciding body's words on an application under its person's key; return the person's blind index."""
    subject_ref = tx.session.execute(select(Subject.subject_ref).join(table, table.subject_id == Subject.id)
                                     .where(table.id == app_id)).scalar_one()
    sealed = _crypto.seal(data_key(ring, get_sealed(tx, subject_ref)), words.encode(),
                          aad(kind, app_id, subject_ref, "answer"))
    tx.session.execute(update(table).where(table.id == app_id).values(answer_ct=sealed)
                       .execution_options(synchronize_session=False))
    return subject_ref
