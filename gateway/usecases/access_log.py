"""The person's access log: every access to their data, each entry proved to be in the audit log.

Each entry comes with its RFC 9162 inclusion proof against the latest signed tree head, and the
server checks it the way anyone can: the leaf hash recomputed from the entry shown, the path up to
the head's root, and the head's signature against the published keys. An entry newer than the
latest head has no proof yet and is shown as pending.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from audit import merkle
from audit.entries import AuditEntry, leaf_hash_of, stored_document
from audit.heads import SignedHead, b64
from audit.tx import AccessContext, Tx
from gateway.runtime import Runtime
from gateway.usecases import ledger

PAGE = 200


def access_log(rt: Runtime, subject_ref: str, before: int | None = None, limit: int = PAGE) -> dict[str, Any]:
    """Return the newest `limit` entries about the person (older than seq `before`), each with its proof.

    Read-only: one read of the entries, the names from the cache, and the proofs in one batch.
    """
    with rt.uow.begin(AccessContext(actor=subject_ref, role="person"), readonly=True) as tx:
        return entries_with_proofs(tx, rt, subject_ref, before, limit)


def entries_with_proofs(tx: Tx, rt: Runtime, subject_ref: str, before: int | None = None,
                        limit: int = PAGE) -> dict[str, Any]:
    """Return the access log page in `tx` (see `access_log`)."""
    query = select(AuditEntry).where(AuditEntry.subject_ref == subject_ref)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    entries = list(tx.session.execute(query.order_by(AuditEntry.seq.desc()).limit(limit)).scalars())
    names = rt.directory.names(tx.session, {e.actor for e in entries})
    found = ledger.proofs_against_latest(tx.session, [e.seq for e in entries])
    proofs = {e.seq: found.get(e.seq) for e in entries}
    head = next((p.head for p in proofs.values() if p is not None), None)
    head_ok = head is not None and _head_is_signed(rt, head)
    items = [_item(entry, names, proofs[entry.seq], head_ok) for entry in entries]
    return {
        "tree_head": head.as_dict() if head is not None else None,
        "tree_head_signature_valid": head_ok,
        "entries": items,
        "next_before": entries[-1].seq if len(entries) == limit else None,
    }


def _head_is_signed(rt: Runtime, head: SignedHead) -> bool:
    claims = ledger.head_verifier(rt)(head.jws)
    return claims is not None and dict(claims) == head.claims()


def _item(entry: AuditEntry, names: dict[str, str], proof: ledger.EntryProof | None, head_ok: bool) -> dict[str, Any]:
    document = stored_document(entry)
    leaf = leaf_hash_of(document)
    verified = (
        proof is not None
        and head_ok
        and leaf == proof.proof.leaf_hash
        and merkle.verify_inclusion(leaf, proof.proof.index, proof.proof.tree_size, list(proof.proof.audit_path),
                                    proof.head.root_hash)
    )
    detail = entry.detail or {}
    released = sorted(detail.get("fields", {})) or ([detail["category"]] if "category" in detail else [])
    return {
        "index": entry.seq - 1,
        "at": document["at"],
        "who": names.get(entry.actor, entry.actor) if entry.role != "person" else "you",
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "purpose": entry.purpose,
        "basis": entry.basis,
        "released": {"records": list(entry.record_ids), "categories": released},
        "outcome": entry.outcome,
        "reason": entry.reason,
        "entry": document,
        "leaf_hash": b64(leaf),
        "proof": None if proof is None else {"tree_size": proof.proof.tree_size,
                                             "audit_path": [b64(h) for h in proof.proof.audit_path]},
        "verified": bool(verified),
    }
