"""People in the vault: created on first record or enrolment, known by a blind index."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from audit import dbapi
from audit.clock import Clock
from audit.tags import Tag
from audit.tx import Tx
from vault import _crypto
from vault._keyring import Keyring
from vault.errors import SubjectNotFound, SubjectShredded
from vault.models import Subject
from vault.types import Identity


def find_subject(session: Session, subject_ref: str) -> Subject | None:
    """Return the subject with that blind index, or None."""
    return session.execute(select(Subject).where(Subject.subject_ref == subject_ref)).scalar_one_or_none()


def get_subject(session: Session, subject_ref: str) -> Subject:
    """Return the subject with that blind index, or raise SubjectNotFound."""
    subject = find_subject(session, subject_ref)
    if subject is None:
        raise SubjectNotFound(subject_ref)
    return subject


@dataclass(frozen=True, slots=True)
class SealedSubject:
    """A subject's columns as read for one request: its keys and sealed identity, no ORM object."""

    id: int
    subject_ref: str
    kek_version: int | None
    wrapped_dek: bytes | None
    citizen_id_ct: bytes | None
    name_ct: bytes | None


_SEALED = select(Subject.id, Subject.subject_ref, Subject.kek_version, Subject.wrapped_dek, Subject.citizen_id_ct,
                 Subject.name_ct).where(Subject.subject_ref == bindparam("ref"))


def get_sealed(tx: Tx, subject_ref: str) -> SealedSubject:
    """Return the subject's keys and sealed identity in one Core read; raise SubjectNotFound."""
    row = tx.session.connection().execute(_SEALED, {"ref": subject_ref}).first()
    if row is None:
        raise SubjectNotFound(subject_ref)
    return SealedSubject(*row)


def data_key(ring: Keyring, subject: Subject | SealedSubject) -> bytes:
    """Return the subject's data key, or raise SubjectShredded."""
    if subject.wrapped_dek is None or subject.kek_version is None:
        raise SubjectShredded(subject.subject_ref)
    return _crypto.unwrap_data_key(ring, subject.kek_version, subject.wrapped_dek, subject.subject_ref)


@dataclass(frozen=True, slots=True)
class KeyedSubject:
    """A subject's row id and blind index with its unwrapped data key, for one transaction's use."""

    id: int
    subject_ref: str
    dek: bytes


def _new_subject_row(ring: Keyring, now: datetime, ref: str, citizen_id: str, name: str | None) -> dict[str, Any]:
    dek = _crypto.new_data_key()
    version, wrapped = _crypto.wrap_data_key(ring, dek, ref)
    return {
        "subject_ref": ref,
        "kek_version": version,
        "wrapped_dek": wrapped,
        "citizen_id_ct": _crypto.seal(dek, citizen_id.encode(), _crypto.subject_aad(ref, "citizen_id")),
        "name_ct": _crypto.seal(dek, name.encode(), _crypto.subject_aad(ref, "name")) if name else None,
        "created_at": now,
        "_dek": dek,
    }


def ensure_subjects(
    session: Session, ring: Keyring, clock: Clock, people: Iterable[tuple[str, str | None]],
    checked: bool = False, refs: Mapping[str, str] | None = None,
) -> dict[str, KeyedSubject]:
    """Return {blind index: KeyedSubject} for every (citizen ID, name), creating the missing ones.

    The name of record comes from the identity check at a counter (`checked`): it replaces whatever
    was there. Callers without such a check (providers) pass no name; theirs stays with their record.
    `refs` may give the blind index of each citizen ID, if the caller computed them already.
    """
    wanted: dict[str, tuple[str, str | None]] = {}
    for citizen_id, name in people:
        ref = refs[citizen_id] if refs is not None else _crypto.blind_index(ring, citizen_id)
        if ref not in wanted or (name and not wanted[ref][1]):
            wanted[ref] = (citizen_id, name)
    # Columns, not objects: an import asks for 500 people a batch, and loading them as objects cost more
    # than the query.
    table = Subject.metadata.tables[Subject.__tablename__]
    result = _existing_subjects(session, ring, table, wanted, checked)
    now = clock.now()
    rows = [_new_subject_row(ring, now, ref, cid, name) for ref, (cid, name) in wanted.items() if ref not in result]
    if rows:
        deks = {row["subject_ref"]: row.pop("_dek") for row in rows}
        # Two requests may bring the same new person at once: the second insert skips the row the first
        # made (on PostgreSQL it waits for the first to commit), and the person is read back instead.
        dialect = session.get_bind().dialect.name
        make = pg_insert if dialect == "postgresql" else sqlite_insert
        inserted = session.execute(
            make(table).on_conflict_do_nothing(index_elements=["subject_ref"])
            .returning(table.c.id, table.c.subject_ref), rows)
        for subject_id, ref in inserted:
            result[ref] = KeyedSubject(subject_id, ref, deks[ref])
        raced = {ref: wanted[ref] for ref in deks if ref not in result}
        if raced:
            result.update(_existing_subjects(session, ring, table, raced, checked))
    session.flush()
    return result


