"""Credit records: sealed per person, released only with an audit entry."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String, any_, bindparam, case, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from audit import dbapi, jsontext
from audit.clock import CST
from audit.tags import Tag
from audit.tx import Tx
from vault import _crypto
from vault._keyring import Keyring
from vault._subjects import SealedSubject, data_key, ensure_subjects, get_sealed, reveal_identity
from vault.errors import RecordConflict, RecordNotFound, SubjectNotFound
from vault.models import Record, RecordPeriodChange, Subject
from vault.types import (
    Document,
    FilingRate,
    Ingested,
    NewRecord,
    OwnFile,
    Packed,
    PeriodChangeView,
    PeriodState,
    Prepared,
    Provider,
    RecordDraft,
    RecordView,
)


def new_record_id() -> str:
    """Return an unguessable record id."""
    return new_record_ids(1)[0]


def new_record_ids(count: int) -> list[str]:
    """Return `count` unguessable record ids that sort next to each other: a random prefix they share (32 bits)
    and 80 random bits each, 32 characters.

    An import stores 500 records a batch into the primary key's index: with ids spread over the whole index
    each record dirtied a page of its own (written to the WAL at the commit, checkpointed later); ids that
    share a prefix land on a few neighbouring pages. The prefix is random, not a time, so an id says nothing
    of when its record was filed (DISC-4: only auditors learn whether it was filed on time), only that ids
    with the same prefix were stored together.
    """
    prefix = secrets.token_hex(4)
    tails = secrets.token_hex(10 * count)
    return [f"rec_{prefix}{tails[i:i + 20]}" for i in range(0, 20 * count, 20)]


def _document_json(document: Document | None) -> dict[str, str] | None:
    if document is None:
        return None
    return {
        "type": document.type,
        "number": document.number,
        "authority": document.authority,
        "effective_at": document.effective_at.isoformat(),
    }


# Equality on the provider and a list of keys, so the unique index is searched once per key; a
# (provider_id, key) IN (pairs) is planned as a scan of the provider's records on both backends,
# which made the import's cost per batch grow with the table (111 ms on SQLite, 174 ms on
# PostgreSQL per 500 keys at 200 k records, against 4-5 ms). On the driver's cursor (audit.dbapi): SQLAlchemy's
# expanding of 500 keys and psycopg's parsing of the text it rendered cost more than the lookup.
_EXISTING = ("SELECT idempotency_key, id, status, display_from, display_until, request_fingerprint, filed_late,"
             " version FROM records WHERE provider_id = :provider_id AND idempotency_key")
# On PostgreSQL `idempotency_key = ANY(keys)` was still planned, from statistics of a smaller table (never
# analysed while an import grows it, or a generic plan kept from then), as an index scan of the provider alone
# with the keys as a filter: every record of the provider read per batch, 0.5 s per 500 keys at 850,000
# records in the full-scale bench. A lateral lookup per key, equal on both columns of the unique index, is at
# most one row whatever the statistics say, so it is planned as one index search per key.
_EXISTING_PG = dbapi.Statement(
    "SELECT r.idempotency_key, r.id, r.status, r.display_from, r.display_until, r.request_fingerprint,"
    " r.filed_late, r.version FROM unnest(CAST(:keys AS varchar[])) AS k(key)"
    " CROSS JOIN LATERAL (SELECT idempotency_key, id, status, display_from, display_until, request_fingerprint,"
    " filed_late, version FROM records WHERE provider_id = :provider_id AND idempotency_key = k.key LIMIT 1) AS r",
    binary=True)


@lru_cache(maxsize=64)
def _existing_statement(count: int) -> dbapi.Statement:
    return dbapi.expanded(_EXISTING + " IN ({keys})", keys=count)


def _existing_lookup(dialect: str, provider_id: str, keys: list[str]) -> tuple[dbapi.Statement, dict[str, Any]]:
    """Return the statement that looks a provider's keys up, and its parameters."""
    if dialect == "postgresql":
        return _EXISTING_PG, {"provider_id": provider_id, "keys": keys}
    params = dbapi.listed("keys", keys)
    params["provider_id"] = provider_id
    return _existing_statement(len(keys)), params


