"""Checking one chunk: a perfect subtree of 2**bits leaves, its entries and its stored nodes.

The leaves are taken in aligned chunks, each a perfect subtree of the tree that can be checked on
its own: in this process, or in worker processes reading the same snapshot.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, union_all
from sqlalchemy.engine import Connection

from audit.entries import AuditEntry
from audit.tree import TreeNode
from audit.verify.leaves import rebuilt_leaves
from audit.verify.report import Difference, Findings, note_missing, note_node_differs
from audit.verify.snapshot import Query, row_batches

Frontier = list[tuple[int, bytes]]
"""Perfect subtrees (level, hash), largest first: the right edge of a tree being built."""


@dataclass(frozen=True)
class Chunk:
    """What a chunk's check needs to know of the whole log (as this process read it)."""

    number: int
    bits: int
    end: int  # leaves to look at: the chunk stops here if the log does
    counter: int
    size: int
    head_sizes: tuple[int, ...]
    batch: int
    limit: int
    log_end: int  # leaves the whole log is looked at for

    @property
    def start(self) -> int:
        """Return the chunk's first leaf index."""
        return self.number << self.bits


@dataclass(frozen=True)
class ChunkResult:
    """What a chunk's check found, and what the top of the tree needs of its subtree."""

    number: int
    entries: int
    found: tuple[Difference, ...]
    total: int
    # What it found that a pass over the whole log still notes once the rebuild has broken off before
    # this chunk (missing entries, entries out of order): the differences that count then.
    found_past_a_break: tuple[Difference, ...]
    total_past_a_break: int
    frontier: Frontier  # at the chunk's end, or where the rebuild broke off
    at_heads: dict[int, Frontier]
    broken_at: int | None  # the first leaf neither an entry nor the tree has


def check_chunk(conn: Connection, chunk: Chunk) -> ChunkResult:
    """Check the entries and stored nodes of one chunk; return its findings and its subtree's frontier."""
    findings = Findings(chunk.limit)
    past_a_break = Findings(chunk.limit)
    start, end, size, counter = chunk.start, chunk.end, chunk.size, chunk.counter
    stored = _interior_nodes(conn, chunk)
    # The interior nodes the rebuild completes, per level in order of position from the chunk's first:
    # compared with the stored ones a level at a time at the end (a list comparison, in C).
    built: list[list[bytes]] = [[] for _ in range(chunk.bits + 1)]
    levels: list[int] = []
    hashes: list[bytes] = []
    at_heads: dict[int, Frontier] = {}
    wanted = iter(chunk.head_sizes)
    next_head = next(wanted, -1)
    broken_at: int | None = None
    position = start  # the next leaf the rebuild expects
    entries = 0
    sha256 = hashlib.sha256

    def push(index: int, leaf: bytes) -> None:
        nonlocal next_head
        node, level = leaf, 0
        while levels and levels[-1] == level:
            levels.pop()
            node = sha256(b"\x01" + hashes.pop() + node).digest()
            level += 1
            built[level].append(node)
        levels.append(level)
        hashes.append(node)
        if index + 1 == next_head:
            at_heads[next_head] = list(zip(levels, hashes, strict=True))
            next_head = next(wanted, -1)

    def gone(until: int) -> None:
        """Note the entries of leaves [position, until) missing; carry the rebuild over them with the tree's leaves."""
        nonlocal broken_at
        _note_gap(conn, chunk, position, until, findings, past_a_break)
        if broken_at is not None:
            return
        leaves = _stored_leaves(conn, position, min(until, size))
        for index in range(position, until):
            leaf = leaves.get(index)
            if leaf is None:
                broken_at = index
                return
            push(index, leaf)

    for part in rebuilt_leaves(conn, start, end, chunk.batch):
        for seq, leaf, stored_leaf, tree_leaf, failure in part:
            index = seq - 1
            if index != position:
                if index < position:  # rows come ordered by a unique key: only a broken database gets here
                    for found in (findings, past_a_break):
                        found.add(index, "reordered", f"entry {seq} came after entry {position}")
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
                    note_node_differs(findings, 0, index, tree_leaf is None)
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
                built[level].append(node)
            levels.append(level)
            hashes.append(node)
            if seq == next_head:
                at_heads[next_head] = list(zip(levels, hashes, strict=True))
                next_head = next(wanted, -1)
    if position < end:
        gone(end)
    _compare_nodes(findings, chunk, built, stored)
    return ChunkResult(chunk.number, entries, findings.result(), findings.total, past_a_break.result(),
                       past_a_break.total, list(zip(levels, hashes, strict=True)), at_heads, broken_at)


