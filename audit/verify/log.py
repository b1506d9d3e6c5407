"""The whole log: its counters and heads read, its chunks checked in order, the top of the tree joined."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from audit.entries import AuditCounter, AuditEntry
from audit.heads import all_heads
from audit.tree import TreeNode, TreeState
from audit.verify.chunks import Chunk
from audit.verify.heads import HeadVerifier, TreeTop, ordered_heads
from audit.verify.report import FIRST, Findings, Report
from audit.verify.snapshot import Source
from audit.verify.workers import chunk_results

CHUNK_BITS = 16  # the largest chunk: 2**16 leaves
MIN_CHUNK_BITS = 12
CHUNKS_PER_WORKER = 4
DEFAULT_BATCH = 20_000
DEFAULT_LIMIT = 100


def verify_log(
    conn: Connection,
    verify_head: HeadVerifier,
    progress: Callable[[int], object] | None = None,
    *,
    source: Source | None = None,
    workers: int = 1,
    chunk_bits: int | None = None,
    batch: int = DEFAULT_BATCH,
    limit: int = DEFAULT_LIMIT,
) -> Report:
    """Recompute every leaf, the tree and every head's root and signature; return what differs.

    Give it one snapshot (see `snapshot`), so that appends and integrations committed meanwhile are
    not mistaken for differences. With a `source` for that snapshot and workers > 1, chunks are
    checked in that many worker processes. The chunks are of 2**chunk_bits leaves, by default as
    `chunk_bits_for` chooses; the report is the same whatever their size.
    """
    if chunk_bits is not None and not 1 <= chunk_bits <= 40:
        raise ValueError(f"chunk_bits must be from 1 to 40, not {chunk_bits}")
    findings = Findings(limit)
    counter = int(conn.execute(select(AuditCounter.last_seq).where(AuditCounter.id == 1)).scalar_one())
    size = int(conn.execute(select(TreeState.size).where(TreeState.id == 1)).scalar_one())
    last_seq = int(conn.execute(select(func.coalesce(func.max(AuditEntry.seq), 0))).scalar_one())
    heads = ordered_heads(all_heads(conn), findings)
    end = max(counter, size, last_seq, heads[-1].tree_size if heads else 0)
    if chunk_bits is None:
        chunk_bits = chunk_bits_for(end, workers if source is not None else 1)
    _check_level_counts(conn, size, findings)
    top = TreeTop(conn, chunk_bits, size, heads, verify_head, findings)
    chunks = [
        Chunk(number, chunk_bits, min(end, (number + 1) << chunk_bits), counter, size,
               tuple(sorted({h.tree_size for h in heads
                             if number << chunk_bits < h.tree_size <= (number + 1) << chunk_bits})),
               batch, limit, end)
        for number in range(-(-end >> chunk_bits))
    ]
    entries = 0
    for result in chunk_results(conn, chunks, source, workers):
        entries += result.entries
        if top.broken:
            findings.merge(result.found_past_a_break, result.total_past_a_break)
        else:
            findings.merge(result.found, result.total)
        top.join(result)
        if progress is not None:
            progress(result.entries)
    top.finish(last_seq)
    return Report(entries=entries, tree_size=size, heads=len(heads), differences=findings.result(),
                  total_differences=findings.total)


def chunk_bits_for(leaves: int, workers: int) -> int:
    """Return the chunk size (as a power of two) for a log of `leaves` checked by `workers` processes.

    The largest chunks in one process (each chunk costs a few statements); else chunks small enough
    that every worker has several (a log of 65,000 entries was one or two chunks of 2**16 leaves, and
    the workers idle but one), yet not below 2**12 leaves, where the statements start to show.
    """
    if workers <= 1:
        return CHUNK_BITS
    bits = (leaves // (CHUNKS_PER_WORKER * workers)).bit_length() - 1
    return max(MIN_CHUNK_BITS, min(CHUNK_BITS, bits))


def _check_level_counts(conn: Connection, size: int, findings: Findings) -> None:
    """Note every level holding nodes beyond the tree of `size` leaves (missing ones show in the rebuild).

    (level, index) is the nodes' primary key and PostgreSQL's index an integer, so there a level holds
    more than the tree's size >> level nodes only if one lies outside [0, size >> level): each level's
    first and last index (look-ups in the key, one statement) say which levels to count, rather than
    counting every node of the tree before any chunk starts (37 ms of a 0.5 s run over 65,000 entries on PostgreSQL).
    """
    if conn.dialect.name == "sqlite":
        # SQLite keeps whatever is put in a column (3.5, 'x'): a stray node need not lie outside the bounds,
        # so every level is counted (about 20 ms over 65,000 entries).
        counts: list[tuple[int, int]] = [(int(level), int(count)) for level, count in conn.execute(
            select(TreeNode.level, func.count()).group_by(TreeNode.level)).all()]
    else:
        counts = [(level, int(conn.execute(select(func.count()).select_from(TreeNode)
                                           .where(TreeNode.level == level)).scalar_one()))
                  for level, first, last in conn.execute(text(_LEVEL_BOUNDS)).all()
                  if first < 0 or last >= size >> level]
    for level, count in counts:
        expected = size >> level
        if count > expected:
            findings.add(expected << level, "tree", f"level {level} of the tree holds {count} nodes, "
                                                    f"{count - expected} beyond a tree of {size} leaves", FIRST)


# Every level of the tree (one look-up in the key per level, as a loose index scan) and its first and
# last index.
_LEVEL_BOUNDS = """
WITH RECURSIVE levels(level) AS (
    SELECT min(level) FROM audit_tree_nodes
    UNION ALL
    SELECT (SELECT min(n.level) FROM audit_tree_nodes n WHERE n.level > levels.level)
    FROM levels WHERE levels.level IS NOT NULL
)
SELECT level, (SELECT min(n."index") FROM audit_tree_nodes n WHERE n.level = levels.level),
    (SELECT max(n."index") FROM audit_tree_nodes n WHERE n.level = levels.level)
FROM levels WHERE level IS NOT NULL ORDER BY level"""