def _existing(session: Session, provider_id: str, keys: list[str]) -> dict[str, _Earlier]:
    if not keys:
        return {}
    conn = session.connection()
    rows = dbapi.execute(conn, *_existing_lookup(conn.dialect.name, provider_id, keys))
    return {key: _Earlier(record_id, status, dbapi.to_date(since), dbapi.read_date(until), fingerprint,
                          bool(late), version)
            for key, record_id, status, since, until, fingerprint, late, version in rows}


@dataclass(frozen=True, slots=True)
class _Earlier:
    """The columns of an earlier record that an import or a retry with its idempotency key needs."""

    id: str
    status: str
    display_from: date
    display_until: date | None
    request_fingerprint: str | None
    filed_late: bool
    version: int


def pack(ring: Keyring, prepared: Prepared, idempotency_key: str | None = None) -> Packed:
    """Return the record ready to store: its person's blind index, its body encoded (no database touched).

    `idempotency_key`, if given, replaces the record's own (an import keys each line by its content).
    """
    record = prepared.record
    body = _BODY({"payload": prepared.payload, "document": _document_json(record.document),
                  "name": record.name}).encode()
    return Packed(idempotency_key or record.idempotency_key, prepared.fingerprint, record.citizen_id,
                  _crypto.blind_index(ring, record.citizen_id), record.category, prepared.catalogue_version,
                  record.decided_at, prepared.display_from, prepared.display_until, prepared.period_source,
                  prepared.publication_due, prepared.filed_late, body)


def ingest(tx: Tx, ring: Keyring, provider: Provider, batch: Sequence[Prepared | Packed]) -> list[Ingested]:
    """Store prepared records (one audit entry each) and return what became of each.

    A record whose idempotency key was seen before is not stored again: the earlier one is
    returned if the request is the same, RecordConflict is raised if it differs.
    """
    packed = [p if isinstance(p, Packed) else pack(ring, p) for p in batch]
    keys = [p.idempotency_key for p in packed if p.idempotency_key]
    seen = _existing(tx.session, provider.client_id, keys)
    fresh: list[Packed] = []
    results: list[Ingested | Packed] = []
    for prepared in packed:
        key = prepared.idempotency_key
        earlier = seen.get(key) if key else None
        if earlier is not None:
            if earlier.request_fingerprint != prepared.fingerprint:
                raise RecordConflict(f"idempotency key {key!r} was used for a different request")
            results.append(Ingested(earlier.id, earlier.status, earlier.display_from, earlier.display_until, False,
                                    earlier.filed_late, earlier.version))
        else:
            fresh.append(prepared)
            results.append(prepared)
    stored = _store(tx, ring, provider, _unique_by_key(fresh))
    out: list[Ingested] = []
    created: set[str] = set()
    for item in results:
        if isinstance(item, Ingested):
            out.append(item)
            continue
        record = stored[_slot(item)]
        # A key repeated in the batch: its first line created the record, the others are retries of it.
        out.append(replace(record, created=False) if record.id in created else record)
        created.add(record.id)
    return out


def _slot(prepared: Packed) -> str:
    return prepared.idempotency_key or f"#{id(prepared)}"


def _unique_by_key(batch: list[Packed]) -> list[Packed]:
    firsts: dict[str, Packed] = {}
    for prepared in batch:
        slot = _slot(prepared)
        if slot in firsts and firsts[slot].fingerprint != prepared.fingerprint:
            raise RecordConflict(f"idempotency key {slot!r} is used twice with different content")
        firsts.setdefault(slot, prepared)
    return list(firsts.values())


