"""Verifying the audit log from scratch: every leaf from its entry, the tree from the leaves, every head.

Each entry's leaf is rebuilt from its row (the same canonical JSON as
`entries.leaf_hash_of(entries.stored_document(row))`, built without ORM objects or a generic JSON
encoder) and compared with the entry's stored leaf hash and with the tree's leaf. The tree is rebuilt
from the tree's leaves and every node it completes is compared with the stored node; at each stored
head's size the root is compared and the head's signature checked with a callable the caller gives
(the audit context holds no keys). Entries equal to their leaves, and leaves that give the signed
roots, make entries that give the signed roots.

The leaves are taken in aligned chunks of 2**chunk_bits, each a perfect subtree of the tree that can
be checked on its own: in this process, or in worker processes reading the same snapshot. This
process then joins the chunks' roots into the top of the tree and checks the heads.

Anything edited, deleted, reordered or inserted shows up as a difference at a leaf index (seq - 1):

- edited or reordered: the leaf rebuilt from the entry differs from its stored leaf hash, or from
  the tree's leaf when the stored hash was rewritten too;
- deleted: a hole in the numbers, or fewer entries than the counter has handed out;
- inserted: an entry numbered beyond the counter, or a renumbering, which changes the leaves;
- a rewritten tree: a stored node that differs from the rebuild, or a head whose root does.

A head's differences are placed at the first leaf it newly covers (the previous head's size).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.util import Finalize
from typing import Any

from sqlalchemy import DateTime, Engine, Select, Text, and_, cast, create_engine, event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from audit import merkle
from audit.clock import isoformat_z
from audit.entries import AuditCounter, AuditEntry
from audit.heads import SignedHead, all_heads
from audit.tree import TreeNode, TreeState

HeadVerifier = Callable[[str], Mapping[str, Any] | None]
"""Return the claims of a head's JWS if its signature verifies, else None."""

CHUNK_BITS = 16
DEFAULT_BATCH = 20_000
DEFAULT_LIMIT = 100

# The string encoder json.dumps(ensure_ascii=False) itself uses (the C one when available).
_encode_string: Callable[[str], str] = json.encoder.encode_basestring
_sha256 = hashlib.sha256
_OUTCOMES = {"allowed": "allowed", "denied": "denied"}
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# A JSON list of strings with nothing escaped, as json.dumps writes record ids: its canonical form
# only drops the space after each comma (no string here can hold a quote).
_PLAIN_STRINGS = re.compile(r'\[(?:"[^"\\\x00-\x1f]*"(?:, "[^"\\\x00-\x1f]*")*)?\]')
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f-]{1,64}")

Frontier = list[tuple[int, bytes]]
"""Perfect subtrees (level, hash), largest first: the right edge of a tree being built."""


# --- what is reported ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the stored log differs from what its entries say, at leaf `index` (= seq - 1)."""

    index: int
    kind: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """Return the difference as JSON-ready data."""
        return {"index": self.index, "seq": self.index + 1, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class Report:
    """What `verify_log` checked, and the differences it found (the first `limit`, by index)."""

    entries: int
    tree_size: int
    heads: int
    differences: tuple[Difference, ...]
    total_differences: int

    @property
    def ok(self) -> bool:
        """Return whether nothing differed."""
        return self.total_differences == 0

    @property
    def first(self) -> Difference | None:
        """Return the difference at the lowest index, or None when the log is intact."""
        return self.differences[0] if self.differences else None


@dataclass
class _Findings:
    limit: int
    found: list[Difference] = field(default_factory=list)
    total: int = 0

    def add(self, index: int, kind: str, detail: str) -> None:
        self.total += 1
        self.found.append(Difference(index, kind, detail))
        if len(self.found) > 4 * self.limit:
            self._trim()

    def merge(self, found: Sequence[Difference], total: int) -> None:
        self.found.extend(found)
        self.total += total
        self._trim()

    def _trim(self) -> None:
        self.found = sorted(self.found, key=lambda d: d.index)[: self.limit]

    def result(self) -> tuple[Difference, ...]:
        self._trim()
        return tuple(self.found)


# --- the leaf of a stored entry -----------------------------------------------------------------


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
        f'"detail":{detail if detail == "{}" else _CANONICAL.encode(json.loads(detail))},'
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


# --- reading one snapshot, from several processes -----------------------------------------------


@dataclass(frozen=True)
class Source:
    """How a worker process reads the snapshot being verified: the URL and PostgreSQL's snapshot id."""

    url: str
    snapshot: str | None = None


@contextmanager
def snapshot(url: str) -> Iterator[tuple[Connection, Source]]:
    """Yield a read-only connection inside one snapshot that holds no lock, and its Source for workers.

    On SQLite a deferred transaction (WAL readers do not block the writer), not the write lock the
    service's engine takes at BEGIN; on PostgreSQL REPEATABLE READ, exported for the workers.
    """
    engine = _reader_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                exported = None
                if engine.dialect.name == "postgresql":
                    exported = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
                yield conn, Source(url, exported)
    finally:
        engine.dispose()


def _reader_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, poolclass=NullPool)
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy, not the driver, opens the transaction
        dbapi_conn.execute("PRAGMA query_only=ON")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN DEFERRED")

    return engine


