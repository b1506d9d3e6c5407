"""Use cases of consent: institutions ask, people answer, institutions query with a grant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import entries as audit
from audit.clock import isoformat_z
from audit.tags import Outcome, Tag
from consent import grants, reports
from consent.errors import QueryRefused, ReportGone, RequestNotFound
from consent.grants import GrantView, Institution, RequestView
from consent.models import ConsentRequest
from gateway.models import Client
from gateway.runtime import Runtime
from vault import crypto, releases, signing
from vault.access import AccessContext
from vault.identity import normalise_citizen_id

WHO_LOOKED_WINDOW = timedelta(days=730)


def institution_of(session: Session, client_id: str, kind: str | None) -> Institution:
    """Return the institution's view for consent records."""
    with session.begin():
        row = session.get(Client, client_id)
    return Institution(client_id, kind, row.name if row else client_id)


def request_consent(session: Session, rt: Runtime, institution: Institution, data: dict[str, Any]) -> RequestView:
    """Create a pending request for the person with that citizen ID (known or not: the answer is the same)."""
    citizen_id = normalise_citizen_id(data["citizen_id"], rt.clock.now().date())
    ref = crypto.blind_index(rt.keyring, citizen_id)
    with session.begin():
        return grants.create_request(session, rt.clock, rt.purposes, institution, ref, data["purpose"],
                                     data.get("categories"), data["reason"], data["valid_for"], data.get("max_uses"))


def institution_request(session: Session, rt: Runtime, institution_id: str, request_id: str) -> RequestView:
    with session.begin():
        return grants.get_request_for_institution(session, rt.clock, request_id, institution_id)


def my_requests(session: Session, rt: Runtime, subject_ref: str) -> list[RequestView]:
    with session.begin():
        return grants.list_requests(session, rt.clock, subject_ref)


def approve(session: Session, rt: Runtime, subject_ref: str, request_id: str, data: dict[str, Any]) -> GrantView:
    with session.begin():
        request = _request_row(session, subject_ref, request_id)
        client = session.get(Client, request.institution_id)
        institution = Institution(request.institution_id, client.kind if client else None,
                                  client.name if client else request.institution_id)
        return grants.approve(session, rt.clock, rt.keyring, rt.purposes, rt.catalogue, institution, subject_ref,
                              request_id, data.get("categories"), data.get("valid_for"))


def _request_row(session: Session, subject_ref: str, request_id: str) -> ConsentRequest:
    row = session.get(ConsentRequest, request_id)
    if row is None or row.subject_ref != subject_ref:
        raise RequestNotFound(request_id)
    return row


def deny(session: Session, rt: Runtime, subject_ref: str, request_id: str) -> RequestView:
    with session.begin():
        return grants.deny(session, rt.clock, subject_ref, request_id)


def my_grants(session: Session, rt: Runtime, subject_ref: str) -> list[GrantView]:
    with session.begin():
        return grants.list_grants(session, rt.clock, subject_ref)


def my_grant(session: Session, rt: Runtime, subject_ref: str, grant_id: str) -> GrantView:
    with session.begin():
        return grants.get_grant(session, rt.clock, grant_id, subject_ref=subject_ref)


def institution_grant(session: Session, rt: Runtime, institution_id: str, grant_id: str) -> GrantView:
    with session.begin():
        return grants.get_grant(session, rt.clock, grant_id, institution_id=institution_id)


def revoke(session: Session, rt: Runtime, subject_ref: str, grant_id: str) -> GrantView:
    with session.begin():
        return grants.revoke(session, rt.clock, subject_ref, grant_id)


@dataclass(frozen=True)
class SignedReport:
    report: dict[str, Any]
    jws: str