def _store(tx: Tx, ring: Keyring, provider: Provider, batch: list[Packed]) -> dict[str, Ingested]:
    if not batch:
        return {}
    session = tx.session
    # A provider's name for the person stays with its record: the person's name is the one checked at a counter.
    refs = {p.citizen_id: p.subject_ref for p in batch}
    subjects = ensure_subjects(session, ring, tx.clock, [(cid, None) for cid in refs], refs=refs)
    conn = session.connection()
    dialect = conn.dialect.name
    created_at = dbapi.bind_time(dialect, tx.now)
    client_id = provider.client_id
    stored: dict[str, Ingested] = {}
    rows: list[dict[str, Any]] = []
    nonces = _crypto.nonces(len(batch))
    for index, (prepared, record_id) in enumerate(zip(batch, new_record_ids(len(batch)), strict=True)):
        subject = subjects[prepared.subject_ref]
        aad = _crypto.record_aad(record_id, subject.subject_ref, prepared.category)
        rows.append({
            "id": record_id,
            "subject_id": subject.id,
            "category": prepared.category,
            "catalogue_version": prepared.catalogue_version,
            "provider_id": client_id,
            "decided_at": dbapi.bind_date(dialect, prepared.decided_at),
            "display_from": dbapi.bind_date(dialect, prepared.display_from),
            "display_until": dbapi.bind_date(dialect, prepared.display_until),
            "period_source": prepared.period_source,
            "publication_due": dbapi.bind_date(dialect, prepared.publication_due),
            "filed_late": prepared.filed_late,
            "sealed": _crypto.seal(subject.dek, prepared.body, aad, nonces[index]),
            "idempotency_key": prepared.idempotency_key,
            "request_fingerprint": prepared.fingerprint,
            "created_at": created_at,
        })
        stored[_slot(prepared)] = Ingested(record_id, "active", prepared.display_from, prepared.display_until, True,
                                           prepared.filed_late)
    inserted = _insert(conn, rows)
    raced: list[Packed] = []
    for prepared, row in zip(batch, rows, strict=True):
        if inserted is not None and row["id"] not in inserted:
            raced.append(prepared)
            continue
        detail: dict[str, Any] = {"category": prepared.category}
        if prepared.publication_due is not None:
            # DISC-4: auditors see whether it was filed on time; third parties never see this entry.
            detail["publication_due"] = prepared.publication_due.isoformat()
            detail["filed_late"] = prepared.filed_late
        tx.record(Tag.RECORD_INGESTED, subject_ref=prepared.subject_ref, record_ids=(row["id"],), detail=detail)
    stored.update(_earlier_results(session, provider, raced))
    return stored


# The same text as json.dumps with these options, from an encoder built once (audit.jsontext).
_BODY = jsontext.encoder(compact=True, ensure_ascii=False)

# Straight on the driver (audit.dbapi), as a Core executemany would send it: SQLAlchemy's processing of
# each row's parameters cost more than the insert itself. ON CONFLICT DO NOTHING: see _insert.
_INSERT = dbapi.Statement(
    "INSERT INTO records (id, subject_id, category, catalogue_version, provider_id, status, decided_at,"
    " display_from, display_until, period_source, version, publication_due, filed_late, sealed, idempotency_key,"
    " request_fingerprint, created_at) VALUES (:id, :subject_id, :category, :catalogue_version, :provider_id,"
    " 'active', :decided_at, :display_from, :display_until, :period_source, 1, :publication_due, :filed_late,"
    " :sealed, :idempotency_key, :request_fingerprint, :created_at)"
    " ON CONFLICT (provider_id, idempotency_key) DO NOTHING")
