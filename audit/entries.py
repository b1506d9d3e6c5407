"""Append-only audit entries: the query-use registration (查询使用登记) of every access.

Each entry gets a gapless sequence number from a one-row counter that is bumped with
`UPDATE ... RETURNING` as the last statement before the caller commits: the row lock (PostgreSQL)
or the write lock (SQLite) is held only from there to the commit, and a rolled-back transaction
gives its number back, so the sequence never has a gap.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    event,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from audit import dbapi, jsontext
from audit.clock import Clock, UTCDateTime, isoformat_z
from audit.errors import AuditAppendFailed
from audit.tags import Outcome, Tag

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


REASON_LENGTH = 200


class AuditBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AuditCounter(AuditBase):
    __tablename__ = "audit_counter"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, comment="sequence number of the newest entry")


# Tables made by create_all (as the migration does) start with the counter row in place.
event.listen(
    AuditCounter.__table__,
    "after_create",
    DDL("INSERT INTO audit_counter (id, last_seq) VALUES (1, 0)"),  # type: ignore[no-untyped-call]
)


# The queries of a person's file (released or refused): what the person's view of who looked reads, on every
# self report. A partial index holds only these entries, so that read does not grow with everything else logged
# about the person (their own reports above all). The actions are written into the statement, not bound, so
# that both planners can see that the index applies.
QUERY_ACTIONS = (Tag.QUERY_RELEASED, Tag.QUERY_DENIED)
QUERIES_WHERE = "action IN ({})".format(", ".join(f"'{a.value}'" for a in QUERY_ACTIONS))


class AuditEntry(AuditBase):
    __tablename__ = "audit_entries"
    __table_args__ = (
        CheckConstraint("outcome IN ('allowed', 'denied')", name="outcome"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        Index("ix_audit_entries_subject_ref_seq", "subject_ref", "seq"),
        Index("ix_audit_entries_actor_seq", "actor", "seq"),
        Index("ix_audit_entries_queries_subject_ref_seq", "subject_ref", "seq",
              sqlite_where=text(QUERIES_WHERE), postgresql_where=text(QUERIES_WHERE)),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    subject_ref: Mapped[str | None] = mapped_column(
        String(64), comment="blind index of the person (HMAC), never the citizen ID"
    )
    purpose: Mapped[str | None] = mapped_column(String(60))
    basis: Mapped[str | None] = mapped_column(String(200), comment="grant id or legal basis")
    record_ids: Mapped[list[str]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, comment="never a payload or a citizen ID")
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), comment="SHA-256(0x00 || entry bytes)")


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """What a caller says about an access; the log adds the number, the time and the hash."""

    actor: str
    role: str
    action: Tag | str
    outcome: Outcome = Outcome.ALLOWED
    subject_ref: str | None = None
    purpose: str | None = None
    basis: str | None = None
    record_ids: Sequence[str] = ()
    reason: str | None = None
    request_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def canonical_json(value: Any) -> bytes:
    """Return the canonical UTF-8 JSON of `value`: sorted keys, no spaces."""
    return _CANONICAL(value).encode()


# The same text as json.dumps with these options, from an encoder built once (audit.jsontext).
_CANONICAL = jsontext.encoder(sort_keys=True, compact=True, ensure_ascii=False)
# json.dumps with its defaults: how the JSON columns are bound (as SQLAlchemy's JSON type would bind them).
_DUMPS = jsontext.encoder()


def entry_document(seq: int, at: datetime, draft: EntryDraft) -> dict[str, Any]:
    """Return the document whose canonical JSON is the entry's Merkle leaf."""
    return _document(seq, isoformat_z(at), draft)


def _document(seq: int, at: str, draft: EntryDraft) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "actor": draft.actor,
        "role": draft.role,
        "action": str(draft.action),
        "subject_ref": draft.subject_ref,
        "purpose": draft.purpose,
        "basis": draft.basis,
        "record_ids": list(draft.record_ids),
        "outcome": str(draft.outcome),
        "reason": draft.reason,
        "request_id": draft.request_id,
        "detail": draft.detail,
    }


def stored_document(entry: AuditEntry) -> dict[str, Any]:
    """Return the leaf document rebuilt from a stored row (for verification)."""
    draft = EntryDraft(
        actor=entry.actor,
        role=entry.role,
        action=entry.action,
        outcome=Outcome(entry.outcome),
        subject_ref=entry.subject_ref,
        purpose=entry.purpose,
        basis=entry.basis,
        record_ids=entry.record_ids,
        reason=entry.reason,
        request_id=entry.request_id,
        detail=entry.detail,
    )
    return entry_document(entry.seq, entry.at, draft)


