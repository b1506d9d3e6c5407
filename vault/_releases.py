"""Releases to third parties: only the selected categories and fields, and only with an audit entry.

The consent context decides what may be released (its selection); the vault applies it while
decrypting, so a field outside the selection never leaves the vault in plaintext. The person's
row is read and their data key unwrapped once per release; the report made of it is sealed for
the person with the same key.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select

from audit.tags import Tag
from audit.tx import Tx
from vault import _crypto
from vault._keyring import Keyring
from vault._subjects import SealedSubject, data_key, get_sealed, reveal_identity
from vault.errors import SubjectNotFound
from vault.identity import mask_citizen_id
from vault.models import Declaration, Objection, Record, Subject
from vault.types import RecordDates, Release, Released, Selection


def release(tx: Tx, ring: Keyring, subject_ref: str, selection: Selection, detail: Mapping[str, Any]) -> Release:
    """Return the selected, displayable records of a person, recorded as a release in `tx`.

    The person's row and their selected records are read in one statement. Raises SubjectNotFound or
    SubjectShredded.
    """
    subject, rows = _subject_and_selected(tx, subject_ref, selection)
    dek = data_key(ring, subject)
    released = []
    for record_id, category, decided_at, display_until, sealed, disputed, declared in rows:
        if disputed is not None and category in selection.withheld_while_disputed:
            continue  # 核实期间暂不执行: not released while the objection to it is verified (OBJ-2)
        body = json.loads(_crypto.unseal(dek, sealed, _crypto.record_aad(record_id, subject_ref, category),
                                        f"record {record_id}"))
        if selection.only is not None and body["payload"].get(selection.only[0]) != selection.only[1]:
            continue  # outside the one value the report is limited to (one occupational group's records)
        allowed = selection.fields[category]
        released.append(Released(record_id, category, decided_at, display_until,
                                 {k: v for k, v in body["payload"].items() if k in allowed},
                                 None if disputed is None else _aware(disputed), declared is not None))
    masked = mask_citizen_id(reveal_identity(dek, subject).citizen_id)
    tx.record(Tag.QUERY_RELEASED, subject_ref=subject_ref, record_ids=[r.id for r in released], detail=detail)
    return Release(masked, released, subject_ref, dek)


# An open objection on the record, read in the same statement (the unique index allows at most one).
_DISPUTED = (
    select(Objection.submitted_at)
    .where(Objection.record_id == Record.id, Objection.status.in_(("submitted", "accepted")))
    .correlate(Record).scalar_subquery()
)

# The verified declaration a record was made of, if any (flagged self-reported, VOL-1), in the same statement.
_DECLARED = (
    select(Declaration.id)
    .where(Declaration.record_id == Record.id, Declaration.status == "verified")
    .correlate(Record).scalar_subquery()
)

# Built once: making the expression costs more than running it. The person's row, joined to their selected
# records (none: one row of NULLs), so that a query reads the person and the records in one round trip.
_SUBJECT_AND_SELECTED = (
    select(Subject.id, Subject.subject_ref, Subject.kek_version, Subject.wrapped_dek, Subject.citizen_id_ct,
           Subject.name_ct, Record.id, Record.category, Record.decided_at, Record.display_until, Record.sealed,
           _DISPUTED.label("disputed_since"), _DECLARED.label("declaration_id"))
    .select_from(Subject)
    .outerjoin(Record, and_(
        Record.subject_id == Subject.id,
        Record.status == "active",
        Record.erased_at.is_(None),  # a tombstone's display ended long ago; said here too, as its sealed is empty
        Record.repaired_at.is_(None),  # repaired (信用修复): no third party receives it any more (REP-8, REP-9)
        Record.category.in_(bindparam("categories", expanding=True)),
        Record.display_from <= bindparam("shown_on"),
        # NULL: shown until the producing agency ends it.
        or_(Record.display_until.is_(None), Record.display_until > bindparam("shown_on")),
        # A purpose's data range limits how old a record shown for the catalogue's period may be; a record
        # with its own period (a listing until performance, a ban in force, an extension) is current while shown.
        or_(Record.decided_at >= bindparam("decided_since"), Record.period_source != "catalogue"),
    ))
    .where(Subject.subject_ref == bindparam("ref"))
    .order_by(Record.decided_at.desc(), Record.id)
)


def _aware(at: datetime) -> datetime:
    # A column of a scalar subquery comes back as the driver gives it: naive UTC on SQLite.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _subject_and_selected(tx: Tx, subject_ref: str, selection: Selection) -> tuple[SealedSubject, list[Any]]:
    if not selection.fields:
        return get_sealed(tx, subject_ref), []
    rows = tx.session.connection().execute(_SUBJECT_AND_SELECTED, {
        "ref": subject_ref, "categories": list(selection.fields), "shown_on": selection.shown_on,
        "decided_since": selection.decided_since}).all()
    if not rows:
        raise SubjectNotFound(subject_ref)
    return SealedSubject(*rows[0][:6]), [row[6:] for row in rows if row[6] is not None]


def open_for_recipient(tx: Tx, ring: Keyring, subject_ref: str, report_id: str, sealed: bytes) -> bytes:
    """Decrypt a stored report for its recipient, recorded as a retrieval in `tx`."""
    dek = data_key(ring, get_sealed(tx, subject_ref))
    data = _crypto.unseal(dek, sealed, _crypto.report_aad(subject_ref, report_id), f"report {report_id}")
    tx.record(Tag.REPORT_RETRIEVED, subject_ref=subject_ref, detail={"report_id": report_id})
    return data


# Built once. The person's records of some categories, their state and dates only: nothing sealed is read.
_DATES = (
    select(Record.id, Record.category, Record.status, Record.decided_at, Record.display_from, Record.display_until,
           Record.period_source, Record.repaired_at)
    .join(Subject, Subject.id == Record.subject_id)
    .where(Subject.subject_ref == bindparam("ref"), Record.category.in_(bindparam("categories", expanding=True)))
    .order_by(Record.decided_at.desc(), Record.id)
)


def record_dates(tx: Tx, subject_ref: str, categories: Collection[str]) -> list[RecordDates]:
    """Return the state and dates of the person's records in these categories, in one statement, none of their
    contents; every record, whatever its state, so that the caller can say why one is not weighed."""
    rows = tx.session.connection().execute(_DATES, {"ref": subject_ref, "categories": sorted(categories)}).all()
    return [RecordDates(r.id, r.category, r.status, r.decided_at, r.display_from, r.display_until,
                        r.period_source, None if r.repaired_at is None else _aware(r.repaired_at)) for r in rows]