def _batches(conn: Connection, statement: str | Select[*tuple[Any, ...]], batch: int,
             large: bool = True) -> Iterator[Sequence[Any]]:
    """Yield the statement's rows in lists straight from the driver, in the connection's transaction.

    No Row objects and no type processing: at a million rows, those cost more than the checks.
    """
    sql = statement if isinstance(statement, str) else \
        str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    # On PostgreSQL a named (server-side) cursor, so the rows are not all held in memory at once
    # (binary, so that hashes and times arrive without text decoding).
    if conn.dialect.name != "postgresql":
        cursor = dbapi.cursor()
    elif large:
        cursor = dbapi.cursor(name=f"xinyong_verify_{next(_CURSORS)}", binary=True)
    else:
        cursor = dbapi.cursor(binary=True)  # one round trip, for results small enough to hold at once
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()


_CURSORS = itertools.count()


# --- one chunk: a perfect subtree of 2**bits leaves ---------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    """What a chunk's check needs to know of the whole log (as this process read it)."""

    number: int
    bits: int
    end: int  # leaves to look at: the chunk stops here if the log does
    counter: int
    size: int
    head_sizes: tuple[int, ...]
    batch: int
    limit: int

    @property
    def start(self) -> int:
        return self.number << self.bits


@dataclass(frozen=True)
class _ChunkResult:
    number: int
    entries: int
    found: tuple[Difference, ...]
    total: int
    frontier: Frontier  # at the chunk's end, or where the rebuild broke off
    at_heads: dict[int, Frontier]
    broken_at: int | None  # the first leaf neither an entry nor the tree has


