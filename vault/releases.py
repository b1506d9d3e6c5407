"""Releases to third parties: only the selected categories and fields, and only with an audit entry.

The consent context decides what may be released (its selection); the vault applies it while
decrypting, so a field outside the selection never leaves the vault in plaintext.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import entries as audit
from audit.clock import Clock
from audit.tags import Tag
from vault import crypto
from vault.access import AccessContext
from vault.identity import mask_citizen_id
from vault.keyring import Keyring
from vault.models import Record
from vault.subjects import data_key, get_subject, reveal_identity


@dataclass(frozen=True, slots=True)
class Selection:
    """What may be released: per category, the fields; and which records by date."""

    fields: Mapping[str, frozenset[str]]
    shown_on: date
    decided_since: date


@dataclass(frozen=True, slots=True)
class Released:
    id: str
    category: str
    decided_at: date
    display_until: date
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Release:
    masked_citizen_id: str
    records: list[Released]


def read_for(
    session: Session,
    ring: Keyring,
    clock: Clock,
    subject_ref: str,
    selection: Selection,
    access: AccessContext,
    detail: Mapping[str, Any],
) -> Release:
    """Return the selected, displayable records of a person, audited as a release under `access`.

    Raises SubjectNotFound or SubjectShredded.
    """
    subject = get_subject(session, subject_ref)
    dek = data_key(ring, subject)
    rows = []
    if selection.fields:
        rows = list(session.execute(
            select(Record.id, Record.category, Record.decided_at, Record.display_until, Record.sealed)
            .where(
                Record.subject_id == subject.id,
                Record.status == "active",
                Record.category.in_(list(selection.fields)),
                Record.display_from <= selection.shown_on,
                Record.display_until > selection.shown_on,
                Record.decided_at >= selection.decided_since,
            )
            .order_by(Record.decided_at.desc(), Record.id)
        ))
    released = []
    for record_id, category, decided_at, display_until, sealed in rows:
        body = json.loads(crypto.unseal(dek, sealed, crypto.record_aad(record_id, subject_ref, category),
                                        f"record {record_id}"))
        allowed = selection.fields[category]
        released.append(Released(record_id, category, decided_at, display_until,
                                 {k: v for k, v in body["payload"].items() if k in allowed}))
    masked = mask_citizen_id(reveal_identity(ring, subject).citizen_id)
    audit.append(session, clock, audit.EntryDraft(
        actor=access.actor, role=access.role, action=Tag.QUERY_RELEASED, subject_ref=subject_ref,
        purpose=access.purpose, basis=access.basis, record_ids=[r.id for r in released],
        request_id=access.request_id, detail=dict(detail),
    ))
    return Release(masked, released)


def _report_aad(subject_ref: str, report_id: str) -> bytes:
    return f"xinyong:report:v1|{report_id}|{subject_ref}".encode()


def seal_for_subject(session: Session, ring: Keyring, subject_ref: str, report_id: str, data: bytes) -> bytes:
    """Encrypt a released report under the person's data key, bound to the report id."""
    dek = data_key(ring, get_subject(session, subject_ref))
    return crypto.seal(dek, data, _report_aad(subject_ref, report_id))


def open_for_recipient(
    session: Session, ring: Keyring, clock: Clock, subject_ref: str, report_id: str, sealed: bytes,
    access: AccessContext,
) -> bytes:
    """Decrypt a stored report for its recipient, audited as a retrieval."""
    dek = data_key(ring, get_subject(session, subject_ref))
    data = crypto.unseal(dek, sealed, _report_aad(subject_ref, report_id), f"report {report_id}")
    audit.append(session, clock, audit.EntryDraft(
        actor=access.actor, role=access.role, action=Tag.REPORT_RETRIEVED, subject_ref=subject_ref,
        purpose=access.purpose, basis=access.basis, request_id=access.request_id,
        detail={"report_id": report_id},
    ))
    return data