# The same on PostgreSQL in one statement, each column an array (dbapi.insert_many).
_INSERT_COLUMNS = dbapi.Statement(
    "INSERT INTO records (id, subject_id, category, catalogue_version, provider_id, status, decided_at,"
    " display_from, display_until, period_source, version, publication_due, filed_late, sealed, idempotency_key,"
    " request_fingerprint, created_at) SELECT id, subject_id, category, catalogue_version, provider_id, 'active',"
    " decided_at, display_from, display_until, period_source, 1, publication_due, filed_late, sealed,"
    " idempotency_key, request_fingerprint, created_at FROM unnest(CAST(:id AS varchar[]),"
    " CAST(:subject_id AS integer[]), CAST(:category AS varchar[]), CAST(:catalogue_version AS varchar[]),"
    " CAST(:provider_id AS varchar[]), CAST(:decided_at AS date[]), CAST(:display_from AS date[]),"
    " CAST(:display_until AS date[]), CAST(:period_source AS varchar[]), CAST(:publication_due AS date[]),"
    " CAST(:filed_late AS boolean[]), CAST(:sealed AS bytea[]), CAST(:idempotency_key AS varchar[]),"
    " CAST(:request_fingerprint AS varchar[]), CAST(:created_at AS timestamp[]))"
    " AS t(id, subject_id, category, catalogue_version, provider_id, decided_at, display_from, display_until,"
    " period_source, publication_due, filed_late, sealed, idempotency_key, request_fingerprint, created_at)"
    " ON CONFLICT (provider_id, idempotency_key) DO NOTHING", binary=True)


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> set[str] | None:
    """Insert the rows, skipping any whose idempotency key another transaction stored meanwhile; return the ids
    stored, or None if all were.

    Two imports of one file (or two retries of one request) both find a key missing and both insert it: on
    PostgreSQL the second insert waits for the first to commit and would then fail the whole batch. ON CONFLICT
    DO NOTHING skips that row instead, and the caller reads the winner's record back.
    """
    # Without RETURNING, which made a batch of 500 two to three times slower on PostgreSQL.
    if dbapi.insert_many(conn, _INSERT, rows, _INSERT_COLUMNS) == len(rows):
        return None  # both count the rows inserted (SQLite over an executemany; PostgreSQL's one statement)
    # The ids are new and random, so those that exist now are the rows this insert stored.
    ids = [row["id"] for row in rows]
    mine = (Record.id == any_(bindparam("ids", ids, type_=ARRAY(String))) if conn.dialect.name == "postgresql"
            else Record.id.in_(ids))
    return set(conn.execute(select(Record.id).where(mine)).scalars())


def _earlier_results(session: Session, provider: Provider, raced: list[Packed]) -> dict[str, Ingested]:
    """Return what became of records another transaction stored first: theirs, or RecordConflict if they differ."""
    # Under READ COMMITTED this statement sees the row the winner committed while our insert waited for it.
    earlier = _existing(session, provider.client_id, [p.idempotency_key for p in raced if p.idempotency_key])
    results: dict[str, Ingested] = {}
    for prepared in raced:
        key = prepared.idempotency_key
        found = earlier.get(key or "")
        if found is None:  # only a key's conflict skips a row, and its winner is committed
            raise RecordConflict(f"record with idempotency key {key!r} not stored")
        if found.request_fingerprint != prepared.fingerprint:
            raise RecordConflict(f"idempotency key {key!r} was used for a different request")
        results[_slot(prepared)] = Ingested(found.id, found.status, found.display_from, found.display_until, False,
                                            found.filed_late, found.version)
    return results


def _view(subject_ref: str, cipher: AESGCM, row: Sequence[Any], changes: Sequence[PeriodChangeView],
          day: Callable[[Any], date], moment: Callable[[Any], datetime]) -> RecordView:
    """Return the view of a row of _OWN, its dates and times made with `day` and `moment` (_driver_values)."""
    (record_id, category, provider_id, status, decided_at, display_from, display_until, created_at, revoked_at,
     sealed, version, repaired_at, repair_effect, period_source) = row
    aad = _crypto.record_aad(record_id, subject_ref, category)
    # Sealed as UTF-8 (_BODY, encoded strictly), so decoded as such: json.loads of bytes guesses the encoding first.
    body = json.loads(_crypto.unseal(cipher, bytes(sealed), aad, f"record {record_id}").decode())
    return RecordView(
        record_id, category, provider_id, status, day(decided_at), day(display_from),
        None if display_until is None else day(display_until), moment(created_at),
        None if revoked_at is None else moment(revoked_at), body["payload"], body["document"], version,
        tuple(changes), None if repaired_at is None else moment(repaired_at), repair_effect,
        period_source or "catalogue",
    )