def leaf_hash_of(document: dict[str, Any]) -> bytes:
    """Return SHA-256(0x00 || canonical JSON), the RFC 9162 leaf hash."""
    return hashlib.sha256(b"\x00" + canonical_json(document)).digest()


# The append runs on every writing request, with the sequence lock held: straight on the driver's cursor
# (audit.dbapi), each value bound as SQLAlchemy binds it for the column (JSON as json.dumps text, the
# time as naive UTC), so that rows appended either way are read and verified alike.
_BUMP = dbapi.Statement("UPDATE audit_counter SET last_seq = last_seq + :n WHERE id = 1 RETURNING last_seq")
_INSERT = dbapi.Statement(
    "INSERT INTO audit_entries (seq, at, actor, role, action, subject_ref, purpose, basis, record_ids, outcome,"
    " reason, request_id, detail, leaf_hash) VALUES (:seq, :at, :actor, :role, :action, :subject_ref, :purpose,"
    " :basis, :record_ids, :outcome, :reason, :request_id, :detail, :leaf_hash)",
    postgresql="INSERT INTO audit_entries (seq, at, actor, role, action, subject_ref, purpose, basis, record_ids,"
    " outcome, reason, request_id, detail, leaf_hash) VALUES (:seq, :at, :actor, :role, :action, :subject_ref,"
    " :purpose, :basis, CAST(:record_ids AS JSON), :outcome, :reason, :request_id, CAST(:detail AS JSON),"
    " :leaf_hash)")

# The same on PostgreSQL for a batch, in one statement taking each column as an array (dbapi.insert_many).
_INSERT_COLUMNS = dbapi.Statement(
    "INSERT INTO audit_entries (seq, at, actor, role, action, subject_ref, purpose, basis, record_ids, outcome,"
    " reason, request_id, detail, leaf_hash) SELECT seq, at, actor, role, action, subject_ref, purpose, basis,"
    " CAST(record_ids AS JSON), outcome, reason, request_id, CAST(detail AS JSON), leaf_hash FROM"
    " unnest(CAST(:seq AS bigint[]), CAST(:at AS timestamp[]), CAST(:actor AS varchar[]), CAST(:role AS varchar[]),"
    " CAST(:action AS varchar[]), CAST(:subject_ref AS varchar[]), CAST(:purpose AS varchar[]),"
    " CAST(:basis AS varchar[]), CAST(:record_ids AS text[]), CAST(:outcome AS varchar[]),"
    " CAST(:reason AS varchar[]), CAST(:request_id AS varchar[]), CAST(:detail AS text[]),"
    " CAST(:leaf_hash AS bytea[])) AS t(seq, at, actor, role, action, subject_ref, purpose, basis, record_ids,"
    " outcome, reason, request_id, detail, leaf_hash)", binary=True)


def append(session: Session, clock: Clock, draft: EntryDraft) -> int:
    """Append one entry in the caller's transaction and return its sequence number.

    Raises AuditAppendFailed if it cannot be written; the caller must then release nothing.
    """
    return append_many(session, clock, [draft])[0]


def append_many(session: Session, clock: Clock, drafts: Sequence[EntryDraft]) -> list[int]:
    """Append entries in order in the caller's transaction; return their sequence numbers.

    The counter is bumped once for the whole batch and last, so the lock is held briefly.
    Raises AuditAppendFailed if they cannot be written.
    """
    if not drafts:
        return []
    try:
        conn = session.connection()
        last = int(dbapi.execute(conn, _BUMP, {"n": len(drafts)})[0][0])
        at = clock.now()
        stored_at, at_z = dbapi.bind_time(conn.dialect.name, at), isoformat_z(at)
        first = last - len(drafts) + 1
        rows = []
        dumps, sha256 = _DUMPS, hashlib.sha256
        for seq, draft in enumerate(drafts, start=first):
            if draft.reason is not None and len(draft.reason) > REASON_LENGTH:
                # A reason may quote a caller's field name; it must never be why an entry cannot be written.
                draft = replace(draft, reason=draft.reason[: REASON_LENGTH - 1] + "…")
            document = _document(seq, at_z, draft)
            leaf = sha256(b"\x00" + _CANONICAL(document).encode()).digest()  # leaf_hash_of, inlined: 500 a batch
            document["at"], document["leaf_hash"] = stored_at, leaf
            document["record_ids"], document["detail"] = dumps(document["record_ids"]), dumps(document["detail"])
            rows.append(document)
        dbapi.insert_many(conn, _INSERT, rows, _INSERT_COLUMNS)
    except (SQLAlchemyError, IndexError) as exc:
        raise AuditAppendFailed(f"audit append failed for {drafts[0].action}") from exc
    return list(range(first, last + 1))