def serve_query(session: Session, rt: Runtime, institution_id: str, consent_id: str,
                request_id: str | None) -> SignedReport:
    """Spend one use of the grant and release the report, all in one transaction; refusals are audited."""
    now = rt.clock.now()
    try:
        with session.begin():
            grant = grants.use(session, rt.clock, consent_id, institution_id)
            purpose = rt.purposes.purpose(grant.purpose)
            selection = grants.selection(grant, rt.purposes, rt.catalogue, now)
            access = AccessContext(actor=institution_id, role="institution", purpose=purpose.code, basis=grant.id,
                                   request_id=request_id)
            detail = {
                "consent_receipt_sha256": grant.receipt_sha256,
                "policy_version": grant.policy_version,
                "fields": {c: sorted(f) for c, f in selection.fields.items()},
                "institution": institution_id,
            }
            release = releases.read_for(session, rt.keyring, rt.clock, grant.subject_ref, selection, access, detail)
            report_id = reports.new_report_id()
            until = reports.deadline(grant, purpose, now)
            report = reports.compose(report_id, grant, purpose, rt.catalogue, release, now, until)
            jws = signing.sign(rt.keyring, report, reports.REPORT_TYPE)
            sealed = releases.seal_for_subject(session, rt.keyring, grant.subject_ref, report_id, jws.encode())
            reports.store(session, report_id, grant, now, until, sealed)
        return SignedReport(report, jws)
    except QueryRefused as exc:
        with session.begin():
            where = grants.refusal_context(session, consent_id)
            audit.append(session, rt.clock, audit.EntryDraft(
                actor=institution_id, role="institution", action=Tag.QUERY_DENIED, outcome=Outcome.DENIED,
                subject_ref=where.subject_ref, purpose=where.purpose, basis=consent_id, reason=exc.code,
                request_id=request_id, detail={"institution": institution_id}))
        raise


def get_report(session: Session, rt: Runtime, institution_id: str, report_id: str,
               request_id: str | None) -> SignedReport:
    """Return a stored report to its institution before the deadline (410 after, contents purged)."""
    now = rt.clock.now()
    try:
        with session.begin():
            row = reports.get_for_institution(session, report_id, institution_id, now)
            access = AccessContext(actor=institution_id, role="institution", basis=row.grant_id,
                                   request_id=request_id)
            assert row.sealed is not None
            jws = releases.open_for_recipient(session, rt.keyring, rt.clock, row.subject_ref, report_id,
                                              row.sealed, access).decode()
    except ReportGone:
        with session.begin():
            reports.purge_expired(session, now)
        raise
    return SignedReport(signing.verify(rt.keyring, jws), jws)


def who_looked(session: Session, rt: Runtime, subject_ref: str) -> list[dict[str, Any]]:
    """Return every query of the person's records in the last two years, newest first."""
    since = rt.clock.now() - WHO_LOOKED_WINDOW
    entries = audit.for_subject(session, subject_ref, [Tag.QUERY_RELEASED, Tag.QUERY_DENIED], since)
    names = rt.directory.names(session, {e.actor for e in entries}) if entries else {}
    return [{
        "institution": names.get(e.actor, e.actor),
        "institution_id": e.actor,
        "purpose": e.purpose or "",
        "at": isoformat_z(e.at),
        "categories": sorted(e.detail.get("fields", {})) if e.outcome == "allowed" else [],
        "records_released": len(e.record_ids),
        "consent_id": e.basis,
        "outcome": e.outcome if e.outcome == "allowed" else f"denied: {e.reason}",
    } for e in entries]


def institutions(session: Session, ids: set[str]) -> dict[str, dict[str, Any]]:
    """Return {client id: {id, name, kind}} for display to the person."""
    with session.begin():
        rows = session.execute(select(Client).where(Client.client_id.in_(ids))).scalars().all() if ids else []
    found = {r.client_id: {"id": r.client_id, "name": r.name, "kind": r.kind} for r in rows}
    return {i: found.get(i, {"id": i, "name": i, "kind": None}) for i in ids}


def purge_expired_reports(rt: Runtime) -> int:
    """Erase the contents of every report past its retrieval deadline; return how many."""
    with rt.sessions() as session, session.begin():
        return reports.purge_expired(session, rt.clock.now())