def _driver_values(dialect: str) -> tuple[Callable[[Any], date], Callable[[Any], datetime]]:
    """Return how a date and a time of the driver's rows become a date and an aware UTC time: on SQLite they are
    text and parsed at once, not through dbapi's to_date and to_time, which ask what they were given each time
    (six a record, a tenth of reading a person's records)."""
    if dialect == "sqlite":
        return date.fromisoformat, dbapi.from_sqlite_time
    return dbapi.to_date, dbapi.to_time


# The person's row joined to every record about them (none: one row of NULLs), on the driver's cursor
# (audit.dbapi): a self report reads these on every request, and SQLAlchemy's parsing of six dates and times
# a row cost more than the statement. Beside each record, what the person's report shows with it, so that
# none takes a statement of its own: its open objection and open repair application (unique indexes allow
# at most one of each: OPEN_OBJECTION, OPEN_REPAIR in vault.models), and the verified declaration it was
# made of (VOL-1); and whether the person has any listing. Tombstones (erased records) have nothing to show.
_OWN = dbapi.Statement("""
SELECT s.id, s.subject_ref, s.kek_version, s.wrapped_dek, s.citizen_id_ct, s.name_ct,
       r.id, r.category, r.provider_id, r.status, r.decided_at, r.display_from, r.display_until, r.created_at,
       r.revoked_at, r.sealed, r.version, r.repaired_at, r.repair_effect, r.period_source,
       (SELECT o.id FROM objections o
        WHERE o.record_id = r.id AND o.status IN ('submitted', 'accepted')) AS objection_id,
       (SELECT p.id FROM repairs p WHERE p.record_id = r.id AND p.status = 'submitted') AS repair_id,
       (SELECT d.id FROM declarations d WHERE d.record_id = r.id AND d.status = 'verified') AS declaration_id,
       EXISTS (SELECT 1 FROM listings l WHERE l.subject_id = s.id) AS listed
FROM subjects s LEFT OUTER JOIN records r ON r.subject_id = s.id AND r.erased_at IS NULL
WHERE s.subject_ref = :ref
ORDER BY r.decided_at DESC, r.id""")
# Columns, not objects: a self report reads these on every request.
_OWN_CHANGES = (select(RecordPeriodChange.record_id, RecordPeriodChange.version, RecordPeriodChange.kind,
                       RecordPeriodChange.previous_until, RecordPeriodChange.display_until, RecordPeriodChange.sealed,
                       RecordPeriodChange.created_at)
                .join(Record, Record.id == RecordPeriodChange.record_id)
                .where(Record.subject_id == bindparam("subject_id"))
                .order_by(RecordPeriodChange.record_id, RecordPeriodChange.version))


def _change_view(subject_ref: str, cipher: AESGCM, change: Any) -> PeriodChangeView:
    sealed = _crypto.unseal(cipher, change.sealed, _change_aad(change.record_id, subject_ref, change.version),
                            f"record {change.record_id} version {change.version}")
    return PeriodChangeView(change.version, change.kind, change.previous_until, change.display_until,
                            json.loads(sealed)["document"], change.created_at)


def _change_aad(record_id: str, subject_ref: str, version: int) -> bytes:
    return _crypto.record_aad(record_id, subject_ref, f"period_change:{version}")


