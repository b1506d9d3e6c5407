"""People in the vault: created on first record or enrolment, known by a blind index."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from audit import entries as audit
from audit.clock import Clock
from audit.tags import Tag
from vault import crypto
from vault.access import AccessContext
from vault.errors import SubjectNotFound, SubjectShredded
from vault.keyring import Keyring
from vault.models import Subject


def find_subject(session: Session, subject_ref: str) -> Subject | None:
    """Return the subject with that blind index, or None."""
    return session.execute(select(Subject).where(Subject.subject_ref == subject_ref)).scalar_one_or_none()


def get_subject(session: Session, subject_ref: str) -> Subject:
    """Return the subject with that blind index, or raise SubjectNotFound."""
    subject = find_subject(session, subject_ref)
    if subject is None:
        raise SubjectNotFound(subject_ref)
    return subject


def data_key(ring: Keyring, subject: Subject) -> bytes:
    """Return the subject's data key, or raise SubjectShredded."""
    if subject.wrapped_dek is None or subject.kek_version is None:
        raise SubjectShredded(subject.subject_ref)
    return crypto.unwrap_data_key(ring, subject.kek_version, subject.wrapped_dek, subject.subject_ref)


@dataclass(frozen=True, slots=True)
class KeyedSubject:
    """A subject's row id and blind index with its unwrapped data key, for one transaction's use."""

    id: int
    subject_ref: str
    dek: bytes


def _new_subject_row(ring: Keyring, now: datetime, ref: str, citizen_id: str, name: str | None) -> dict[str, Any]:
    dek = crypto.new_data_key()
    version, wrapped = crypto.wrap_data_key(ring, dek, ref)
    return {
        "subject_ref": ref,
        "kek_version": version,
        "wrapped_dek": wrapped,
        "citizen_id_ct": crypto.seal(dek, citizen_id.encode(), crypto.subject_aad(ref, "citizen_id")),
        "name_ct": crypto.seal(dek, name.encode(), crypto.subject_aad(ref, "name")) if name else None,
        "created_at": now,
        "_dek": dek,
    }


def ensure_subjects(
    session: Session, ring: Keyring, clock: Clock, people: Iterable[tuple[str, str | None]]
) -> dict[str, KeyedSubject]:
    """Return {blind index: KeyedSubject} for every (citizen ID, name), creating the missing ones.

    A name given for a person who has none yet is stored; an existing name is kept, since the
    name of record comes from the identity check at enrolment, not from any one provider.
    """
    wanted: dict[str, tuple[str, str | None]] = {}
    for citizen_id, name in people:
        ref = crypto.blind_index(ring, citizen_id)
        if ref not in wanted or (name and not wanted[ref][1]):
            wanted[ref] = (citizen_id, name)
    # Columns, not objects: an import asks for 500 people a batch, and loading them as objects cost more
    # than the query.
    table = Subject.metadata.tables[Subject.__tablename__]
    found = session.execute(
        select(table.c.id, table.c.subject_ref, table.c.kek_version, table.c.wrapped_dek, table.c.name_ct.is_(None))
        .where(table.c.subject_ref.in_(list(wanted)))
    )
    result: dict[str, KeyedSubject] = {}
    names: list[dict[str, Any]] = []
    for subject_id, ref, version, wrapped, nameless in found:
        if wrapped is None or version is None:
            raise SubjectShredded(ref)
        dek = crypto.unwrap_data_key(ring, version, wrapped, ref)
        name = wanted[ref][1]
        if name and nameless:
            sealed = crypto.seal(dek, name.encode(), crypto.subject_aad(ref, "name"))
            names.append({"row": subject_id, "name_ct": sealed})
        result[ref] = KeyedSubject(subject_id, ref, dek)
    if names:
        session.execute(update(table).where(table.c.id == bindparam("row")).values(name_ct=bindparam("name_ct")), names)
    now = clock.now()
    rows = [_new_subject_row(ring, now, ref, cid, name) for ref, (cid, name) in wanted.items() if ref not in result]
    if rows:
        deks = {row["subject_ref"]: row.pop("_dek") for row in rows}
        inserted = session.execute(insert(table).returning(table.c.id, table.c.subject_ref), rows)
        for subject_id, ref in inserted:
            result[ref] = KeyedSubject(subject_id, ref, deks[ref])
    session.flush()
    return result


@dataclass(frozen=True, slots=True)
class Identity:
    citizen_id: str
    name: str | None


def reveal_identity(ring: Keyring, subject: Subject) -> Identity:
    """Return the person's ID and name, for their own eyes only; raises SubjectShredded."""
    dek = data_key(ring, subject)
    ref = subject.subject_ref
    assert subject.citizen_id_ct is not None
    citizen_id = crypto.unseal(dek, subject.citizen_id_ct, crypto.subject_aad(ref, "citizen_id"), "citizen ID")
    name = None
    if subject.name_ct is not None:
        name = crypto.unseal(dek, subject.name_ct, crypto.subject_aad(ref, "name"), "name").decode()
    return Identity(citizen_id.decode(), name)


def shred(session: Session, clock: Clock, subject_ref: str, access: AccessContext) -> None:
    """Destroy the subject's data key: every payload, the ID and the name become unreadable."""
    subject = get_subject(session, subject_ref)
    subject.wrapped_dek = None
    subject.kek_version = None
    subject.shredded_at = clock.now()
    session.flush()
    audit.append(
        session,
        clock,
        audit.EntryDraft(
            actor=access.actor,
            role=access.role,
            action=Tag.SUBJECT_SHREDDED,
            subject_ref=subject_ref,
            purpose=access.purpose,
            basis=access.basis,
            request_id=access.request_id,
        ),
    )
