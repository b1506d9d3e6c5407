"""The audit log's RFC 9162 Merkle tree, stored as perfect subtrees and grown after commit, in batches.

Appends stay as they are: an entry is an independent leaf whose hash is written with it. The tree
integrates committed entries later, as transparency logs integrate queued leaves: `integrate`
locks the one-row state, reads the leaf hashes of the entries after the integrated size in
sequence order, and stores every perfect-subtree node they complete (level 0 holding the leaves).
A root or a proof then reads O(log n) nodes in one query (see audit.merkle), never the leaves.

Leaf index i is the entry with seq i + 1. Entries become visible in seq order (the counter's row
lock is held from numbering to commit), so a hole after the integrated size is never a transaction
still in flight: it is a deleted or renumbered entry, and the tree refuses to grow past it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy import (
    DDL,
    BigInteger,
    CheckConstraint,
    Integer,
    LargeBinary,
    SmallInteger,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.selectable import TextualSelect

from audit import merkle
from audit.entries import AuditBase, AuditEntry
from audit.errors import TreeInconsistent, TreeSizeOutOfRange

DEFAULT_BATCH = 10_000


class TreeState(AuditBase):
    __tablename__ = "audit_tree_state"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("size >= 0", name="size_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, comment="entries 1..size are leaves of the tree")


event.listen(
    TreeState.__table__,
    "after_create",
    DDL("INSERT INTO audit_tree_state (id, size) VALUES (1, 0)"),  # type: ignore[no-untyped-call]
)


class TreeNode(AuditBase):
    __tablename__ = "audit_tree_nodes"
    __table_args__ = (
        CheckConstraint("level >= 0 AND level < 64", name="level_range"),
        CheckConstraint('"index" >= 0', name="index_non_negative"),
    )

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(
        LargeBinary(32), comment="hash of the 2**level leaves from leaf index * 2**level; written once"
    )


class DbNodeStore:
    """A merkle.NodeStore over audit_tree_nodes: get_many reads all the keys it is given in one query."""

    def __init__(self, session: Session | Connection) -> None:
        self._session = session

    def get(self, level: int, index: int) -> bytes:
        """Return the hash of node (level, index); raise KeyError if it is not stored."""
        return self.get_many([(level, index)])[(level, index)]

    def get_many(self, keys: Sequence[merkle.Key]) -> dict[merkle.Key, bytes]:
        """Return the stored hashes of the given nodes, keyed by (level, index); missing ones are left out."""
        if not keys:
            return {}
        params = {}
        for n, (level, index) in enumerate(keys):
            params[f"l{n}"], params[f"i{n}"] = level, index
        rows = self._session.execute(_nodes_query(len(keys)), params)
        return {(int(level), int(index)): bytes(node) for level, index, node in rows}


@lru_cache(maxsize=512)
def _nodes_query(count: int) -> TextualSelect:
    """Return the query of `count` nodes by primary key, made once per count.

    A disjunction of primary-key equalities: both backends answer it with index lookups (a row-value
    IN makes SQLite scan the table), and there are at most about 2 * log2(n) of them. Written as text
    because building it as an expression costs more than running it.
    """
    terms = " OR ".join(f'(level = :l{n} AND "index" = :i{n})' for n in range(count))
    # Only numbered placeholders go into the text (S608); the values are bound parameters.
    return text(f'SELECT level, "index", hash FROM audit_tree_nodes WHERE {terms}').columns(  # noqa: S608
        TreeNode.level, TreeNode.index, TreeNode.hash)


def integrated_size(session: Session | Connection) -> int:
    """Return how many entries (from seq 1) are leaves of the tree."""
    return int(session.execute(select(TreeState.size).where(TreeState.id == 1)).scalar_one())


def integrate(session: Session, max_batch: int = DEFAULT_BATCH) -> int:
    """Add the next committed entries (at most max_batch) to the tree in the caller's transaction.

    Returns how many leaves were added (0 when the tree is up to date). Raises TreeInconsistent if
    the entries after the integrated size are not numbered size + 1, size + 2, ...
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be positive, not {max_batch}")
    # The state row lock (PostgreSQL) or the write lock (SQLite) makes integrations take turns;
    # appends never touch this row, so they are not held up.
    size = int(session.execute(
        select(TreeState.size).where(TreeState.id == 1).with_for_update()
    ).scalar_one())
    rows = session.execute(
        select(AuditEntry.seq, AuditEntry.leaf_hash)
        .where(AuditEntry.seq > size).order_by(AuditEntry.seq).limit(max_batch)
    ).all()
    if not rows:
        return 0
    leaves: list[bytes] = []
    for expected, (seq, leaf) in enumerate(rows, start=size + 1):
        if seq != expected:
            raise TreeInconsistent(f"entry {expected} is missing: the next entry after {expected - 1} is {seq}")
        leaves.append(bytes(leaf))
    store = DbNodeStore(session)
    nodes = merkle.nodes_to_add(store, size, leaves)
    session.execute(insert(TreeNode), [{"level": lv, "index": ix, "hash": h} for lv, ix, h in nodes])
    session.execute(update(TreeState).where(TreeState.id == 1).values(size=size + len(leaves)))
    return len(leaves)