def read_own(tx: Tx, ring: Keyring, subject_ref: str) -> OwnFile:
    """Return the person's identity and every record about them, recorded as a self report in `tx`.

    Raises SubjectNotFound (a person enrolled with no records has a subject row, so this means
    the caller is not a known person) or SubjectShredded.
    """
    conn = tx.session.connection()
    rows = dbapi.execute(conn, _OWN, {"ref": subject_ref})
    if not rows:
        raise SubjectNotFound(subject_ref)
    first = rows[0]
    subject = SealedSubject(first[0], first[1], first[2], _bytes(first[3]), _bytes(first[4]), _bytes(first[5]))
    dek = data_key(ring, subject)
    cipher = AESGCM(dek)  # set up once for all the person's records: it cost twice a record's decryption
    rows = [row for row in rows if row[6] is not None]
    changes: dict[str, list[PeriodChangeView]] = {}
    if any(row[16] > 1 for row in rows):  # a record's version is 1 + the changes of its period
        for change in conn.execute(_OWN_CHANGES, {"subject_id": subject.id}):
            changes.setdefault(change.record_id, []).append(_change_view(subject_ref, cipher, change))
    day, moment = _driver_values(conn.dialect.name)
    views = [_view(subject_ref, cipher, row[6:20], changes.get(row[6], ()), day, moment) for row in rows]
    identity = reveal_identity(dek, subject)
    tx.record(Tag.REPORT_SELF, subject_ref=subject_ref, record_ids=[v.id for v in views])
    return OwnFile(identity, views,
                   objections=frozenset(row[6] for row in rows if row[20] is not None),
                   repairs={row[6]: row[21] for row in rows if row[21] is not None},
                   declarations={row[6]: row[22] for row in rows if row[22] is not None},
                   listed=bool(first[23]))


def _bytes(value: bytes | memoryview | None) -> bytes | None:
    return None if value is None else bytes(value)


def revoke(tx: Tx, ring: Keyring, provider: Provider, record_id: str, reason: str) -> Ingested:
    """Revoke a record of this provider's: it stays in history and is no longer shown.

    Raises RecordNotFound (also for another provider's record, which it must not learn about)
    or RecordConflict if it is already revoked. The row is locked first: of two revocations at once, the
    second waits and then finds it revoked (one entry, one 409), as for the other changes of a record.
    """
    record, subject = _own_record(tx, provider, record_id, lock=True)
    if record.status == "revoked":
        raise RecordConflict(f"record {record_id} is already revoked")
    dek = data_key(ring, subject)
    record.status = "revoked"
    record.revoked_at = tx.now
    record.revoke_reason_ct = _crypto.seal(
        dek, reason.encode(), _crypto.record_aad(record.id, subject.subject_ref, "revoke_reason")
    )
    tx.session.flush()
    tx.record(Tag.RECORD_REVOKED, subject_ref=subject.subject_ref, record_ids=[record.id],
              detail={"category": record.category})
    return Ingested(record.id, record.status, record.display_from, record.display_until, False, record.filed_late,
                    record.version)


def _own_record(tx: Tx, provider: Provider, record_id: str, *, lock: bool) -> tuple[Record, Subject]:
    query = select(Record, Subject).join(Subject, Subject.id == Record.subject_id).where(Record.id == record_id)
    found = tx.session.execute(query.with_for_update(of=Record) if lock else query).one_or_none()
    if found is None or found[0].provider_id != provider.client_id:
        raise RecordNotFound(record_id)
    _not_erased(found[0])
    return found[0], found[1]


def _not_erased(record: Record) -> None:
    """Raise RecordConflict for a tombstone: its agency knew the record, and is told it is erased."""
    if record.erased_at is not None:
        raise RecordConflict(f"record {record.id} was erased on {record.erased_at.astimezone(CST).date().isoformat()} "
                             f"({record.erasure_basis}): nothing of it is left to change")


