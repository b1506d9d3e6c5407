"""The end of a record's life and of a person's file: tombstones and crypto-shredding.

A record past its category's retention period (counted from the end of its display) becomes a tombstone:
its id, person, category, provider, status and dates stay, its sealed payload and document are emptied,
and what was sealed about it elsewhere (period-change documents, objections and their evidence, repair
applications) is deleted. The person's data key stays: their other records are still theirs.

A person erased by an operator loses their data key (crypto-shredding: every ciphertext of theirs, in
this database or in any copy of it, can no longer be opened), their sealed identity, and the blind index
on their row, which is replaced by a random one: looking the person up by citizen ID then finds nobody,
exactly as for someone the service never knew. Their records become tombstones in the same transaction.

Each erasure is an audit entry without personal data: the blind index the log already knows the person
by, record ids, categories and dates. The audit log itself is never touched, so `audit verify` holds.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, exists, func, or_, select, update

from audit.clock import CST
from audit.tags import Tag
from audit.tx import Tx
from vault.errors import SubjectNotFound
from vault.models import (
    Listing,
    ListingVersion,
    Objection,
    ObjectionEvidence,
    Record,
    RecordPeriodChange,
    Repair,
    Subject,
)
from vault.types import ErasedRecord, ErasedSubject, ExpiryCount

# What a tombstone's `sealed` holds: nothing. The column cannot be made nullable on SQLite without rebuilding a
# table that others point to (see migration 0016), and an empty value opens under no key.
EMPTY = b""
# Tombstones of an erased person's records name this as their basis; the operator's words are on the subject.
SUBJECT_ERASED = "subject_erased"
_ERASED_REF = "erased:"


def _display_end(record: Any) -> date | None:
    """Return the day a record stopped being shown: its end, or its revocation if earlier; None: still shown."""
    ends = [record.display_until] if record.display_until is not None else []
    if record.status == "revoked" and record.revoked_at is not None:
        ends.append(record.revoked_at.astimezone(CST).date())
    return min(ends) if ends else None


def _due(bounds: Mapping[str, date]) -> ColumnElement[bool]:
    """Return the condition of records whose display ended on or before their category's bound.

    `bounds[category]` is the last display end whose record is past retention today. A revoked record stopped
    being shown when it was revoked: its instant is compared with the start (CST) of the day after the bound.
    """
    per_category = []
    for category, bound in bounds.items():
        after = datetime.combine(bound + timedelta(days=1), time(0), tzinfo=CST)
        per_category.append(and_(Record.category == category, or_(
            Record.display_until <= bound,
            and_(Record.status == "revoked", Record.revoked_at < after))))
    return or_(*per_category) if per_category else Record.id.is_(None)


# A record with an open objection or repair application is kept until it is decided (its evidence is in use), and
# one a listing that has not ended rests on, until it ends.
_HELD = or_(
    exists().where(Objection.record_id == Record.id, Objection.status.in_(("submitted", "accepted"))),
    exists().where(Repair.record_id == Record.id, Repair.status == "submitted"),
    exists().where(Listing.record_id == Record.id, Listing.status.in_(("proposed", "in_effect", "suspended"))),
)


def count_due(tx: Tx, bounds: Mapping[str, date]) -> list[ExpiryCount]:
    """Return, per category, how many records are past retention now and how many of them an open remedy holds."""
    held = func.sum(case((_HELD, 1), else_=0))
    rows = tx.session.execute(
        select(Record.category, func.count(), held)
        .where(Record.erased_at.is_(None), _due(bounds))
        .group_by(Record.category).order_by(Record.category)
    ).all()
    return [ExpiryCount(category, int(count), int(held_count or 0)) for category, count, held_count in rows]


def expire(tx: Tx, bounds: Mapping[str, date], basis: Callable[[str], str], limit: int) -> list[ErasedRecord]:
    """Make tombstones of up to `limit` records past retention (one audit entry each); return them.

    Rows are locked and the ones another worker holds are skipped (PostgreSQL), and the erasing UPDATE
    re-checks that each is not erased yet, so two runs at once erase every record once and record it once.
    """
    query = (select(Record.id, Record.category, Record.status, Record.display_until, Record.revoked_at,
                    Subject.subject_ref)
             .join(Subject, Subject.id == Record.subject_id)
             .where(Record.erased_at.is_(None), _due(bounds), ~_HELD)
             .order_by(Record.id).limit(limit)
             .with_for_update(of=Record, skip_locked=True))
    rows = tx.session.execute(query).all()
    ended = {row.id: _display_end(row) for row in rows}
    by_category: dict[str, list[str]] = {}
    for row in rows:
        by_category.setdefault(row.category, []).append(row.id)
    erased: set[str] = set()
    for category, ids in by_category.items():
        erased.update(_tombstone(tx, ids, basis(category)))
    _delete_sealed_around(tx, sorted(erased))
    out = []
    for row in rows:
        if row.id not in erased:
            continue
        end = ended[row.id]
        out.append(ErasedRecord(row.id, row.category, end))
        tx.record(Tag.RECORD_ERASED, subject_ref=row.subject_ref, record_ids=[row.id], detail={
            "category": row.category, "display_ended": None if end is None else end.isoformat(),
            "basis": basis(row.category)})
    return out


def _tombstone(tx: Tx, ids: Sequence[str], basis: str) -> list[str]:
    """Empty the sealed columns of the records not erased yet among `ids`; return the ids this call erased."""
    if not ids:
        return []
    return list(tx.session.execute(
        update(Record).where(Record.id.in_(ids), Record.erased_at.is_(None))
        .values(sealed=EMPTY, revoke_reason_ct=None, erased_at=tx.now, erasure_basis=basis)
        .returning(Record.id).execution_options(synchronize_session=False)).scalars())


def _delete_sealed_around(tx: Tx, ids: Sequence[str]) -> None:
    """Delete what was sealed about these records elsewhere: period-change documents, objections, repairs and the
    listings that rested on them (ended ones: a live listing holds its record)."""
    if not ids:
        return
    session = tx.session
    objections = select(Objection.id).where(Objection.record_id.in_(ids))
    session.execute(delete(ObjectionEvidence).where(ObjectionEvidence.objection_id.in_(objections))
                    .execution_options(synchronize_session=False))
    listings = select(Listing.id).where(Listing.record_id.in_(ids))
    session.execute(delete(ListingVersion).where(ListingVersion.listing_id.in_(listings))
                    .execution_options(synchronize_session=False))
    for table in (Objection, Repair, Listing, RecordPeriodChange):
        session.execute(delete(table).where(table.record_id.in_(ids)).execution_options(synchronize_session=False))


def erase_subject(tx: Tx, subject_ref: str, basis: str) -> ErasedSubject:
    """Crypto-shred a person and make tombstones of their records, in `tx`; return what was erased.

    The row is locked first, so a query for the person either read them before (and released what it read, with
    its entry) or finds nobody after. Raises SubjectNotFound for a blind index no person has (erased already, too).
    """
    subject = tx.session.execute(
        select(Subject).where(Subject.subject_ref == subject_ref).with_for_update()).scalar_one_or_none()
    if subject is None:
        raise SubjectNotFound(subject_ref)
    records = list(tx.session.execute(
        select(Record.id, Record.category).where(Record.subject_id == subject.id, Record.erased_at.is_(None))
        .order_by(Record.id)).all())
    ids = _tombstone(tx, [r.id for r in records], SUBJECT_ERASED)
    _delete_sealed_around(tx, ids)
    # Every objection, repair application and listing of the person's goes with its texts, open ones too: nobody
    # can read them any more, and an agency's queue or a list's clock must not wait on them.
    theirs = select(Objection.id).where(Objection.subject_id == subject.id)
    tx.session.execute(delete(ObjectionEvidence).where(ObjectionEvidence.objection_id.in_(theirs))
                       .execution_options(synchronize_session=False))
    listed = select(Listing.id).where(Listing.subject_id == subject.id)
    tx.session.execute(delete(ListingVersion).where(ListingVersion.listing_id.in_(listed))
                       .execution_options(synchronize_session=False))
    for table in (Objection, Repair, Listing):
        tx.session.execute(delete(table).where(table.subject_id == subject.id)
                           .execution_options(synchronize_session=False))
    subject.subject_ref = _ERASED_REF + secrets.token_hex(24)
    subject.wrapped_dek = subject.kek_version = None
    subject.citizen_id_ct = subject.name_ct = None
    subject.shredded_at = tx.now
    subject.erasure_basis = basis
    tx.session.flush()
    categories: dict[str, int] = {}
    for row in records:
        categories[row.category] = categories.get(row.category, 0) + 1
    tx.record(Tag.SUBJECT_ERASED, subject_ref=subject_ref, record_ids=sorted(ids),
              detail={"records": len(ids), "categories": dict(sorted(categories.items()))})
    return ErasedSubject(subject_ref, len(ids), dict(sorted(categories.items())))