def _note_gap(conn: Connection, chunk: Chunk, start: int, until: int, *findings: Findings) -> None:
    """Note the entries of leaves [start, until) missing, as one pass over the whole log would: a gap
    that runs on from the chunk before was noted there, and one that runs on past this chunk's end is
    noted here up to the next entry (a look-up by key, only where a gap meets a chunk's edge)."""
    if start == chunk.start and start > 0 and _next_entry(conn, start - 1, start) == start:
        return
    if until == chunk.end < chunk.log_end:
        until = _next_entry(conn, until, chunk.log_end)
    for found in findings:
        note_missing(found, start, until, chunk.counter)


def _next_entry(conn: Connection, start: int, end: int) -> int:
    """Return the leaf index of the first entry from leaf `start` to before `end`, or `end` if none."""
    seq = conn.execute(select(func.min(AuditEntry.seq)).where(AuditEntry.seq > start, AuditEntry.seq <= end)).scalar()
    return end if seq is None else int(seq) - 1


def _interior_nodes(conn: Connection, chunk: Chunk) -> list[list[bytes | None]]:
    """Return the chunk's stored nodes of levels 1 to bits: per level, by position from the chunk's first
    (None where a node is missing). Level 0, the leaves, comes with the entries."""
    found: list[list[bytes | None]] = [[None] * (1 << (chunk.bits - level)) for level in range(chunk.bits + 1)]
    found[0] = []
    bounds = {f"first_{level}": chunk.start >> level for level in range(1, chunk.bits + 1)}
    for part in row_batches(conn, _subtree_nodes(chunk.bits), chunk.batch, large=False, params=bounds):
        for level, index, node in part:
            found[level][index - bounds[f"first_{level}"]] = bytes(node)
    return found


@functools.cache
def _subtree_nodes(bits: int) -> Query:
    """Return the nodes of levels 1 to `bits` over 2**bits leaves from leaf first_1 * 2: one statement
    of an index range per level (a statement per level cost a round trip and a compile each: 16 chunks
    of 2**12 leaves spent 0.8 s of a 65,000-entry run on PostgreSQL there)."""
    n = TreeNode
    return union_all(*(
        select(n.level, n.index, n.hash).where(
            n.level == level, n.index >= bindparam(f"first_{level}"),
            n.index < bindparam(f"first_{level}") + (1 << (bits - level)))
        for level in range(1, bits + 1)))


def _compare_nodes(findings: Findings, chunk: Chunk, built: list[list[bytes]],
                   stored: list[list[bytes | None]]) -> None:
    """Note every stored interior node that differs from the rebuild, or is missing, where the tree of
    chunk.size leaves has it (a node is in the tree once the last leaf under it is)."""
    for level in range(1, chunk.bits + 1):
        first = chunk.start >> level
        mine, theirs = built[level], stored[level]
        count = min(len(mine), max(0, (chunk.size >> level) - first))
        if mine[:count] == theirs[:count]:
            continue
        for offset in range(count):
            if mine[offset] != theirs[offset]:
                note_node_differs(findings, level, first + offset, theirs[offset] is None)


def _stored_leaves(conn: Connection, start: int, end: int) -> dict[int, bytes]:
    rows = conn.execute(select(TreeNode.index, TreeNode.hash).where(
        TreeNode.level == 0, TreeNode.index >= start, TreeNode.index < end))
    return {int(index): bytes(node) for index, node in rows}
