"""The second clock: how long a record is kept after its display ends, and a person's consents at erasure.

Every category states its retention period with its reason (`retention_period` in catalogue.json): after
its display ends a record is still kept, for its person's eyes only, so that an objection, a notice to
past recipients, a court or an auditor can still find what was shown; then it is erased (vault._erasure).
The display ends at `display_until`, or at a revocation if earlier; a record shown until its agency ends
it has no second clock running until then. DP-1 says a record past its display period is no longer shown
or used; PRIV-1 and PIPL Art. 19 that nothing is kept longer than needed; AUD-1 that what was done stays
traceable, which the tombstone and the audit entries keep without the contents.

When an operator erases a person, what the consent context holds for them ends in the same transaction:
grants in force are revoked (an entry each, as a freeze does), pending requests lapse, stored reports are
purged (their contents were sealed under the key just destroyed), notifications and a freeze go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, update

from audit.tags import Tag
from audit.tx import Tx
from consent.catalogue import Catalogue
from consent.models import ConsentRequest, Freeze, Grant, Notification, Report


def bounds(catalogue: Catalogue, today: date) -> dict[str, date]:
    """Return {category: the last display end whose record is past its retention period on `today`}."""
    return {code: category.retention_bound(today) for code, category in catalogue.categories.items()}


def basis(catalogue: Catalogue, code: str) -> str:
    """Return a tombstone's basis: its category's retention period and the catalogue that set it."""
    category = catalogue.category(code)
    return f"retention {category.retention_period.isoformat()} after display (catalogue {catalogue.version})"


@dataclass(frozen=True, slots=True)
class Ended:
    """What ended of a person's consents when they were erased."""

    grants: list[str]
    requests: int
    reports: int


def end_for_erased(tx: Tx, subject_ref: str) -> Ended:
    """End everything the consent context holds for an erased person; each revoked grant is an entry."""
    now = tx.now
    session = tx.session
    revoked = session.execute(
        update(Grant).where(Grant.subject_ref == subject_ref, Grant.status == "active")
        .values(status="revoked", revoked_at=now).returning(Grant.id, Grant.purpose, Grant.institution_id)
        .execution_options(synchronize_session=False)).all()
    for grant_id, purpose, institution_id in sorted(revoked):
        tx.under(purpose=purpose, basis=grant_id).record(
            Tag.CONSENT_REVOKED, subject_ref=subject_ref, detail={"institution": institution_id, "by": "erasure"})
    requests = session.execute(
        update(ConsentRequest).where(ConsentRequest.subject_ref == subject_ref, ConsentRequest.status == "pending",
                                     ConsentRequest.lapses_at > now)
        .values(lapses_at=now).execution_options(synchronize_session=False))
    reports = session.execute(
        update(Report).where(Report.subject_ref == subject_ref, Report.sealed.is_not(None))
        .values(sealed=None, purged_at=now).execution_options(synchronize_session=False))
    for table in (Notification, Freeze):
        session.execute(delete(table).where(table.subject_ref == subject_ref)
                        .execution_options(synchronize_session=False))
    return Ended(sorted(r[0] for r in revoked), _count(requests), _count(reports))


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
