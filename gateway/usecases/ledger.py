"""Use cases of the audit log's Merkle tree: checkpoints (signed heads), proofs, and verifying everything.

Heads are signed here, with the keyring's current signing key, because the audit context holds no
keys; the same JWS verifies against /.well-known/jwks.json.

For a person's access log, `proof_against_latest` and `proofs_against_latest` give entries' inclusion
proofs against the latest signed head inside the caller's own transaction (the caller checks that the
entries are about that person); with the head's JWS, the person can check each one offline.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import heads, tree, verify
from audit.entries import AuditCounter, AuditEntry
from audit.heads import Checkpoint, SignedHead
from audit.tx import AccessContext
from gateway.errors import InvalidInput, NotFound
from gateway.runtime import Runtime
from gateway.uow import UnitOfWork
from vault.errors import DecryptionFailed

# Each integration batch is its own short transaction: on SQLite it holds the write lock meanwhile.
INTEGRATE_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 inclusion proof of leaf `index` (the entry seq index + 1) in the tree of tree_size leaves."""

    index: int
    tree_size: int
    leaf_hash: bytes
    audit_path: tuple[bytes, ...]

    def as_dict(self) -> dict[str, Any]:
        """Return the proof as JSON-ready data, hashes in base64."""
        return {"index": self.index, "tree_size": self.tree_size, "leaf_hash": heads.b64(self.leaf_hash),
                "audit_path": [heads.b64(h) for h in self.audit_path]}


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """RFC 9162 proof that the tree of `first` leaves is a prefix of the tree of `second` leaves."""

    first: int
    second: int
    consistency_path: tuple[bytes, ...]

    def as_dict(self) -> dict[str, Any]:
        """Return the proof as JSON-ready data, hashes in base64."""
        return {"first": self.first, "second": self.second,
                "consistency_path": [heads.b64(h) for h in self.consistency_path]}


@dataclass(frozen=True, slots=True)
class EntryProof:
    """An entry's inclusion proof against the latest signed head, which the person can check with the JWKS."""

    head: SignedHead
    proof: InclusionProof


# --- signing ------------------------------------------------------------------------------------


def head_signer(rt: Runtime) -> heads.Signer:
    """Return the signer of tree heads: an EdDSA JWS with the keyring's current key."""
    return lambda claims: rt.vault.sign(claims, heads.HEAD_TYP)


def head_verifier(rt: Runtime) -> verify.HeadVerifier:
    """Return a check of a head's JWS: its claims if any key of the ring signed it as a tree head, else None."""

    def check(token: str) -> Mapping[str, Any] | None:
        try:
            header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
            claims = rt.vault.verify(token)
        except (DecryptionFailed, ValueError, TypeError):
            return None
        # A signature over another kind of document (a report, a receipt) is no tree head.
        return claims if isinstance(header, dict) and header.get("typ") == heads.HEAD_TYP else None

    return check


# --- checkpoints --------------------------------------------------------------------------------


def checkpoint(rt: Runtime, batch: int = INTEGRATE_BATCH) -> Checkpoint:
    """Integrate every committed entry in short transactions, then sign a head if the tree grew.

    Raises audit.errors.TreeInconsistent if the entries cannot extend the tree (a hole in the numbers).
    """
    # Tree maintenance writes no audit entry, so it opens its transactions itself, through the writers' gate.
    with rt.sessions() as session:
        while True:
            with rt.uow.writers(), session.begin():
                if tree.integrate(session, batch) < batch:
                    break
        with rt.uow.writers(), session.begin():
            return heads.checkpoint(session, rt.clock, head_signer(rt), batch)


_READER = AccessContext(actor="ledger", role="reader")


def latest_head(uow: UnitOfWork) -> SignedHead:
    """Return the latest signed tree head; raise NotFound before the first checkpoint."""
    with uow.begin(_READER, readonly=True) as tx:
        head = heads.latest_head(tx.session)
    if head is None:
        raise NotFound("no tree head has been signed yet")
    return head


# --- proofs -------------------------------------------------------------------------------------


def inclusion(uow: UnitOfWork, index: int, tree_size: int | None, subject_ref: str | None) -> InclusionProof:
    """Return the inclusion proof of leaf `index` in a tree no larger than the latest signed head's.

    `tree_size` defaults to the latest head's. With a `subject_ref` (a person asking), only entries
    about that person are proved; any other is NotFound. Raises InvalidInput for a size out of range.
    """
    with uow.begin(_READER, readonly=True) as tx:
        session = tx.session
        limit = _signed_size(session)
        size = limit if tree_size is None else tree_size
        if size > limit:
            raise InvalidInput("tree_size", f"must be at most the latest signed tree head's size ({limit})")
        if not 0 <= index < size:
            raise InvalidInput("index", f"must be at least 0 and less than tree_size ({size})")
        if subject_ref is not None and not _is_about(session, index, subject_ref):
            raise NotFound("no such entry about you")
        return inclusion_proof(session, index, size, integrated=limit)