def _check_chunk(conn: Connection, chunk: _Chunk) -> _ChunkResult:
    """Check the entries and stored nodes of one chunk; return its findings and its subtree's frontier."""
    findings = _Findings(chunk.limit)
    start, end, size, counter = chunk.start, chunk.end, chunk.size, chunk.counter
    stored = _interior_nodes(conn, chunk)
    levels: list[int] = []
    hashes: list[bytes] = []
    at_heads: dict[int, Frontier] = {}
    wanted = iter(chunk.head_sizes)
    next_head = next(wanted, -1)
    broken_at: int | None = None
    position = start  # the next leaf the rebuild expects
    entries = 0
    sha256 = _sha256

    def push(index: int, leaf: bytes) -> None:
        nonlocal next_head
        node, level = leaf, 0
        while levels and levels[-1] == level:
            levels.pop()
            node = sha256(b"\x01" + hashes.pop() + node).digest()
            level += 1
            if index < size and stored.get((level, index >> level)) != node:
                _node_differs(findings, level, index >> level, stored.get((level, index >> level)) is None)
        levels.append(level)
        hashes.append(node)
        if index + 1 == next_head:
            at_heads[next_head] = list(zip(levels, hashes, strict=True))
            next_head = next(wanted, -1)

    def gone(until: int) -> None:
        """Note the entries of leaves [position, until) missing; carry the rebuild over them with the tree's leaves."""
        nonlocal broken_at
        _missing(findings, position, until, counter)
        if broken_at is not None:
            return
        leaves = _stored_leaves(conn, position, min(until, size))
        for index in range(position, until):
            leaf = leaves.get(index)
            if leaf is None:
                broken_at = index
                return
            push(index, leaf)

    for part in _leaves(conn, start, end, chunk.batch):
        for seq, leaf, stored_leaf, tree_leaf, failure in part:
            index = seq - 1
            if index != position:
                if index < position:  # rows come ordered by a unique key: only a broken database gets here
                    findings.add(index, "reordered", f"entry {seq} came after entry {position}")
                    continue
                gone(index)
                position = index
            position = index + 1
            entries += 1
            if broken_at is not None:
                continue
            if failure:
                findings.add(index, "edited", f"entry {seq} cannot be read back as an entry ({failure})")
            elif leaf != stored_leaf:
                findings.add(index, "edited", f"entry {seq} does not match its leaf hash: edited or reordered")
            if index < size:
                if tree_leaf != leaf:
                    _node_differs(findings, 0, index, tree_leaf is None)
                    # Go on with the tree's own leaf: its nodes and heads are then checked on their own,
                    # and an edited entry is named once, at its index, not again by every node above it.
                    leaf = leaf if tree_leaf is None else tree_leaf
            elif seq > counter:
                findings.add(index, "inserted", f"entry {seq} is numbered beyond the counter ({counter}): inserted")
            # push(), inlined: this runs once per entry, and a call costs about as much as a hash.
            node, level = leaf, 0
            while levels and levels[-1] == level:
                levels.pop()
                node = sha256(b"\x01" + hashes.pop() + node).digest()
                level += 1
                if index < size and stored.get((level, index >> level)) != node:
                    _node_differs(findings, level, index >> level, stored.get((level, index >> level)) is None)
            levels.append(level)
            hashes.append(node)
            if seq == next_head:
                at_heads[next_head] = list(zip(levels, hashes, strict=True))
                next_head = next(wanted, -1)
    if position < end:
        gone(end)
    return _ChunkResult(chunk.number, entries, findings.result(), findings.total,
                        list(zip(levels, hashes, strict=True)), at_heads, broken_at)


Leaf = tuple[int, bytes, bytes, bytes | None, str]
"""An entry's seq, its leaf rebuilt, its stored leaf hash, the tree's leaf (None if not integrated),
and why the leaf could not be rebuilt (empty if it could; the stored hash stands in then)."""


def _leaves(conn: Connection, start: int, end: int, batch: int) -> Iterator[list[Leaf]]:
    """Yield the leaves of entries start + 1 to end, rebuilt, in seq order, a batch at a time.

    On SQLite the database writes each entry's canonical JSON itself, its strings quoted by its own
    json_quote: fetching one string costs far less than fetching thirteen columns. That is only a
    shortcut: a leaf that does not come out equal to the stored hash is rebuilt again here, from the
    columns, exactly as stored_document does. A text the database wrote that hashes to the stored
    leaf is the very text hashed when the entry was appended, and since every part of it is a
    faithful JSON encoding of a column, the columns are unchanged. (On PostgreSQL the same JSON
    functions cost the server more than they save here, so the leaves are built here from the columns.)
    """
    if conn.dialect.name != "sqlite":
        yield from _exact_batches(conn, start, end, batch)
        return
    done = start
    try:
        for out in _fast_batches(conn, start, end, batch):
            done = out[-1][0]
            yield out
    except conn.dialect.loaded_dbapi.Error:
        # json() refuses a column that is not JSON: what is left of the chunk takes the exact path,
        # which reports it. (On SQLite a failed statement leaves the transaction as it was.)
        yield from _exact_batches(conn, done, end, batch)


def _fast_batches(conn: Connection, start: int, end: int, batch: int) -> Iterator[list[Leaf]]:
    sha256 = _sha256
    for part in _batches(conn, _SQLITE_DOCUMENTS.format(start=int(start), end=int(end)), batch):
        out: list[Leaf] = []
        again: list[int] = []
        for seq, document, stored_leaf, tree_leaf in part:
            leaf = b"" if document is None else sha256(b"\x00" + document.encode()).digest()
            if leaf != stored_leaf:
                again.append(seq)
            out.append((seq, leaf, stored_leaf, tree_leaf, ""))
        if again:
            exact = {row[0]: row for row in _exact_leaves(conn, again)}
            out = [exact.get(row[0], row) for row in out]
        yield out


