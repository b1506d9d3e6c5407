"""Reading the entries and rebuilding their leaf hashes, a batch at a time, with the tree's leaves beside them.

Each entry's leaf is rebuilt from its row: the same canonical JSON as
`entries.leaf_hash_of(entries.stored_document(row))`, built without ORM objects or a generic JSON
encoder, because this runs once per entry of the whole log.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Select, Text, and_, bindparam, case, cast, func, literal_column, select
from sqlalchemy.engine import Connection

from audit.clock import isoformat_z
from audit.entries import AuditEntry
from audit.tree import TreeNode
from audit.verify.snapshot import literal_sql, row_batches

# The string encoder json.dumps(ensure_ascii=False) itself uses (the C one when available).
_encode_string: Callable[[str], str] = json.encoder.encode_basestring
_sha256 = hashlib.sha256
_OUTCOMES = {"allowed": "allowed", "denied": "denied"}
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# A JSON list of strings with nothing escaped, as json.dumps writes record ids: its canonical form
# only drops the space after each comma (no string here can hold a quote). But for a string that is
# ", " itself: that would lose its space too (and [", "] would pass for [","]), so it takes json.loads.
_PLAIN_STRINGS = re.compile(r'\[(?:"(?!, ")[^"\\\x00-\x1f]*"(?:, "(?!, ")[^"\\\x00-\x1f]*")*)?\]')
# An object of one string member, as json.dumps writes it with nothing to escape (most details, such
# as a report id): its canonical form only drops the space after the colon.
_ONE_PLAIN_PAIR = re.compile(r'\{("[^"\\\x00-\x1f]*"): ("[^"\\\x00-\x1f]*")\}')


def fast_leaf_hash(row: Sequence[Any]) -> bytes:
    """Return the leaf hash of a stored entry given as a row of `entry_rows()` read through SQLAlchemy.

    Equals leaf_hash_of(stored_document(entry)) for the same entry; raises ValueError, TypeError or
    KeyError where the document could not be rebuilt. Built by hand rather than with json.dumps:
    this runs once per entry when the whole log is verified.
    """
    return _leaf(row, _time_text(row[1]))


def _leaf(row: Sequence[Any], when: str) -> bytes:
    """Return the leaf of a row of `entry_rows()` whose time, as isoformat_z gives it, is `when`."""
    enc, known = _encode_string, _QUOTED.get
    (seq, _, actor, role, action, subject_ref, purpose, basis, record_ids, outcome, reason, request_id,
     detail) = row[:13]
    # Keys in sorted order, no spaces: the canonical form of entries.canonical_json. The columns with
    # few distinct values are quoted once and then looked up.
    text = (
        f'{{"action":{known(action) or _quote(action)},"actor":{known(actor) or _quote(actor)},"at":"{when}",'
        f'"basis":{"null" if basis is None else enc(basis)},'
        f'"detail":{detail if detail == "{}" else _detail(detail)},'
        f'"outcome":{enc(_OUTCOMES[outcome])},'
        f'"purpose":{"null" if purpose is None else known(purpose) or _quote(purpose)},'
        f'"reason":{"null" if reason is None else enc(reason)},"record_ids":{_record_ids(record_ids)},'
        f'"request_id":{"null" if request_id is None else enc(request_id)},"role":{known(role) or _quote(role)},'
        f'"seq":{int(seq)},"subject_ref":{"null" if subject_ref is None else enc(subject_ref)}}}'
    )
    return _sha256(b"\x00" + text.encode()).digest()


_QUOTED: dict[str, str] = {}


def _quote(value: str) -> str:
    """Return the JSON string of `value`, remembering it (actors, roles, actions and purposes repeat)."""
    if len(_QUOTED) >= 65_536:
        _QUOTED.clear()
    quoted = _QUOTED[value] = _encode_string(value)
    return quoted


def _detail(text: str) -> str:
    match = _ONE_PLAIN_PAIR.fullmatch(text)
    if match:
        return f"{{{match[1]}:{match[2]}}}"
    return _CANONICAL.encode(json.loads(text))


def _record_ids(text: str) -> str:
    if _PLAIN_STRINGS.fullmatch(text):
        return text.replace('", "', '","')
    # As stored_document does: whatever the column holds goes through list().
    return _CANONICAL.encode(list(json.loads(text)))


def _time_text(at: datetime) -> str:
    """Return isoformat_z of a time as UTCDateTime reads it: a naive one is UTC."""
    if at.tzinfo is None:
        # isoformat() is C and several times faster than strftime; they agree from the year 1000 on.
        return at.isoformat(timespec="microseconds") + "Z" if at.year >= 1000 else isoformat_z(at.replace(tzinfo=UTC))
    return isoformat_z(at)


def _time_reader(conn: Connection) -> Callable[[Any], str]:
    """Return what turns the driver's value of `at` into isoformat_z of the time SQLAlchemy would read."""
    to_datetime: Callable[[Any], Any] | None = conn.dialect.type_descriptor(DateTime()).result_processor(
        conn.dialect, None)
    if to_datetime is None:
        return _time_text
    parse = to_datetime

    def from_text(raw: Any) -> str:
        at = parse(raw)  # as SQLAlchemy reads the column: it raises on what it cannot read
        # SQLite holds SQLAlchemy's storage format, which already is the ISO form but for the T and Z.
        if len(raw) == 26 and raw[10] == " " and raw[19] == "." and raw[0] != "0" and raw.isascii():
            return f"{raw[:10]}T{raw[11:]}Z"
        return _time_text(at)

    return from_text


