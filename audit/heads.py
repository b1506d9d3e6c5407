"""Signed tree heads: the tree's size and root at a time, signed, stored append-only.

A head is a compact JWS (EdDSA) over {tree_size, root_hash, timestamp}, root_hash in base64 and
the timestamp in RFC 3339 UTC. Signing is the caller's: the audit context holds no keys (imports
point gateway → consent → vault → audit), so `checkpoint` takes a `Signer` built on vault.signing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Integer, LargeBinary, Row, Select, Text, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from audit import tree
from audit.clock import Clock, UTCDateTime, isoformat_z
from audit.entries import AuditBase

HEAD_TYP = "xinyong-tree-head+jws"

Signer = Callable[[dict[str, Any]], str]
"""Return a compact JWS over the given claims."""


class TreeHead(AuditBase):
    __tablename__ = "audit_tree_heads"
    __table_args__ = (CheckConstraint("tree_size >= 0", name="tree_size_non_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, unique=True, comment="heads only ever grow: one per size")
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    jws: Mapped[str] = mapped_column(Text, comment="EdDSA JWS over {tree_size, root_hash, timestamp}")


@dataclass(frozen=True, slots=True)
class SignedHead:
    """A stored tree head."""

    id: int
    tree_size: int
    root_hash: bytes
    timestamp: datetime
    jws: str

    def claims(self) -> dict[str, Any]:
        """Return the claims its JWS must carry."""
        return head_claims(self.tree_size, self.root_hash, self.timestamp)

    def as_dict(self) -> dict[str, Any]:
        """Return the head as JSON-ready data, hashes in base64."""
        return {**self.claims(), "jws": self.jws}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The latest head after a checkpoint, and whether the checkpoint made it."""

    head: SignedHead
    created: bool


def b64(raw: bytes) -> str:
    """Return standard base64 with padding, as RFC 6962's JSON API gives hashes."""
    return base64.b64encode(raw).decode()


def head_claims(tree_size: int, root_hash: bytes, timestamp: datetime) -> dict[str, Any]:
    """Return the signed payload of a head."""
    return {"tree_size": tree_size, "root_hash": b64(root_hash), "timestamp": isoformat_z(timestamp)}


def checkpoint(session: Session, clock: Clock, sign: Signer, max_batch: int = tree.DEFAULT_BATCH) -> Checkpoint:
    """Integrate every committed entry, then store a signed head if the tree grew (or there is none).

    Runs in the caller's transaction; returns the latest head. Raises TreeInconsistent (audit.errors)
    if the entries cannot extend the tree.
    """
    while tree.integrate(session, max_batch):
        pass
    # integrate() took the state lock, so no other checkpoint can store a head for this size meanwhile.
    size = tree.integrated_size(session)
    latest = latest_head(session)
    if latest is not None and latest.tree_size >= size:
        return Checkpoint(latest, created=False)
    root_hash = tree.root(session, size, integrated=size)
    now = clock.now()
    jws = sign(head_claims(size, root_hash, now))
    head_id = session.execute(
        insert(TreeHead).values(tree_size=size, root_hash=root_hash, timestamp=now, jws=jws).returning(TreeHead.id)
    ).scalar_one()
    return Checkpoint(SignedHead(int(head_id), size, root_hash, now, jws), created=True)


def latest_head(session: Session | Connection) -> SignedHead | None:
    """Return the newest stored head, or None before the first checkpoint."""
    row = session.execute(_heads().order_by(TreeHead.tree_size.desc()).limit(1)).first()
    return None if row is None else _head(row)


def all_heads(session: Session | Connection) -> list[SignedHead]:
    """Return every stored head in the order they were made."""
    return [_head(row) for row in session.execute(_heads().order_by(TreeHead.id))]


def _heads() -> Select[int, int, bytes, datetime, str]:
    return select(TreeHead.id, TreeHead.tree_size, TreeHead.root_hash, TreeHead.timestamp, TreeHead.jws)


def _head(row: Row[int, int, bytes, datetime, str]) -> SignedHead:
    head_id, size, root_hash, timestamp, jws = row
    return SignedHead(int(head_id), int(size), bytes(root_hash), timestamp, jws)