def root(session: Session | Connection, tree_size: int, integrated: int | None = None) -> bytes:
    """Return the root hash of the first tree_size leaves; raise TreeSizeOutOfRange beyond the tree.

    `integrated` is a size the caller knows the tree has reached (a signed head's), saving a read.
    """
    _check_size(session, "tree_size", tree_size, integrated)
    return merkle.root(DbNodeStore(session), tree_size)


def leaf_hash(session: Session | Connection, index: int) -> bytes:
    """Return the tree's leaf hash at index; raise TreeSizeOutOfRange if it is not integrated."""
    if index < 0:
        raise TreeSizeOutOfRange("index", "must not be negative")
    try:
        return DbNodeStore(session).get(0, index)
    except KeyError:
        raise TreeSizeOutOfRange("index", f"leaf {index} is not in the tree yet") from None


def inclusion_proof(
    session: Session | Connection, index: int, tree_size: int, integrated: int | None = None
) -> list[bytes]:
    """Return the audit path of leaf index in the tree of tree_size leaves (RFC 9162 §2.1.3.1).

    Raises TreeSizeOutOfRange if tree_size exceeds the integrated tree or index is not below it.
    """
    _check_size(session, "tree_size", tree_size, integrated)
    if not 0 <= index < tree_size:
        raise TreeSizeOutOfRange("index", f"must be at least 0 and less than tree_size ({tree_size})")
    return merkle.inclusion_proof(DbNodeStore(session), index, tree_size)


def inclusion_proof_with_leaf(
    session: Session | Connection, index: int, tree_size: int, integrated: int | None = None
) -> tuple[bytes, list[bytes]]:
    """Return the leaf hash at index and its audit path in the tree of tree_size leaves, in one read.

    Raises TreeSizeOutOfRange as inclusion_proof does.
    """
    _check_size(session, "tree_size", tree_size, integrated)
    if not 0 <= index < tree_size:
        raise TreeSizeOutOfRange("index", f"must be at least 0 and less than tree_size ({tree_size})")
    store = _AlsoReading(DbNodeStore(session), (0, index))
    path = merkle.inclusion_proof(store, index, tree_size)
    leaf = store.extra if store.extra is not None else store.get(0, index)
    return leaf, path


# Nodes read per query when many proofs are made at once (each node is two bound parameters).
PROOF_BATCH_NODES = 400


def inclusion_proofs_with_leaves(
    session: Session | Connection, indexes: Sequence[int], tree_size: int, integrated: int | None = None
) -> dict[int, tuple[bytes, list[bytes]]]:
    """Return {index: (leaf hash, audit path)} in the tree of tree_size leaves, reading every node once.

    Neighbouring leaves share most of their paths, so a page of proofs takes a few queries, not one
    each. Raises TreeSizeOutOfRange as inclusion_proof does.
    """
    _check_size(session, "tree_size", tree_size, integrated)
    wanted: set[merkle.Key] = set()
    for index in indexes:
        if not 0 <= index < tree_size:
            raise TreeSizeOutOfRange("index", f"must be at least 0 and less than tree_size ({tree_size})")
        wanted.add((0, index))
        wanted.update(merkle.inclusion_keys(index, tree_size))
    keys = sorted(wanted)
    store = DbNodeStore(session)
    found: dict[merkle.Key, bytes] = {}
    for start in range(0, len(keys), PROOF_BATCH_NODES):
        found.update(store.get_many(keys[start:start + PROOF_BATCH_NODES]))
    read = _Read(found)
    return {index: (read.get(0, index), merkle.inclusion_proof(read, index, tree_size)) for index in indexes}


class _Read:
    """A NodeStore over nodes already read."""

    def __init__(self, nodes: dict[merkle.Key, bytes]) -> None:
        self._nodes = nodes

    def get(self, level: int, index: int) -> bytes:
        return self._nodes[(level, index)]

    def get_many(self, keys: Sequence[merkle.Key]) -> dict[merkle.Key, bytes]:
        return {key: self._nodes[key] for key in keys if key in self._nodes}


class _AlsoReading:
    """A NodeStore that reads one more node with the first batch, so a proof and its leaf take one query."""

    def __init__(self, store: DbNodeStore, key: merkle.Key) -> None:
        self._store = store
        self._key = key
        self.extra: bytes | None = None

    def get(self, level: int, index: int) -> bytes:
        return self._store.get(level, index)

    def get_many(self, keys: Sequence[merkle.Key]) -> dict[merkle.Key, bytes]:
        found = self._store.get_many([*keys, self._key] if self._key not in keys else keys)
        self.extra = found.get(self._key)
        return found


def consistency_proof(
    session: Session | Connection, first: int, second: int, integrated: int | None = None
) -> list[bytes]:
    """Return the proof that the tree of first leaves is a prefix of that of second (RFC 9162 §2.1.4.1).

    Raises TreeSizeOutOfRange unless 0 < first <= second <= the integrated size.
    """
    _check_size(session, "second", second, integrated)
    if not 0 < first <= second:
        raise TreeSizeOutOfRange("first", f"must be at least 1 and at most second ({second})")
    return merkle.consistency_proof(DbNodeStore(session), first, second)


def _check_size(session: Session | Connection, field: str, tree_size: int, integrated: int | None) -> None:
    if tree_size < 0:
        raise TreeSizeOutOfRange(field, "must not be negative")
    size = integrated_size(session) if integrated is None else integrated
    if tree_size > size:
        raise TreeSizeOutOfRange(field, f"the tree holds {size} leaves")