def _entry_columns() -> Select[*tuple[Any, ...]]:
    """Return fast_leaf_hash's 13 columns (JSON ones as text) and the stored leaf hash."""
    e = AuditEntry
    return select(e.seq, e.at, e.actor, e.role, e.action, e.subject_ref, e.purpose, e.basis, cast(e.record_ids, Text),
                  e.outcome, e.reason, e.request_id, cast(e.detail, Text), e.leaf_hash)


def entry_rows() -> Select[*tuple[Any, ...]]:
    """Return the entries in seq order: fast_leaf_hash's 13 columns (JSON ones as text), the stored
    leaf hash, and the tree's leaf for that entry (None when it is not integrated)."""
    n = TreeNode
    return (
        _entry_columns().add_columns(n.hash)
        .outerjoin(n, and_(n.level == 0, n.index == AuditEntry.seq - 1))
        .order_by(AuditEntry.seq)
    )


@dataclass(slots=True)
class Leaves:
    """A batch of entries in seq order, a list per column: a check can then compare whole lists (in C)
    rather than look at each entry in turn."""

    seqs: list[int]
    leaves: list[bytes]  # rebuilt, or the stored hash where an entry could not be read back
    stored: list[bytes]  # the stored leaf hashes
    tree: list[bytes | None]  # the tree's leaves (None where an entry is not integrated)
    failures: list[str] | None = None  # why an entry could not be read back ("" where it could); None: all could

    def rows(self) -> Iterator[tuple[int, bytes, bytes, bytes | None, str]]:
        """Yield each entry's seq, leaf, stored leaf hash, tree leaf and failure."""
        return zip(self.seqs, self.leaves, self.stored, self.tree, self.failures or [""] * len(self.seqs), strict=True)


def rebuilt_leaves(conn: Connection, start: int, end: int, batch: int) -> Iterator[Leaves]:
    """Yield the leaves of entries start + 1 to end, rebuilt, in seq order, a batch at a time.

    On SQLite the database writes each entry's canonical JSON itself, its strings quoted by its own
    json_quote: fetching one string costs far less than fetching thirteen columns. That is only a
    shortcut: a leaf that does not come out equal to the stored hash is rebuilt again here, from the
    columns, exactly as stored_document does. A text the database wrote that hashes to the stored
    leaf is the very text hashed when the entry was appended, and since every part of it is a
    faithful JSON encoding of a column, the columns are unchanged.

    On PostgreSQL the same JSON functions cost the server more than they save here, so the leaves
    are built here from the columns, exactly; the server only writes the time as isoformat_z does.
    """
    if conn.dialect.name == "postgresql":
        yield from _postgresql_batches(conn, start, end, batch)
        return
    if conn.dialect.name != "sqlite":
        yield from _exact_batches(conn, start, end, batch)
        return
    done = start
    try:
        for out in _fast_batches(conn, start, end, batch):
            done = out.seqs[-1]
            yield out
    except conn.dialect.loaded_dbapi.Error:
        # json() refuses a column that is not JSON: what is left of the chunk takes the exact path,
        # which reports it. (On SQLite a failed statement leaves the transaction as it was.)
        yield from _exact_batches(conn, done, end, batch)


