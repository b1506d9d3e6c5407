"""Reports released to institutions: shaped for the purpose, signed, retrievable until a deadline.

The deadline is the earlier of the grant's expiry and the purpose's data life; after it the
report is gone (410) and its sealed contents are purged from storage.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from audit import dbapi
from audit.clock import CST, isoformat_z
from audit.tx import Tx
from consent import grants
from consent.catalogue import Catalogue
from consent.errors import ReportGone, ReportNotFound
from consent.grants import GrantView
from consent.models import Report
from consent.purposes import Purpose
from vault.types import Release

REPORT_TYPE = "xinyong-report+jws"
SELF_REPORT_TYPE = "xinyong-self-report+jws"


def new_report_id() -> str:
    """Return an unguessable report id."""
    return "rp_" + secrets.token_hex(12)


def new_self_report_id() -> str:
    """Return the id of a person's own signed report (printed on it, and checked by /verify)."""
    return "sr_" + secrets.token_hex(12)


def deadline(grant: GrantView, purpose: Purpose, now: datetime) -> datetime:
    """Return when the institution loses access to the report."""
    return min(grant.valid_until, now + purpose.data_life.as_timedelta())


def compose(
    report_id: str, grant: GrantView, purpose: Purpose, catalogue: Catalogue, release: Release,
    now: datetime, until: datetime, evaluation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the report: only released fields, the person by masked ID and consent reference.

    ``evaluation`` is given for an incentive purpose only and is refused for any other (EVAL-1): it is
    part of the report, so the signature covers it.
    """
    if (evaluation is not None) != purpose.incentive_score:
        raise ValueError(f"an evaluation goes with incentive purposes only, and always; not with {purpose.code}")
    records = []
    for item in release.records:
        category = catalogue.category(item.category)
        shown: dict[str, Any] = {
            "category": item.category,
            "category_name": {"zh": category.name_zh, "en": category.name_en},
            "decided_at": item.decided_at.isoformat(),
            "display_until": None if item.display_until is None else item.display_until.isoformat(),
            "fields": item.fields,
        }
        if item.self_reported:
            shown["self_reported"] = {"verified": True}  # voluntary registration (VOL-1), verified
        if item.dispute_since is not None:
            # OBJ-2: the person has objected and the producing agency is verifying the record.
            since = item.dispute_since.astimezone(CST).date().isoformat()
            shown["dispute"] = {"status": "under_review", "since": since}
        records.append(shown)
    report: dict[str, Any] = {
        "report_id": report_id,
        "generated_at": isoformat_z(now),
        "policy_version": grant.policy_version,
        "catalogue_version": catalogue.version,
        "consent_id": grant.id,
        "purpose": purpose.code,
        "subject": {"masked_citizen_id": release.masked_citizen_id, "consent_reference": grant.id},
        "records": records,
        "retrieval_deadline": isoformat_z(until),
    }
    if grant.occupational_group is not None:
        # The grant's group, named as the catalogue in force names it (just the code, should a later one drop it).
        named = [e.to_public() for e in catalogue.occupational_groups if e.code == grant.occupational_group]
        report["occupational_group"] = named[0] if named else {"code": grant.occupational_group}
    if evaluation is not None:
        report["evaluation"] = dict(evaluation)
    return report


# On the driver's cursor (audit.dbapi), as the authorised query's other statements: record_ids bound as
# SQLAlchemy binds a JSON column (json.dumps text).
_STORE = dbapi.Statement(
    "INSERT INTO reports (id, grant_id, institution_id, subject_ref, generated_at, deadline, sealed, record_ids)"
    " VALUES (:id, :grant_id, :institution_id, :subject_ref, :generated_at, :deadline, :sealed, :record_ids)",
    postgresql="INSERT INTO reports (id, grant_id, institution_id, subject_ref, generated_at, deadline, sealed,"
    " record_ids) VALUES (:id, :grant_id, :institution_id, :subject_ref, :generated_at, :deadline, :sealed,"
    " CAST(:record_ids AS JSON))")


# On PostgreSQL the use is spent and the report kept by one statement: the INSERT takes its row from the UPDATE,
# so it inserts nothing when the grant allows no use any more.
_SPEND_AND_STORE = dbapi.Statement(
    f"""WITH spent AS (UPDATE grants SET uses = uses + 1 WHERE {grants.SPEND_CONDITIONS} RETURNING id)
    INSERT INTO reports (id, grant_id, institution_id, subject_ref, generated_at, deadline, sealed, record_ids)
    SELECT :id, spent.id, :institution, :subject_ref, :generated_at, :deadline, :sealed, CAST(:record_ids AS JSON)
    FROM spent RETURNING id""")  # noqa: S608 - constant text


def spend_and_store(tx: Tx, report_id: str, grant: GrantView, until: datetime, sealed: bytes,
                    record_ids: Sequence[str] = ()) -> None:
    """Spend one use of the grant and keep its report (see `store`), or raise the QueryRefused that says why
    the grant allows no use any more (`grants.spend`): at the write, after the report was made, and on the
    grant's conditions at that time (`grants.spend_time`)."""
    conn = tx.session.connection()
    dialect = conn.dialect.name
    at = grants.spend_time(tx)
    if dialect != "postgresql":
        grants.spend(tx, grant, at)
        store(tx, report_id, grant, until, sealed, record_ids)
        return
    params = grants.spend_params(dialect, grant.id, grant.institution_id, at)
    params.update(id=report_id, subject_ref=grant.subject_ref, generated_at=dbapi.bind_time(dialect, tx.now),
                  deadline=dbapi.bind_time(dialect, until), sealed=sealed, record_ids=json.dumps(list(record_ids)))
    if not dbapi.execute(conn, _SPEND_AND_STORE, params):
        grants.refuse(tx, grant.id, grant.institution_id, at)


def store(tx: Tx, report_id: str, grant: GrantView, until: datetime, sealed: bytes,
          record_ids: Sequence[str] = ()) -> None:
    """Keep the sealed signed report for retrieval until `until`, with the ids of the records it released
    in its order (so that its recipient can be told when one changes, OBJ-5)."""
    conn = tx.session.connection()
    dialect = conn.dialect.name
    dbapi.execute(conn, _STORE, {
        "id": report_id, "grant_id": grant.id, "institution_id": grant.institution_id,
        "subject_ref": grant.subject_ref, "generated_at": dbapi.bind_time(dialect, tx.now),
        "deadline": dbapi.bind_time(dialect, until), "sealed": sealed, "record_ids": json.dumps(list(record_ids))})


def get_for_institution(tx: Tx, report_id: str, institution_id: str) -> Report:
    """Return the institution's report before its deadline; ReportNotFound for others, ReportGone after."""
    now = tx.now
    row = tx.session.get(Report, report_id)
    if row is None or row.institution_id != institution_id:
        raise ReportNotFound(report_id)
    if row.deadline <= now or row.sealed is None:
        raise ReportGone(f"report {report_id} could be retrieved until {isoformat_z(row.deadline)}")
    return row


def purge_expired(session: Session, now: datetime) -> int:
    """Erase the contents of every report past its deadline; return how many."""
    result = session.execute(
        update(Report).where(Report.deadline <= now, Report.sealed.is_not(None))
        .values(sealed=None, purged_at=now).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class ReportRef:
    """A report released to an institution, without its contents: which grant, when, until when."""

    id: str
    grant_id: str
    generated_at: datetime
    deadline: datetime
    available: bool


def of_institution(tx: Tx, institution_id: str, limit: int) -> list[ReportRef]:
    """Return the institution's newest reports, newest first, each saying whether it can still be read."""
    rows = tx.session.execute(select(Report.id, Report.grant_id, Report.generated_at, Report.deadline,
                                     Report.purged_at).where(Report.institution_id == institution_id)
                              .order_by(Report.generated_at.desc(), Report.id).limit(limit)).all()
    return [ReportRef(r.id, r.grant_id, r.generated_at, r.deadline, r.purged_at is None and r.deadline > tx.now)
            for r in rows]
