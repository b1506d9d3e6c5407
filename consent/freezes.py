"""A person's freeze of their own file: while frozen, new consent requests are withheld from them and lapse.

The institution is answered exactly as for a person the service does not know (whose requests are
recorded, stay pending and lapse too), and `create_request` reads the freeze for every request, known,
unknown or frozen alike, so neither the answer nor the work done tells them apart. Grants already given
keep working (the query path never reads the freeze) unless the person revokes them all when freezing.

The flag is a row of its own in the consent context, keyed by the blind index the consent tables use
(a request for an unknown person never reads the vault, so a vault column would cost a frozen person a
read the unknown one does not, and the query path, which reads neither, stays as it is). Freezing is one
`INSERT ... ON CONFLICT DO NOTHING RETURNING`, unfreezing one `DELETE ... RETURNING`: concurrent calls
end in one state, and only the call that changed it records the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from audit.tags import Tag
from audit.tx import Tx
from consent.models import Freeze, Grant


@dataclass(frozen=True, slots=True)
class FreezeState:
    frozen: bool
    since: datetime | None
    revoked_grants: list[str]


def frozen(session: Session, subject_ref: str) -> bool:
    """Return whether the person's file is frozen (one primary-key read)."""
    return session.execute(select(Freeze.subject_ref).where(Freeze.subject_ref == subject_ref)).first() is not None


def state(tx: Tx, subject_ref: str) -> FreezeState:
    """Return whether the person's file is frozen and since when."""
    since = tx.session.execute(select(Freeze.frozen_at).where(Freeze.subject_ref == subject_ref)).scalar()
    return FreezeState(since is not None, since, [])


def freeze(tx: Tx, subject_ref: str, revoke_grants: bool) -> FreezeState:
    """Freeze the person's file at once (nothing changes if it already is); revoke every grant still in force
    if asked. Each change is an audit entry."""
    now = tx.now
    dialect = postgresql if tx.session.get_bind().dialect.name == "postgresql" else sqlite
    since: datetime | None = None
    while since is None:  # again only if an unfreeze removed the row between the two statements
        since = tx.session.execute(dialect.insert(Freeze).values(subject_ref=subject_ref, frozen_at=now)
                                   .on_conflict_do_nothing(index_elements=["subject_ref"])
                                   .returning(Freeze.frozen_at)).scalar()
        if since is not None:
            tx.record(Tag.FILE_FROZEN, subject_ref=subject_ref, detail={"revoke_grants": revoke_grants})
            break
        # Already frozen: hold the row to the commit, so the answer is the state this call leaves.
        since = tx.session.execute(select(Freeze.frozen_at).where(Freeze.subject_ref == subject_ref)
                                   .with_for_update()).scalar()
    revoked = _revoke_all(tx, subject_ref, now) if revoke_grants else []
    return FreezeState(True, since, revoked)


def unfreeze(tx: Tx, subject_ref: str) -> FreezeState:
    """Lift the freeze at once (nothing changes if there is none). Requests withheld meanwhile stay withheld."""
    deleted = tx.session.execute(delete(Freeze).where(Freeze.subject_ref == subject_ref)
                                 .returning(Freeze.subject_ref)).first()
    if deleted is not None:
        tx.record(Tag.FILE_UNFROZEN, subject_ref=subject_ref)
    return FreezeState(False, None, [])


def _revoke_all(tx: Tx, subject_ref: str, now: datetime) -> list[str]:
    """Revoke every grant of the person still in force, one conditional UPDATE; return their ids."""
    rows = tx.session.execute(
        update(Grant)
        .where(Grant.subject_ref == subject_ref, Grant.status == "active", Grant.valid_until > now,
               Grant.uses < Grant.max_uses)
        .values(status="revoked", revoked_at=now)
        .returning(Grant.id, Grant.purpose, Grant.institution_id)
        .execution_options(synchronize_session=False)).all()
    for grant_id, purpose, institution_id in sorted(rows):
        tx.under(purpose=purpose, basis=grant_id).record(
            Tag.CONSENT_REVOKED, subject_ref=subject_ref, detail={"institution": institution_id, "by": "freeze"})
    return sorted(r[0] for r in rows)