# What UnitOfWork.reading_first asks, on the driver's cursor as the append is: the log's length as a read
# transaction sees it, and later whether an entry about the person has been appended since.
_NEWEST = dbapi.Statement("SELECT last_seq FROM audit_counter WHERE id = 1")

# Entries about a person that change nothing of their file: their own reads of it and their sessions. What a
# read first must not miss is any other entry about them (a record filed, corrected or erased, an objection's
# step, a grant revoked, a freeze: every change to a file is logged under its person).
READS_AND_SESSIONS = (Tag.REPORT_SELF, Tag.REPORT_SELF_DENIED, Tag.SUBJECT_LOGIN, Tag.SUBJECT_LOGIN_DENIED,
                      Tag.SUBJECT_LOGOUT)


@lru_cache(maxsize=8)
def _about_since_statement(ignored: tuple[Tag, ...]) -> dbapi.Statement:
    # The actions written in, as for who looked: constants of this package, never input.
    actions = ", ".join(f"'{a.value}'" for a in ignored)
    sql = ("SELECT 1 FROM audit_entries WHERE subject_ref = :subject_ref AND seq > :seq"  # noqa: S608 - constants
           f" AND action NOT IN ({actions}) LIMIT 1")
    return dbapi.Statement(sql)


def newest_seq(session: Session) -> int:
    """Return the number of the newest entry the caller's transaction sees (0 for an empty log)."""
    return int(dbapi.execute(session.connection(), _NEWEST, {})[0][0])


def about_since(session: Session, subject_ref: str, seq: int, ignored: tuple[Tag, ...]) -> bool:
    """Tell whether an entry about the person, of an action not in `ignored`, follows entry `seq`."""
    return bool(dbapi.execute(session.connection(), _about_since_statement(ignored),
                              {"subject_ref": subject_ref, "seq": seq}))


class LoggedAccess(NamedTuple):
    """The columns of an entry a person's view of who looked needs."""

    seq: int
    at: datetime
    actor: str
    action: str
    purpose: str | None
    basis: str | None
    record_ids: list[str]
    outcome: str
    reason: str | None
    detail: dict[str, Any]


# On the driver's cursor (audit.dbapi): every self report reads who looked, and SQLAlchemy's parsing of the
# time and the two JSON columns of each row cost more than the statement. One text per number of actions.
_FOR_SUBJECT = """
SELECT seq, at, actor, action, purpose, basis, record_ids, outcome, reason, detail FROM audit_entries
WHERE subject_ref = :subject_ref AND action IN ({actions}) AND at >= :since
ORDER BY seq DESC LIMIT :limit"""


@lru_cache(maxsize=16)
def _for_subject_statement(actions: int) -> dbapi.Statement:
    return dbapi.expanded(_FOR_SUBJECT, actions=actions)


_QUERIES_ABOUT = dbapi.Statement(_FOR_SUBJECT.format(actions=QUERIES_WHERE.removeprefix("action IN (")[:-1]))


def for_subject(
    session: Session, subject_ref: str, actions: Sequence[str], since: datetime, limit: int = 1000
) -> list[LoggedAccess]:
    """Return the newest entries about a person with one of `actions`, since `since` (the queries of their file,
    `QUERY_ACTIONS`, through the index that holds only those)."""
    conn = session.connection()
    params: dict[str, Any] = {"subject_ref": subject_ref, "since": dbapi.bind_time(conn.dialect.name, since),
                              "limit": limit}
    if tuple(actions) == QUERY_ACTIONS:
        statement = _QUERIES_ABOUT
    else:
        statement = _for_subject_statement(len(actions))
        params.update(dbapi.listed("actions", [str(action) for action in actions]))
    return [LoggedAccess(seq, dbapi.to_time(at), actor, action, purpose, basis, _json(record_ids), outcome, reason,
                         _json(detail))
            for seq, at, actor, action, purpose, basis, record_ids, outcome, reason, detail
            in dbapi.execute(conn, statement, params)]


def _json(value: Any) -> Any:
    # SQLite gives a JSON column's text; psycopg parses a json column itself.
    return json.loads(value) if isinstance(value, str) else value