def period_state(tx: Tx, provider: Provider, record_id: str) -> PeriodState:
    """Return the period of one of this provider's records, locked for a change in `tx`.

    Raises RecordNotFound (also for another provider's record, which it must not learn about).
    """
    record, _ = _own_record(tx, provider, record_id, lock=True)
    first = tx.session.execute(
        select(RecordPeriodChange.previous_until).where(RecordPeriodChange.record_id == record.id)
        .order_by(RecordPeriodChange.version).limit(1)
    ).first()
    entry_until = record.display_until if first is None else first[0]
    return PeriodState(record.id, record.category, record.status, record.decided_at, record.display_until,
                       entry_until, record.version)


def change_period(tx: Tx, ring: Keyring, provider: Provider, state: PeriodState, kind: str, until: date,
                  document: Document) -> Ingested:
    """Set a new end of a record of this provider's, read as `state` in this `tx`: a new version, audited.

    Raises RecordNotFound, or RecordConflict if it is revoked or changed since `state` was read.
    """
    record, subject = _own_record(tx, provider, state.id, lock=False)
    if record.status == "revoked":
        raise RecordConflict(f"record {record.id} is revoked")
    if record.version != state.version:
        raise RecordConflict(f"record {record.id} changed meanwhile: read it again")
    version = record.version + 1
    body = json.dumps({"document": _document_json(document)}, separators=(",", ":"), ensure_ascii=False).encode()
    tx.session.add(RecordPeriodChange(
        record_id=record.id, version=version, kind=kind, previous_until=record.display_until, display_until=until,
        provider_id=provider.client_id, created_at=tx.now,
        sealed=_crypto.seal(data_key(ring, subject), body, _change_aad(record.id, subject.subject_ref, version)),
    ))
    record.display_until, record.period_source, record.version = until, kind, version
    tx.session.flush()
    tx.record(Tag.RECORD_PERIOD_CHANGED, subject_ref=subject.subject_ref, record_ids=[record.id],
              detail={"category": record.category, "change": kind, "version": version,
                      "display_until": until.isoformat(),
                      "previous_until": None if state.display_until is None else state.display_until.isoformat()})
    return Ingested(record.id, record.status, record.display_from, record.display_until, False, record.filed_late,
                    version)


def filing_rates(session: Session, since: datetime, until: datetime) -> list[FilingRate]:
    """Return, per provider, its records with a publication deadline stored in [since, until) and how many late.

    Only dates and flags are read: nothing personal.
    """
    late = func.sum(case((Record.filed_late, 1), else_=0))
    rows = session.execute(
        select(Record.provider_id, func.count(), late)
        .where(Record.publication_due.is_not(None), Record.created_at >= since, Record.created_at < until)
        .group_by(Record.provider_id).order_by(Record.provider_id)
    )
    return [FilingRate(provider, int(filed), int(late_count or 0)) for provider, filed, late_count in rows]


# (category, decided_at, payload) -> (new end or None for "until ended", where it comes from)
PeriodRule = Callable[[str, date, dict[str, Any]], tuple[date | None, str]]


def reapply_periods(tx: Tx, ring: Keyring, categories: Collection[str], rule: PeriodRule) -> list[str]:
    """Lengthen the end of records still shown with the catalogue's period where `rule` now gives them more.

    Only active records of `categories` whose end is the catalogue's default and lies after today are looked
    at: a record whose display has ended is not shown again, and no record is shortened. Each change is an
    entry in `tx`. Returns the ids changed. Records of erased people are left alone.
    """
    today = tx.today
    rows = tx.session.execute(
        select(Record, Subject).join(Subject, Subject.id == Record.subject_id)
        .where(Record.category.in_(list(categories)), Record.status == "active", Record.erased_at.is_(None),
               Record.period_source == "catalogue", Record.display_until > today)
        .order_by(Record.subject_id, Record.id).with_for_update(of=Record)
    ).all()
    keys: dict[int, bytes | None] = {}
    changed: list[str] = []
    for record, subject in rows:
        if subject.id not in keys:
            keys[subject.id] = None if subject.wrapped_dek is None else data_key(ring, subject)
        dek = keys[subject.id]
        if dek is None:
            continue
        aad = _crypto.record_aad(record.id, subject.subject_ref, record.category)
        payload = json.loads(_crypto.unseal(dek, record.sealed, aad, f"record {record.id}"))["payload"]
        until, source = rule(record.category, record.decided_at, payload)
        previous = record.display_until
        if previous is None or source == "catalogue" or (until is not None and until <= previous):
            continue
        record.display_until, record.period_source = until, source
        tx.record(Tag.RECORD_PERIOD_CHANGED, subject_ref=subject.subject_ref, record_ids=[record.id],
                  detail={"category": record.category, "change": "rule", "previous_until": previous.isoformat(),
                          "display_until": None if until is None else until.isoformat()})
        changed.append(record.id)
    tx.session.flush()
    return changed


