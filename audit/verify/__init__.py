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
process then joins the chunks' roots into the top of the tree and checks the heads. The report is
the same whatever the chunks' size, so the size is chosen for speed alone (`chunk_bits_for`): a gap
across a chunk's edge is noted once, whole, and differences at one index come in one order.

Anything edited, deleted, reordered or inserted shows up as a difference at a leaf index (seq - 1):

- edited or reordered: the leaf rebuilt from the entry differs from its stored leaf hash, or from
  the tree's leaf when the stored hash was rewritten too;
- deleted: a hole in the numbers, or fewer entries than the counter has handed out;
- inserted: an entry numbered beyond the counter, or a renumbering, which changes the leaves;
- a rewritten tree: a stored node that differs from the rebuild, or a head whose root does.

A head's differences are placed at the first leaf it newly covers (the previous head's size).

The steps live in modules of their own: `leaves` (reading entries and rebuilding their leaves),
`chunks` (one perfect subtree: its entries and stored nodes), `heads` (the top of the tree and the
signed heads), `snapshot` and `workers` (one snapshot read by several processes), `report` (what is
reported) and `log` (the whole run).
"""

from __future__ import annotations

from audit.verify.heads import HeadVerifier
from audit.verify.leaves import entry_rows, fast_leaf_hash
from audit.verify.log import CHUNK_BITS, DEFAULT_BATCH, DEFAULT_LIMIT, chunk_bits_for, verify_log
from audit.verify.report import Difference, Report
from audit.verify.snapshot import Source, snapshot

__all__ = [
    "CHUNK_BITS",
    "DEFAULT_BATCH",
    "DEFAULT_LIMIT",
    "Difference",
    "HeadVerifier",
    "Report",
    "Source",
    "chunk_bits_for",
    "entry_rows",
    "fast_leaf_hash",
    "snapshot",
    "verify_log",
]