def _exact_batches(conn: Connection, start: int, end: int, batch: int) -> Iterator[list[Leaf]]:
    # The tree's leaves come as a second ordered stream, not a join: PostgreSQL then reads two
    # indexes in order instead of looking one up per entry (several times faster on the server).
    statement = _entry_columns().where(AuditEntry.seq > start, AuditEntry.seq <= end).order_by(AuditEntry.seq)
    tree_leaves = _TreeLeaves(conn, start, end, batch)
    time_text = _time_reader(conn)
    for part in _batches(conn, statement, batch):
        yield [_exact(row, time_text, tree_leaves.take(row[0] - 1)) for row in part]


class _TreeLeaves:
    """The tree's leaves from index `start` on, read in order as the entries come."""

    def __init__(self, conn: Connection, start: int, end: int, batch: int) -> None:
        statement = select(TreeNode.index, TreeNode.hash).where(
            TreeNode.level == 0, TreeNode.index >= start, TreeNode.index < end).order_by(TreeNode.index)
        self._parts = _batches(conn, statement, batch)
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


def _exact_leaves(conn: Connection, seqs: list[int]) -> list[Leaf]:
    """Return the leaves of the given entries rebuilt from their columns, as stored_document would."""
    time_text = _time_reader(conn)
    found: list[Leaf] = []
    for offset in range(0, len(seqs), 1000):
        statement = entry_rows().where(AuditEntry.seq.in_(seqs[offset:offset + 1000]))
        for part in _batches(conn, statement, 1000):
            found.extend(_exact(row, time_text, None if row[14] is None else bytes(row[14])) for row in part)
    return found


def _exact(row: Sequence[Any], time_text: Callable[[Any], str], tree_leaf: bytes | None) -> Leaf:
    stored_leaf = bytes(row[13])
    try:
        return row[0], _leaf(row, time_text(row[1])), stored_leaf, tree_leaf, ""
    except (TypeError, ValueError, KeyError) as exc:
        return row[0], stored_leaf, stored_leaf, tree_leaf, type(exc).__name__


# The canonical JSON of entries.entry_document, keys sorted, the time as isoformat_z writes it.
# json() keeps an object's key order: an unsorted detail just takes the exact path.
_SQLITE_DOCUMENTS = """
SELECT e.seq,
    '{{"action":' || json_quote(e.action) || ',"actor":' || json_quote(e.actor)
    || ',"at":"' || CASE WHEN length(e.at) = 26 AND substr(e.at, 11, 1) = ' '
                    THEN substr(e.at, 1, 10) || 'T' || substr(e.at, 12) END
    || 'Z","basis":' || json_quote(e.basis) || ',"detail":' || json(e.detail)
    || ',"outcome":' || json_quote(e.outcome) || ',"purpose":' || json_quote(e.purpose)
    || ',"reason":' || json_quote(e.reason) || ',"record_ids":' || json(e.record_ids)
    || ',"request_id":' || json_quote(e.request_id) || ',"role":' || json_quote(e.role)
    || ',"seq":' || e.seq || ',"subject_ref":' || json_quote(e.subject_ref) || '}}',
    e.leaf_hash, n.hash
FROM audit_entries e LEFT OUTER JOIN audit_tree_nodes n ON n.level = 0 AND n."index" = e.seq - 1
WHERE e.seq > {start} AND e.seq <= {end} ORDER BY e.seq"""


def _interior_nodes(conn: Connection, chunk: _Chunk) -> dict[tuple[int, int], bytes]:
    """Return the chunk's stored nodes of levels 1 to bits, keyed (level, index)."""
    found: dict[tuple[int, int], bytes] = {}
    for level in range(1, chunk.bits + 1):
        first = chunk.start >> level
        statement = select(TreeNode.index, TreeNode.hash).where(
            TreeNode.level == level, TreeNode.index >= first, TreeNode.index < first + (1 << (chunk.bits - level)))
        for part in _batches(conn, statement, chunk.batch, large=False):
            found.update(((level, index), bytes(node)) for index, node in part)
    return found


def _stored_leaves(conn: Connection, start: int, end: int) -> dict[int, bytes]:
    rows = conn.execute(select(TreeNode.index, TreeNode.hash).where(
        TreeNode.level == 0, TreeNode.index >= start, TreeNode.index < end))
    return {int(index): bytes(node) for index, node in rows}