def correct(tx: Tx, ring: Keyring, provider: Provider, record_id: str, payload: dict[str, Any],
            prepare: Callable[[NewRecord], Prepared], reason: str, decided_at: date | None = None,
            document: Document | None = None) -> Ingested:
    """Replace one of the provider's records by a corrected one: a new record with the corrected payload, the
    same person, category, decision date and document; the old one is revoked with `reason` and kept.

    `prepare` checks the corrected record against the catalogue (the consent context's entry rules) inside
    this call, so the citizen ID it needs never leaves the vault. A correction on the agency's own initiative
    may also correct the decision date and the document. Raises RecordNotFound, RecordConflict.
    """
    new_document = document
    # Locked first, as a revocation: of two changes at once the second waits, then finds the record revoked.
    record, subject = _own_record(tx, provider, record_id, lock=True)
    if record.status != "active":
        raise RecordConflict(f"record {record_id} is {record.status}: it cannot be corrected")
    dek = data_key(ring, subject)
    body = json.loads(_crypto.unseal(dek, record.sealed, _crypto.record_aad(record.id, subject.subject_ref,
                                                                            record.category), f"record {record.id}"))
    doc = body["document"]
    document = None if doc is None else Document(doc["type"], doc["number"], doc["authority"],
                                                 date.fromisoformat(doc["effective_at"]))
    identity = reveal_identity(dek, subject)
    prepared = prepare(NewRecord(citizen_id=identity.citizen_id, name=body.get("name"), category=record.category,
                                 decided_at=record.decided_at if decided_at is None else decided_at,
                                 document=document if new_document is None else new_document, payload=payload))
    # A correction is the same record made right, not a late filing; an end the agency set stays.
    prepared = replace(prepared, publication_due=record.publication_due, filed_late=record.filed_late)
    if record.period_source in ("extended", "ended"):
        prepared = replace(prepared, display_until=record.display_until, period_source=record.period_source)
    packed = pack(ring, prepared)
    stored = _store(tx, ring, provider, [packed])[_slot(packed)]
    revoke(tx, ring, provider, record_id, reason)
    tx.record(Tag.RECORD_CORRECTED, subject_ref=subject.subject_ref, record_ids=[record_id, stored.id],
              detail={"category": record.category, "corrected_by": stored.id})
    return stored


def store_for(tx: Tx, ring: Keyring, provider: Provider, subject_ref: str, draft: RecordDraft,
              prepare: Callable[[NewRecord], Prepared]) -> Ingested:
    """Store a record about a person known by blind index (a declaration verified, a commitment broken).

    `prepare` checks it against the catalogue (the consent context's entry rules, as a provider's record is)
    inside this call, so the citizen ID it needs never leaves the vault. Recorded as an ingested record.
    """
    subject = get_sealed(tx, subject_ref)
    identity = reveal_identity(data_key(ring, subject), subject)
    prepared = prepare(NewRecord(citizen_id=identity.citizen_id, name=None, category=draft.category,
                                 decided_at=draft.decided_at, document=draft.document, payload=draft.payload))
    packed = pack(ring, prepared)
    return _store(tx, ring, provider, [packed])[_slot(packed)]