def _fast_batches(conn: Connection, start: int, end: int, batch: int) -> Iterator[Leaves]:
    sha256 = _sha256
    for part in row_batches(conn, _SQLITE_DOCUMENTS.format(start=int(start), end=int(end)), batch):
        out = Leaves([row[0] for row in part],
                     [b"" if row[1] is None else sha256(b"\x00" + row[1].encode()).digest() for row in part],
                     [row[2] for row in part], [row[3] for row in part])
        if out.leaves != out.stored:
            exact = _exact_leaves(conn, [seq for seq, leaf, kept in zip(out.seqs, out.leaves, out.stored, strict=True)
                                         if leaf != kept])
            found = dict(zip(exact.seqs, exact.rows(), strict=False))
            out.failures = [""] * len(out.seqs)
            for i, seq in enumerate(out.seqs):
                if seq in found:
                    _, out.leaves[i], out.stored[i], _, out.failures[i] = found[seq]
        yield out


def _postgresql_batches(conn: Connection, start: int, end: int, batch: int) -> Iterator[Leaves]:
    """Yield the exact leaves, with the time written by the server where it writes it as isoformat_z does.

    Formatting a datetime here costs several times what to_char costs the server. The tree's leaves
    of each batch are read in one query beside it (index lookups, not a join per entry).
    """
    statement = _ENTRIES_WITH_TIME if _naive_times(conn) else _ENTRIES_WITH_NO_TIME
    time_text = _time_reader(conn)
    for part in row_batches(conn, statement, batch, params={"start": start, "end": end}):
        tree = _tree_leaves(conn, part[0][0] - 1, part[-1][0]).get
        yield _exact(part, time_text, [tree(row[0] - 1) for row in part])