def _missing(findings: _Findings, start: int, end: int, counter: int) -> None:
    """Record that the entries of leaves [start, end) are not there."""
    if start < min(end, counter):
        findings.add(start, "deleted", f"entries {start + 1} to {min(end, counter)} are missing")
    if max(start, counter) < end:
        first = max(start, counter)
        findings.add(first, "tree", f"the tree or a head covers leaves {first} to {end - 1}, which no entry "
                                    f"was numbered for (the counter is at {counter})")


def _node_differs(findings: _Findings, level: int, position: int, missing: bool) -> None:
    start, end = position << level, ((position + 1) << level) - 1
    what = "is missing" if missing else "differs from the rebuild"
    findings.add(start, "tree", f"stored tree node ({level}, {position}) over leaves {start} to {end} {what}")


# --- workers ------------------------------------------------------------------------------------


_worker: tuple[Source, Engine, Connection] | None = None


def _start_worker(source: Source) -> None:
    global _worker  # one connection per worker process, opened once
    engine = _reader_engine(source.url)
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    _worker = (source, engine, conn)
    Finalize(None, _stop_worker, exitpriority=10)


def _stop_worker() -> None:
    if _worker is not None:
        _worker[2].close()
        _worker[1].dispose()


def _check_chunk_in_worker(chunk: _Chunk) -> _ChunkResult:
    assert _worker is not None
    source, _, conn = _worker
    with conn.begin():
        if source.snapshot is not None:
            if not _SNAPSHOT_ID.fullmatch(source.snapshot):
                raise ValueError("not a PostgreSQL snapshot id")
            # The exporting transaction is open in the parent until every chunk is done.
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{source.snapshot}'")
        return _check_chunk(conn, chunk)


# --- the whole log ------------------------------------------------------------------------------


def verify_log(
    conn: Connection,
    verify_head: HeadVerifier,
    progress: Callable[[int], object] | None = None,
    *,
    source: Source | None = None,
    workers: int = 1,
    chunk_bits: int = CHUNK_BITS,
    batch: int = DEFAULT_BATCH,
    limit: int = DEFAULT_LIMIT,
) -> Report:
    """Recompute every leaf, the tree and every head's root and signature; return what differs.

    Give it one snapshot (see `snapshot`), so that appends and integrations committed meanwhile are
    not mistaken for differences. With a `source` for that snapshot and workers > 1, chunks are
    checked in that many worker processes.
    """
    if not 1 <= chunk_bits <= 40:
        raise ValueError(f"chunk_bits must be from 1 to 40, not {chunk_bits}")
    findings = _Findings(limit)
    counter = int(conn.execute(select(AuditCounter.last_seq).where(AuditCounter.id == 1)).scalar_one())
    size = int(conn.execute(select(TreeState.size).where(TreeState.id == 1)).scalar_one())
    last_seq = int(conn.execute(select(func.coalesce(func.max(AuditEntry.seq), 0))).scalar_one())
    heads = _ordered_heads(all_heads(conn), findings)
    _check_level_counts(conn, size, findings)
    top = _Top(conn, chunk_bits, size, heads, verify_head, findings)
    end = max(counter, size, last_seq, heads[-1].tree_size if heads else 0)
    chunks = [
        _Chunk(number, chunk_bits, min(end, (number + 1) << chunk_bits), counter, size,
               tuple(sorted({h.tree_size for h in heads
                             if number << chunk_bits < h.tree_size <= (number + 1) << chunk_bits})),
               batch, limit)
        for number in range(-(-end >> chunk_bits))
    ]
    entries = 0
    for result in _run(conn, chunks, source, workers):
        entries += result.entries
        findings.merge(result.found, result.total)
        top.join(result)
        if progress is not None:
            progress(result.entries)
    top.finish(last_seq)
    return Report(entries=entries, tree_size=size, heads=len(heads), differences=findings.result(),
                  total_differences=findings.total)


def _run(conn: Connection, chunks: list[_Chunk], source: Source | None, workers: int) -> Iterator[_ChunkResult]:
    """Yield the chunks' results in order, checked here or by worker processes."""
    if workers <= 1 or source is None or len(chunks) < 2:
        for chunk in chunks:
            yield _check_chunk(conn, chunk)
        return
    # Forked where the platform can (a spawned worker spends seconds importing before it starts);
    # a worker opens connections of its own and leaves the inherited ones alone (it ends in os._exit).
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pool = context.Pool(min(workers, len(chunks)), initializer=_start_worker, initargs=(source,))
    try:
        yield from pool.imap(_check_chunk_in_worker, chunks)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


