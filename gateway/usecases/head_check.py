"""An auditor's check of the latest signed tree head, and of one entry against it, at the press of a button.

`xinyong audit verify` recomputes the whole log and takes as long as the log is large; this is the quick check
an auditor makes in the portal: that the newest head is signed by a published key, that the tree holds the
root it signs, that the head before it is a prefix of it (RFC 9162 consistency), and, given an entry's index,
that the entry as stored still hashes to its leaf and that the leaf is in the signed tree (inclusion). Each
check says what it compared, so a failure names the step that failed. The check is recorded as the auditor's
read of the log (`audit:entries:read`, operation `verify`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import heads, merkle, tree
from audit.entries import AuditEntry, leaf_hash_of, stored_document
from audit.errors import AuditError
from audit.heads import SignedHead
from audit.tags import Tag
from audit.tx import AccessContext
from gateway.errors import InvalidInput, NotFound
from gateway.runtime import Runtime
from gateway.usecases.ledger import head_verifier
from gateway.usecases.review import REVIEW_BASIS


@dataclass(frozen=True)
class Check:
    """One step of the check: its name (a code), whether it held, and what was compared."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class HeadCheck:
    head: SignedHead
    checks: tuple[Check, ...]
    index: int | None = None

    @property
    def ok(self) -> bool:
        """Return whether every step held."""
        return all(c.ok for c in self.checks)


def check_latest_head(rt: Runtime, auditor: str, index: int | None, request_id: str | None) -> HeadCheck:
    """Check the latest signed head (and the entry at leaf `index`, if given) and record the check.

    Raises NotFound before the first head; InvalidInput for an index outside the signed tree.
    """
    access = AccessContext(actor=auditor, role="auditor", basis=REVIEW_BASIS, request_id=request_id)
    with rt.uow.begin(access) as tx:
        found = heads.all_heads(tx.session)
        if not found:
            raise NotFound("no tree head has been signed yet: run `xinyong audit checkpoint`")
        head = max(found, key=lambda h: h.tree_size)
        if index is not None and not 0 <= index < head.tree_size:
            raise InvalidInput("index", f"must be at least 0 and less than the signed tree's size ({head.tree_size})")
        checks = [_signature(rt, head), _root(tx.session, head)]
        earlier = [h for h in found if 0 < h.tree_size < head.tree_size]
        if earlier:
            checks.append(_consistency(tx.session, max(earlier, key=lambda h: h.tree_size), head))
        if index is not None:
            checks.extend(_entry(tx.session, head, index))
        result = HeadCheck(head, tuple(checks), index)
        tx.record(Tag.AUDIT_READ, detail={"operation": "verify", "tree_size": head.tree_size, "index": index,
                                          "ok": result.ok})
        return result


def _signature(rt: Runtime, head: SignedHead) -> Check:
    claims = head_verifier(rt)(head.jws)
    ok = claims is not None and dict(claims) == head.claims()
    return Check("signature", ok, "the head's JWS verifies with a published key and signs this size, root and time"
                 if ok else "the head's JWS does not verify with the published keys, or signs something else")


def _root(session: Session, head: SignedHead) -> Check:
    try:
        root = tree.root(session, head.tree_size)
    except AuditError:
        return Check("root", False, f"the tree does not reach the signed size {head.tree_size}")
    ok = root == head.root_hash
    return Check("root", ok, f"the tree of {head.tree_size} entries has the signed root {heads.b64(root)}" if ok
                 else f"the tree's root {heads.b64(root)} is not the signed {heads.b64(head.root_hash)}")


def _consistency(session: Session, before: SignedHead, head: SignedHead) -> Check:
    proof = tree.consistency_proof(session, before.tree_size, head.tree_size)
    ok = merkle.verify_consistency(before.tree_size, head.tree_size, before.root_hash, head.root_hash, proof)
    return Check("consistency", ok, f"the head of {before.tree_size} entries is a prefix of this one" if ok
                 else f"the head of {before.tree_size} entries is not a prefix of this one: the log was rewritten")


def _entry(session: Session, head: SignedHead, index: int) -> list[Check]:
    row = session.execute(select(AuditEntry).where(AuditEntry.seq == index + 1)).scalar_one_or_none()
    leaf, path = tree.inclusion_proof_with_leaf(session, index, head.tree_size)
    same = row is not None and leaf_hash_of(stored_document(row)) == leaf
    included = merkle.verify_inclusion(leaf, index, head.tree_size, path, head.root_hash)
    return [Check("entry", same, f"entry {index} as stored hashes to its leaf" if same
                  else f"entry {index} is missing: it was deleted" if row is None
                  else f"entry {index} as stored does not hash to its leaf: it was changed"),
            Check("inclusion", included, f"leaf {index} is in the signed tree" if included
                  else f"leaf {index} is not in the signed tree")]
