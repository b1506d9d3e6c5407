"""RFC 9162 §2.1 (= RFC 6962 §2.1) Merkle Tree Hash over a store of perfect subtrees.

The audit log keeps its tree as rows of *perfect subtrees*: node (level, index) is the hash of the
2**level leaves starting at leaf index * 2**level, and level 0 holds the leaf hashes themselves.
Nodes are written once, when the append that fills them commits, and never change afterwards.

Every RFC subtree hash (a root, or an element of a proof) covers a leaf range that splits into at
most about log2(n) aligned perfect subtrees, so roots and proofs cost one batch read of O(log n)
keys, and an append needs only the right-edge frontier of the tree it extends.

Nothing here does I/O: a `NodeStore` is whatever the caller backs it with (a table, a dict).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Key = tuple[int, int]
"""A node's (level, index)."""

Range = tuple[int, int]
"""A half-open leaf range [start, end)."""

Node = tuple[int, int, bytes]
"""A perfect-subtree node (level, index, hash): 2**level leaves from leaf index * 2**level."""


@runtime_checkable
class NodeStore(Protocol):
    """Read access to perfect-subtree nodes; a missing node raises KeyError."""

    def get(self, level: int, index: int) -> bytes:
        """Return the hash of node (level, index)."""
        ...

    def get_many(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """Return the hashes of the given nodes, keyed by (level, index)."""
        ...


class InMemoryNodeStore:
    """A dict-backed NodeStore, for tests and for checking a full rebuild."""

    def __init__(self) -> None:
        self._nodes: dict[Key, bytes] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def keys(self) -> set[Key]:
        """Return the (level, index) of every stored node."""
        return set(self._nodes)

    def add(self, level: int, index: int, node: bytes) -> None:
        """Store one node; storing a different hash under an existing key is refused."""
        if level < 0 or index < 0 or len(node) != HASH_SIZE:
            raise ValueError(f"not a valid node: ({level}, {index}) with {len(node)} bytes")
        # Completed nodes are immutable in an append-only tree, so a conflict is a bug or tampering.
        if self._nodes.setdefault((level, index), node) != node:
            raise ValueError(f"node ({level}, {index}) already holds a different hash")

    def extend(self, nodes: Iterable[Node]) -> None:
        """Store every node, as returned by nodes_to_add."""
        for node in nodes:
            self.add(*node)

    def get(self, level: int, index: int) -> bytes:
        """Return the hash of node (level, index)."""
        return self._nodes[(level, index)]

    def get_many(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """Return the hashes of the given nodes, keyed by (level, index)."""
        return {key: self._nodes[key] for key in keys}


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC leaf hash SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """Return k, the largest power of two smaller than n, where the RFC splits n >= 2 leaves."""
    if n < 2:
        raise ValueError(f"only a tree of two or more leaves is split, not {n}")
    return 1 << ((n - 1).bit_length() - 1)


def subtree_keys(start: int, end: int) -> list[Key]:
    """Return the maximal aligned perfect subtrees covering leaves [start, end), left to right."""
    if not 0 <= start <= end:
        raise ValueError(f"not a leaf range: [{start}, {end})")
    keys: list[Key] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            # A subtree of 2**level leaves must start at a multiple of 2**level.
            level = min(level, (start & -start).bit_length() - 1)
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def frontier_keys(tree_size: int) -> list[Key]:
    """Return the right-edge frontier of a tree: its perfect subtrees, largest (leftmost) first."""
    return subtree_keys(0, tree_size)


def nodes_to_add(
    source: NodeStore | Sequence[bytes], tree_size_before: int, new_leaf_hashes: Sequence[bytes]
) -> list[Node]:
    """Return every perfect-subtree node completed by appending the leaves, the leaves included.

    `source` is the store holding the tree of `tree_size_before` leaves, or the hashes of that
    tree's `frontier_keys`, in order; only those O(log n) nodes are read.
    """
    stack = _frontier(source, tree_size_before)
    added: list[Node] = []
    for index, node in enumerate(new_leaf_hashes, start=tree_size_before):
        level, node = 0, _checked(node)
        added.append((level, index, node))
        # Equal levels on top of the stack are siblings: each merge completes their parent.
        while stack and stack[-1][0] == level:
            node = node_hash(stack.pop()[2], node)
            level, index = level + 1, index >> 1
            added.append((level, index, node))
        stack.append((level, index, node))
    return added


def root(store: NodeStore, tree_size: int) -> bytes:
    """Return the RFC root hash of the first tree_size leaves."""
    if tree_size < 0:
        raise ValueError(f"negative tree size {tree_size}")
    if tree_size == 0:
        return EMPTY_ROOT
    return _hash_ranges(store, [(0, tree_size)])[0]


def inclusion_proof(store: NodeStore, index: int, tree_size: int) -> list[bytes]:
    """Return the RFC 9162 §2.1.3.1 inclusion proof of leaf index in a tree of tree_size leaves."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf {index} is not in a tree of {tree_size} leaves")
    return _hash_ranges(store, _inclusion_ranges(index, tree_size))


def inclusion_keys(index: int, tree_size: int) -> list[Key]:
    """Return the perfect-subtree nodes an inclusion proof of leaf index is made of, to read them in bulk."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf {index} is not in a tree of {tree_size} leaves")
    return [key for start, end in _inclusion_ranges(index, tree_size) for key in subtree_keys(start, end)]


def consistency_proof(store: NodeStore, first: int, second: int) -> list[bytes]:
    """Return the RFC 9162 §2.1.4.1 proof that the first tree is a prefix of the second."""
    if not 0 < first <= second:
        # A proof from the empty tree proves nothing, and verifiers reject it.
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    return _hash_ranges(store, _consistency_ranges(first, second))


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the root by the RFC's recursive definition, independently of any store."""
    leaves = [_checked(leaf) for leaf in leaf_hashes]
    return _mth(leaves, 0, len(leaves)) if leaves else EMPTY_ROOT


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof per RFC 9162 §2.1.3.2; bad input gives False, never raises."""
    if not (_is_hash(leaf_hash) and _is_hash(root) and _is_proof(proof)):
        return False
    if not (_is_count(index) and _is_count(tree_size) and index < tree_size):
        return False
    return _root_from_inclusion(leaf_hash, index, tree_size, proof) == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check a consistency proof per RFC 9162 §2.1.4.2; bad input gives False, never raises."""
    if not (_is_hash(first_root) and _is_hash(second_root) and _is_proof(proof)):
        return False
    # As in the reference verifier, a proof from the empty tree is meaningless and rejected.
    if not (_is_count(first) and _is_count(second) and 0 < first <= second):
        return False
    if first == second:
        return not proof and first_root == second_root
    roots = _roots_from_consistency(first, second, first_root, proof)
    return roots == (first_root, second_root)


def _frontier(source: NodeStore | Sequence[bytes], tree_size: int) -> list[Node]:
    """Return the frontier nodes of a tree of tree_size leaves, read from the store or given."""
    keys = frontier_keys(tree_size)
    if isinstance(source, NodeStore):
        found = _fetch(source, keys)
        hashes = [found[key] for key in keys]
    else:
        hashes = [_checked(node) for node in source]
        if len(hashes) != len(keys):
            raise ValueError(f"a tree of {tree_size} leaves has {len(keys)} frontier nodes")
    return [(level, index, node) for (level, index), node in zip(keys, hashes, strict=True)]


def _fetch(store: NodeStore, keys: Sequence[Key]) -> dict[Key, bytes]:
    """Read the nodes with one get_many call, refusing a missing or malformed node."""
    wanted = list(dict.fromkeys(keys))
    found = store.get_many(wanted) if wanted else {}
    for key in wanted:
        if key not in found:
            raise KeyError(f"node {key} is not in the store")
        if not _is_hash(found[key]):
            raise ValueError(f"node {key} in the store is not a {HASH_SIZE}-byte hash")
    return found


def _hash_ranges(store: NodeStore, ranges: Sequence[Range]) -> list[bytes]:
    """Return the RFC subtree hash of each range, reading all their nodes in one batch."""
    pieces = [subtree_keys(start, end) for start, end in ranges]
    found = _fetch(store, [key for keys in pieces for key in keys])
    return [_fold([found[key] for key in keys]) for keys in pieces]


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Combine the perfect pieces of an RFC subtree, largest first, into its hash."""
    # An RFC subtree's left child is its largest perfect piece and its right child the rest.
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _inclusion_ranges(index: int, tree_size: int) -> list[Range]:
    """Return the leaf ranges whose hashes make the inclusion proof, leaf end first."""
    ranges: list[Range] = []
    start, end = 0, tree_size
    while end - start > 1:
        mid = start + split_point(end - start)
        if index < mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((start, mid))
            start = mid
    return ranges[::-1]


def _consistency_ranges(first: int, second: int) -> list[Range]:
    """Return the leaf ranges whose hashes make the consistency proof, deepest first."""
    ranges: list[Range] = []
    start, end, whole = 0, second, True
    while end != first:
        mid = start + split_point(end - start)
        if first <= mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((start, mid))
            start, whole = mid, False
    # When the old tree is a left part of the new one, the verifier already holds its hash.
    if not whole:
        ranges.append((start, end))
    return ranges[::-1]


def _mth(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    """Return MTH(D[start:end]) by direct recursion on the RFC split."""
    if end - start == 1:
        return leaves[start]
    mid = start + split_point(end - start)
    return node_hash(_mth(leaves, start, mid), _mth(leaves, mid, end))


def _root_from_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes | None:
    """Run the RFC 9162 §2.1.3.2 loop; None if the proof has the wrong length."""
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def _roots_from_consistency(
    first: int, second: int, first_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes] | None:
    """Run the RFC 9162 §2.1.4.2 loop for 0 < first < second; None if the proof is malformed."""
    if not proof:
        return None
    # A power-of-two first tree is a subtree of the second, so the prover leaves out its hash.
    path = [first_root, *proof] if first & (first - 1) == 0 else list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return (fr, sr) if sn == 0 else None


def _checked(node: bytes) -> bytes:
    """Return node if it is a hash, else raise ValueError."""
    if not _is_hash(node):
        raise ValueError(f"not a {HASH_SIZE}-byte hash: {node!r}")
    return node


def _is_hash(value: object) -> bool:
    """Tell whether value is a SHA-256 digest."""
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_proof(value: object) -> bool:
    """Tell whether value is a sequence of SHA-256 digests."""
    if isinstance(value, (bytes, bytearray, str)) or not isinstance(value, Sequence):
        return False
    return all(_is_hash(item) for item in value)


def _is_count(value: object) -> bool:
    """Tell whether value is a non-negative int (bool excluded)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