class _Top:
    """The tree above the chunks: joins their roots, checks the nodes up there, and checks the heads."""

    def __init__(self, conn: Connection, bits: int, size: int, heads: list[SignedHead], verify_head: HeadVerifier,
                 findings: _Findings) -> None:
        self.bits = bits
        self.size = size
        self.findings = findings
        self.verify_head = verify_head
        self.stored = {(int(level), int(index)): bytes(node) for level, index, node in conn.execute(
            select(TreeNode.level, TreeNode.index, TreeNode.hash).where(TreeNode.level > bits))}
        self.frontier: Frontier = []
        self.broken = False
        self.heads = heads
        self.checked = 0
        self.previous_size = 0
        self._reach(0, [])

    def join(self, result: _ChunkResult) -> None:
        """Add a chunk: check the heads inside it, then put its subtree on the right edge."""
        if self.broken:
            return
        for size in sorted(result.at_heads):
            self._reach(size, result.at_heads[size])
        if result.broken_at is not None:
            self.broken = True
            return
        start = result.number << self.bits
        for level, node in result.frontier:
            self._push(level, node, start)
            start += 1 << level

    def finish(self, entries: int) -> None:
        """Report the heads the rebuild never reached."""
        for head in self.heads[self.checked:]:
            self.findings.add(min(self.previous_size, entries), "head",
                              f"head {head.id} is for {head.tree_size} leaves, beyond what could be rebuilt")
            self.previous_size = head.tree_size

    def _push(self, level: int, node: bytes, start: int) -> None:
        """Add a perfect subtree of 2**level leaves from leaf `start` to the right edge."""
        frontier = self.frontier
        last = start + (1 << level) - 1
        while frontier and frontier[-1][0] == level:
            node = merkle.node_hash(frontier.pop()[1], node)
            level += 1
            index = last >> level
            if last < self.size and level > self.bits and self.stored.get((level, index)) != node:
                _node_differs(self.findings, level, index, (level, index) not in self.stored)
        frontier.append((level, node))

    def _reach(self, size: int, inside: Frontier) -> None:
        """Check the heads of `size` leaves, whose tree is this right edge plus the chunk's `inside`."""
        while self.checked < len(self.heads) and self.heads[self.checked].tree_size == size:
            head = self.heads[self.checked]
            self.checked += 1
            self._check(head, _root(self.frontier + inside))
            self.previous_size = head.tree_size

    def _check(self, head: SignedHead, root: bytes) -> None:
        where = self.previous_size
        label = f"head {head.id} (tree size {head.tree_size})"
        claims = self.verify_head(head.jws)
        if claims is None:
            self.findings.add(where, "head", f"{label}: the signature does not verify")
        elif dict(claims) != head.claims():
            self.findings.add(where, "head", f"{label}: the signed claims differ from the stored head")
        if head.root_hash != root:
            self.findings.add(where, "head", f"{label}: the stored root differs from the rebuilt tree's root")


def _root(frontier: Frontier) -> bytes:
    """Return the root of a tree given its right edge."""
    if not frontier:
        return merkle.EMPTY_ROOT
    result = frontier[-1][1]
    for _, left in reversed(frontier[:-1]):
        result = merkle.node_hash(left, result)
    return result


def _ordered_heads(heads: list[SignedHead], findings: _Findings) -> list[SignedHead]:
    """Return the heads by size, noting any stored out of order (a checkpoint never shrinks the tree)."""
    for previous, head in itertools.pairwise(heads):
        if head.tree_size <= previous.tree_size:
            findings.add(head.tree_size, "head", f"head {head.id} (size {head.tree_size}) was stored after "
                                                 f"head {previous.id} (size {previous.tree_size})")
    return sorted(heads, key=lambda h: (h.tree_size, h.id))


def _check_level_counts(conn: Connection, size: int, findings: _Findings) -> None:
    """Note every level holding nodes beyond the tree of `size` leaves (missing ones show in the rebuild)."""
    rows = conn.execute(select(TreeNode.level, func.count()).group_by(TreeNode.level)).all()
    for level, count in rows:
        expected = size >> level
        if count > expected:
            findings.add(expected << level, "tree", f"level {level} of the tree holds {count} nodes, "
                                                    f"{count - expected} beyond a tree of {size} leaves")