# On the driver's cursor (audit.dbapi): an import looks up 500 people a batch, and SQLAlchemy's expanding of
# the IN list and psycopg's parsing of the text it rendered cost more than the lookup. On PostgreSQL one text
# with an array (the unique index is searched per element); on SQLite one text per list length.
_EXISTING = "SELECT id, subject_ref, kek_version, wrapped_dek, name_ct IS NULL FROM subjects WHERE subject_ref"
_EXISTING_PG = dbapi.Statement(_EXISTING + " = ANY(CAST(:refs AS varchar[]))", binary=True)


@lru_cache(maxsize=64)
def _existing_statement(count: int) -> dbapi.Statement:
    return dbapi.expanded(_EXISTING + " IN ({refs})", refs=count)


def _existing_subjects(session: Session, ring: Keyring, table: Any,
                       wanted: dict[str, tuple[str, str | None]], checked: bool) -> dict[str, KeyedSubject]:
    conn = session.connection()
    refs = list(wanted)
    if conn.dialect.name == "postgresql":
        found = dbapi.execute(conn, _EXISTING_PG, {"refs": refs})
    else:
        found = dbapi.execute(conn, _existing_statement(len(refs)), dbapi.listed("refs", refs))
    result: dict[str, KeyedSubject] = {}
    names: list[dict[str, Any]] = []
    for subject_id, ref, version, wrapped, nameless in found:
        if wrapped is None or version is None:
            raise SubjectShredded(ref)
        dek = _crypto.unwrap_data_key(ring, version, wrapped, ref)
        name = wanted[ref][1]
        if name and (nameless or checked):
            sealed = _crypto.seal(dek, name.encode(), _crypto.subject_aad(ref, "name"))
            names.append({"row": subject_id, "name_ct": sealed})
        result[ref] = KeyedSubject(subject_id, ref, dek)
    if names:
        session.execute(update(table).where(table.c.id == bindparam("row")).values(name_ct=bindparam("name_ct")), names)
    return result


def reveal_identity(dek: bytes, subject: Subject | SealedSubject) -> Identity:
    """Return the person's ID and name with their data key (inside an audited vault call only)."""
    ref = subject.subject_ref
    assert subject.citizen_id_ct is not None
    citizen_id = _crypto.unseal(dek, subject.citizen_id_ct, _crypto.subject_aad(ref, "citizen_id"), "citizen ID")
    name = None
    if subject.name_ct is not None:
        name = _crypto.unseal(dek, subject.name_ct, _crypto.subject_aad(ref, "name"), "name").decode()
    return Identity(citizen_id.decode(), name)


def shred(tx: Tx, subject_ref: str) -> None:
    """Destroy the subject's data key: every payload, the ID and the name become unreadable."""
    subject = get_subject(tx.session, subject_ref)
    subject.wrapped_dek = None
    subject.kek_version = None
    subject.shredded_at = tx.now
    tx.session.flush()
    tx.record(Tag.SUBJECT_SHREDDED, subject_ref=subject_ref)
