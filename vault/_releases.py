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
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select

from audit import dbapi
from audit.tags import Tag
from audit.tx import Tx
from vault import _crypto
from vault._keyring import Keyring
from vault._subjects import SealedSubject, data_key, get_sealed, reveal_identity
from vault.errors import SubjectNotFound
from vault.identity import mask_citizen_id
from vault.models import Record, Subject
from vault.types import RecordDates, Release, Released, Selection


def release(tx: Tx, ring: Keyring, subject_ref: str, selection: Selection, detail: Mapping[str, Any]) -> Release:
    """Return the selected, displayable records of a person, recorded as a release in `tx`.

    The person's row and their selected records are read in one statement. Raises SubjectNotFound or
    SubjectShredded.
    """
    subject, rows, listed = _subject_and_selected(tx, subject_ref, selection)
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
                                 disputed, declared is not None))
    masked = mask_citizen_id(reveal_identity(dek, subject).citizen_id)
    tx.record(Tag.QUERY_RELEASED, subject_ref=subject_ref, record_ids=[r.id for r in released], detail=detail)
    return Release(masked, released, listed, subject_ref, dek)


# The person's row, joined to their selected records (none: one row of NULLs), so that a query reads the
# person and the records in one round trip, with the record's open objection beside it (the unique index
# allows at most one) and the verified declaration it was made of, if any (flagged self-reported, VOL-1), and
# whether the person is on a list now (most are not: the consent context then need not look for listings).
# Run on the driver's cursor (audit.dbapi): this is the authorised query's read, and SQLAlchemy's expanding
# IN list and date parsing cost more than the statement. One text per number of categories.
_SUBJECT_AND_SELECTED = """
SELECT s.id, s.subject_ref, s.kek_version, s.wrapped_dek, s.citizen_id_ct, s.name_ct,
       r.id, r.category, r.decided_at, r.display_until, r.sealed,
       (SELECT o.submitted_at FROM objections o
        WHERE o.record_id = r.id AND o.status IN ('submitted', 'accepted')) AS disputed_since,
       (SELECT d.id FROM declarations d WHERE d.record_id = r.id AND d.status = 'verified') AS declaration_id,
       EXISTS (SELECT 1 FROM listings l WHERE l.subject_id = s.id AND l.status = 'in_effect') AS listed
FROM subjects s LEFT OUTER JOIN records r ON r.subject_id = s.id
     AND r.status = 'active'
     AND r.erased_at IS NULL
     AND r.repaired_at IS NULL
     AND r.category IN ({categories})
     AND r.display_from <= :shown_on
     AND (r.display_until IS NULL OR r.display_until > :shown_on)
     AND (r.decided_at >= :decided_since OR r.period_source != 'catalogue')
WHERE s.subject_ref = :ref
ORDER BY r.decided_at DESC, r.id"""
# Each condition of the join, and why:
# - erased: a tombstone's display ended long ago; said here too, as its sealed is empty;
# - repaired (信用修复): no third party receives it any more (REP-8, REP-9);
# - display_until NULL: shown until the producing agency ends it;
# - a purpose's data range limits how old a record shown for the catalogue's period may be; a record with
#   its own period (a listing until performance, a ban in force, an extension) is current while shown.


@lru_cache(maxsize=64)
def _subject_and_selected_statement(categories: int) -> dbapi.Statement:
    return dbapi.expanded(_SUBJECT_AND_SELECTED, categories=categories)


def _subject_and_selected(tx: Tx, subject_ref: str, selection: Selection) -> tuple[SealedSubject, list[Any], bool]:
    if not selection.fields:
        return get_sealed(tx, subject_ref), [], False  # nothing selected: no list's category either
    conn = tx.session.connection()
    sqlite = conn.dialect.name == "sqlite"
    params: dict[str, Any] = {
        "ref": subject_ref,
        "shown_on": selection.shown_on.isoformat() if sqlite else selection.shown_on,
        "decided_since": selection.decided_since.isoformat() if sqlite else selection.decided_since,
    }
    params.update(dbapi.listed("categories", list(selection.fields)))
    rows = dbapi.execute(conn, _subject_and_selected_statement(len(selection.fields)), params)
    if not rows:
        raise SubjectNotFound(subject_ref)
    read_date, read_time = dbapi.read_date, dbapi.read_time
    selected = [(record_id, category, dbapi.to_date(decided), read_date(until), bytes(sealed), read_time(disputed),
                 declared)
                for *_, record_id, category, decided, until, sealed, disputed, declared, _listed in rows
                if record_id is not None]
    first = rows[0]
    subject = SealedSubject(first[0], first[1], first[2], _bytes(first[3]), _bytes(first[4]), _bytes(first[5]))
    return subject, selected, bool(first[-1])


def _bytes(value: bytes | memoryview | None) -> bytes | None:
    return None if value is None else bytes(value)


def _aware(at: datetime) -> datetime:
    # A column of a scalar subquery comes back as the driver gives it: naive UTC on SQLite.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


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