# isoformat_z of a naive UTC time from the year 1000 to 9999 (outside those, NULL: Python writes it).
_SERVER_TIME = case(
    (and_(AuditEntry.at >= literal_column("'1000-01-01'::timestamp"),
          AuditEntry.at < literal_column("'10000-01-01'::timestamp")),
     func.to_char(AuditEntry.at, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
    else_=None)


def _entries(when: Any) -> Select[*tuple[Any, ...]]:
    """Return the entries from seq `start` + 1 to `end` in order: fast_leaf_hash's columns, the stored
    leaf hash, and `when`."""
    return _entry_columns().add_columns(when).where(
        AuditEntry.seq > bindparam("start"), AuditEntry.seq <= bindparam("end")).order_by(AuditEntry.seq)


_ENTRIES_WITH_TIME = _entries(_SERVER_TIME)
_ENTRIES_WITH_NO_TIME = _entries(literal_column("NULL"))


def _naive_times(conn: Connection) -> bool:
    """Return whether `at` is a timestamp without time zone, which to_char writes as stored (as UTC)."""
    kind = conn.exec_driver_sql(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'audit_entries'::regclass AND attname = 'at'").scalar()
    return kind is not None and str(kind).startswith("timestamp without time zone")


def _tree_leaves(conn: Connection, first: int, end: int) -> dict[int, bytes]:
    """Return the tree's leaves from index `first` to before `end`, by index."""
    found: dict[int, bytes] = {}
    for part in row_batches(conn, _TREE_LEAVES, max(end - first, 1), large=False,
                            params={"first": first, "end": end}):
        found.update(part)
    return found


_TREE_LEAVES = select(TreeNode.index, TreeNode.hash).where(
    TreeNode.level == 0, TreeNode.index >= bindparam("first"), TreeNode.index < bindparam("end"))
_ORDERED_TREE_LEAVES = _TREE_LEAVES.order_by(TreeNode.index)


def _exact_batches(conn: Connection, start: int, end: int, batch: int) -> Iterator[Leaves]:
    # The tree's leaves come as a second ordered stream, not a join: PostgreSQL then reads two
    # indexes in order instead of looking one up per entry (several times faster on the server).
    tree_leaves = _TreeLeaves(conn, start, end, batch)
    time_text = _time_reader(conn)
    for part in row_batches(conn, _ENTRIES_WITH_NO_TIME, batch, params={"start": start, "end": end}):
        yield _exact(part, time_text, [tree_leaves.take(row[0] - 1) for row in part])


class _TreeLeaves:
    """The tree's leaves from index `start` on, read in order as the entries come."""

    def __init__(self, conn: Connection, start: int, end: int, batch: int) -> None:
        self._parts = row_batches(conn, _ORDERED_TREE_LEAVES, batch,
                                  params={"first": start, "end": end})
        self._buf: Sequence[Any] = ()
        self._pos = 0

    def take(self, index: int) -> bytes | None:
        """Return the tree's leaf `index`, or None if it has none; indexes must come in ascending order."""
        buf, pos = self._buf, self._pos
        while True:
            if pos >= len(buf):
                buf, pos = next(self._parts, ()), 0
                if not buf:
                    self._buf, self._pos = buf, pos
                    return None
            if buf[pos][0] >= index:
                break
            pos += 1
        self._buf, self._pos = buf, pos
        if buf[pos][0] != index:
            return None
        self._pos = pos + 1
        return bytes(buf[pos][1])


def _exact_leaves(conn: Connection, seqs: list[int]) -> Leaves:
    """Return the leaves of the given entries rebuilt from their columns, as stored_document would
    (without the tree's leaves)."""
    time_text = _time_reader(conn)
    rows: list[Sequence[Any]] = []
    for offset in range(0, len(seqs), 1000):
        statement = _ENTRIES_WITH_NO_TIME.where(AuditEntry.seq.in_(seqs[offset:offset + 1000]))
        for part in row_batches(conn, literal_sql(conn, statement, start=0, end=max(seqs)), 1000):
            rows.extend(part)
    return _exact(rows, time_text, [None] * len(rows))


def _exact(rows: Sequence[Sequence[Any]], time_text: Callable[[Any], str], tree: list[bytes | None]) -> Leaves:
    """Return the leaves of rows of `_entries`, rebuilt from their columns (the time from column 14 when
    the server wrote it)."""
    leaf = _leaf
    out = Leaves([row[0] for row in rows], [], [bytes(row[13]) for row in rows], tree)
    try:
        out.leaves = [leaf(row, row[14] or time_text(row[1])) for row in rows]
    except (TypeError, ValueError, KeyError):
        # An entry that cannot be read back: the batch again, an entry at a time, to say which.
        out.leaves, out.failures = [], []
        for row, stored_leaf in zip(rows, out.stored, strict=True):
            try:
                out.leaves.append(leaf(row, row[14] or time_text(row[1])))
                out.failures.append("")
            except (TypeError, ValueError, KeyError) as exc:
                out.leaves.append(stored_leaf)
                out.failures.append(type(exc).__name__)
    return out


# The canonical JSON of entries.entry_document, keys sorted, the time as isoformat_z writes it.
# json() keeps an object's key order: an unsorted detail just takes the exact path. json_object quotes
# the strings as json_quote does, in one call: 20% less of SQLite's time than thirteen pieces joined
# with || (331 against 413 ms for 65,000 entries).
_SQLITE_DOCUMENTS = """
SELECT e.seq,
    json_object('action', e.action, 'actor', e.actor,
        'at', CASE WHEN length(e.at) = 26 AND substr(e.at, 11, 1) = ' '
              THEN substr(e.at, 1, 10) || 'T' || substr(e.at, 12) || 'Z' END,
        'basis', e.basis, 'detail', json(e.detail), 'outcome', e.outcome, 'purpose', e.purpose,
        'reason', e.reason, 'record_ids', json(e.record_ids), 'request_id', e.request_id, 'role', e.role,
        'seq', e.seq, 'subject_ref', e.subject_ref),
    e.leaf_hash, n.hash
FROM audit_entries e LEFT OUTER JOIN audit_tree_nodes n ON n.level = 0 AND n."index" = e.seq - 1
WHERE e.seq > {start} AND e.seq <= {end} ORDER BY e.seq"""