def consistency(uow: UnitOfWork, first: int, second: int | None) -> ConsistencyProof:
    """Return the proof that the tree of `first` leaves is a prefix of the tree of `second` leaves.

    `second` defaults to the latest signed head's size; raises InvalidInput unless
    1 <= first <= second <= that size.
    """
    with uow.begin(_READER, readonly=True) as tx:
        session = tx.session
        limit = _signed_size(session)
        size = limit if second is None else second
        if size > limit:
            raise InvalidInput("second", f"must be at most the latest signed tree head's size ({limit})")
        if not 1 <= first <= size:
            raise InvalidInput("first", f"must be at least 1 and at most second ({size})")
        return ConsistencyProof(first, size, tuple(tree.consistency_proof(session, first, size, integrated=limit)))


def inclusion_proof(session: Session, index: int, tree_size: int, integrated: int | None = None) -> InclusionProof:
    """Return the inclusion proof of leaf index in the caller's transaction (no access check).

    Raises audit.errors.TreeSizeOutOfRange unless 0 <= index < tree_size <= the integrated size
    (`integrated`, when the caller knows it: a signed head's size, as heads are made of integrated trees).
    """
    leaf, path = tree.inclusion_proof_with_leaf(session, index, tree_size, integrated)
    return InclusionProof(index, tree_size, leaf, tuple(path))


def proof_against_latest(session: Session, seq: int) -> EntryProof | None:
    """Return entry `seq`'s inclusion proof against the latest signed head, in the caller's transaction.

    None when no head covers the entry yet (it arrived after the last checkpoint). For a person's
    access log: the caller checks first that the entry is about that person.
    """
    head = heads.latest_head(session)
    if head is None or not 1 <= seq <= head.tree_size:
        return None
    return EntryProof(head, inclusion_proof(session, seq - 1, head.tree_size, integrated=head.tree_size))


def proofs_against_latest(session: Session, seqs: Sequence[int]) -> dict[int, EntryProof]:
    """Return the inclusion proofs of entries `seqs` against the latest signed head, by seq, in the caller's
    transaction; entries no head covers yet are left out. One read for the head, then the nodes of every
    proof together, a few hundred a query."""
    head = heads.latest_head(session)
    if head is None:
        return {}
    covered = [seq for seq in dict.fromkeys(seqs) if 1 <= seq <= head.tree_size]
    proofs = tree.inclusion_proofs_with_leaves(session, [seq - 1 for seq in covered], head.tree_size,
                                               integrated=head.tree_size)
    return {seq: EntryProof(head, InclusionProof(seq - 1, head.tree_size, proofs[seq - 1][0],
                                                 tuple(proofs[seq - 1][1])))
            for seq in covered}


def _signed_size(session: Session) -> int:
    head = heads.latest_head(session)
    return 0 if head is None else head.tree_size


def _is_about(session: Session, index: int, subject_ref: str) -> bool:
    found = session.execute(select(AuditEntry.subject_ref).where(AuditEntry.seq == index + 1)).scalar_one_or_none()
    return found is not None and found == subject_ref


# --- verification -------------------------------------------------------------------------------


def entry_count(rt: Runtime) -> int:
    """Return how many sequence numbers the log has handed out (the length verification reads)."""
    with rt.sessions() as session, session.begin():
        return int(session.execute(select(AuditCounter.last_seq).where(AuditCounter.id == 1)).scalar_one())


def verify_log(rt: Runtime, progress: Callable[[int], object] | None = None, workers: int | None = None,
               chunk_bits: int | None = None) -> verify.Report:
    """Recompute every leaf, the tree and every head's root and signature, in one read-only snapshot.

    The log is checked in chunks by `workers` processes (by default one per CPU); a small log is cut
    into chunks small enough that every worker has some.
    """
    url = rt.engine.url.render_as_string(hide_password=False)
    with verify.snapshot(url) as (conn, source):
        return verify.verify_log(conn, head_verifier(rt), progress, source=source,
                                 workers=(os.cpu_count() or 1) if workers is None else workers,
                                 chunk_bits=chunk_bits)
