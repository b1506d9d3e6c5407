"""Key-encryption key rotation: re-wrap every data key, never re-encrypt a payload.

The new key is saved in the keyring before any data key is re-wrapped, and old versions stay in
it, so a rotation killed half-way leaves every row readable; running it again finishes the rest.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault import _crypto
from vault._keyring import Keyring
from vault.models import Subject


def pending_count(session: Session, ring: Keyring) -> int:
    """Return how many data keys are not yet wrapped under the current key-encryption key."""
    return int(
        session.execute(
            select(func.count()).select_from(Subject).where(
                Subject.wrapped_dek.is_not(None), Subject.kek_version != ring.current_kek
            )
        ).scalar_one()
    )


def rewrap_batch(session: Session, ring: Keyring, limit: int) -> int:
    """Re-wrap up to `limit` data keys under the current key-encryption key; return how many."""
    rows = session.execute(
        select(Subject)
        .where(Subject.wrapped_dek.is_not(None), Subject.kek_version != ring.current_kek)
        .order_by(Subject.id)
        .limit(limit)
    ).scalars().all()
    for subject in rows:
        assert subject.wrapped_dek is not None
        assert subject.kek_version is not None
        dek = _crypto.unwrap_data_key(ring, subject.kek_version, subject.wrapped_dek, subject.subject_ref)
        subject.kek_version, subject.wrapped_dek = _crypto.wrap_data_key(ring, dek, subject.subject_ref)
    session.flush()
    return len(rows)
