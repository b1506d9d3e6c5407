"""The top of the tree and the signed heads: the chunks' roots joined, the nodes above them and each head checked."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from audit import merkle
from audit.heads import SignedHead
from audit.tree import TreeNode
from audit.verify.chunks import ChunkResult, Frontier
from audit.verify.report import FIRST, HEADS, Findings, note_node_differs

HeadVerifier = Callable[[str], Mapping[str, Any] | None]
"""Return the claims of a head's JWS if its signature verifies, else None."""


class TreeTop:
    """The tree above the chunks: joins their roots, checks the nodes up there, and checks the heads."""

    def __init__(self, conn: Connection, bits: int, size: int, heads: list[SignedHead], verify_head: HeadVerifier,
                 findings: Findings) -> None:
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

    def join(self, result: ChunkResult) -> None:
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
                              f"head {head.id} is for {head.tree_size} leaves, beyond what could be rebuilt", HEADS)
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
                note_node_differs(self.findings, level, index, (level, index) not in self.stored)
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
            self.findings.add(where, "head", f"{label}: the signature does not verify", HEADS)
        elif dict(claims) != head.claims():
            self.findings.add(where, "head", f"{label}: the signed claims differ from the stored head", HEADS)
        if head.root_hash != root:
            self.findings.add(where, "head", f"{label}: the stored root differs from the rebuilt tree's root", HEADS)


def _root(frontier: Frontier) -> bytes:
    """Return the root of a tree given its right edge."""
    if not frontier:
        return merkle.EMPTY_ROOT
    result = frontier[-1][1]
    for _, left in reversed(frontier[:-1]):
        result = merkle.node_hash(left, result)
    return result


def ordered_heads(heads: list[SignedHead], findings: Findings) -> list[SignedHead]:
    """Return the heads by size, noting any stored out of order (a checkpoint never shrinks the tree)."""
    for previous, head in itertools.pairwise(heads):
        if head.tree_size <= previous.tree_size:
            findings.add(head.tree_size, "head", f"head {head.id} (size {head.tree_size}) was stored after "
                                                 f"head {previous.id} (size {previous.tree_size})", FIRST)
    return sorted(heads, key=lambda h: (h.tree_size, h.id))
