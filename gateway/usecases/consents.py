"""Use cases of consent: institutions ask, people answer, institutions query with a grant.

Each is a plain function of the unit of work, the vault, the policy and a frozen command; each
opens one transaction (and, for a refusal, the short one that records it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from audit import entries as audit
from audit.clock import isoformat_z
from audit.tags import Outcome, Tag
from audit.tx import AccessContext, Tx
from consent import evaluation, freezes, grants, listings, notifications, reports
from consent.durations import Duration
from consent.errors import QueryRefused, ReportGone
from consent.freezes import FreezeState
from consent.grants import GrantView, Institution, RequestView
from consent.policy import Policy
from gateway.directory import ClientDirectory
from gateway.models import Client
from gateway.uow import UnitOfWork
from gateway.usecases.records import denials_audited
from vault.errors import SubjectNotFound
from vault.identity import normalise_citizen_id
from vault.types import RecordDates
from vault.vault import Vault

WHO_LOOKED_WINDOW = timedelta(days=730)


@dataclass(frozen=True, slots=True)
class RequestConsent:
    institution_id: str
    kind: str | None
    citizen_id: str
    purpose: str
    categories: Sequence[str] | None
    reason: str
    valid_for: Duration
    max_uses: int | None
    request_id: str | None = None
    occupational_group: str | None = None  # the one group an occupational credit report is limited to


@dataclass(frozen=True, slots=True)
class Answer:
    """A person's answer to a request: approve (optionally narrower, shorter) or deny."""

    subject_ref: str
    request_id: str
    categories: Sequence[str] | None = None
    valid_for: Duration | None = None
    http_request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Query:
    institution_id: str
    consent_id: str
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class SignedReport:
    report: dict[str, Any]
    jws: str


@dataclass(frozen=True, slots=True)
class Requests:
    """Requests with the institutions that made them, for display."""

    views: list[RequestView]
    institutions: dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Grants:
    """Grants with the institutions they were given to, for display."""

    views: list[GrantView]
    institutions: dict[str, dict[str, Any]]


def institution_access(institution_id: str, request_id: str | None) -> AccessContext:
    """Return the access context of an institution's request."""
    return AccessContext(actor=institution_id, role="institution", request_id=request_id)


def person_access(subject_ref: str, request_id: str | None) -> AccessContext:
    """Return the access context of a person acting on their own file."""
    return AccessContext(actor=subject_ref, role="person", request_id=request_id)


def institutions(tx: Tx, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Return {client id: {id, name, kind}} for display to the person."""
    wanted = set(ids)
    rows = tx.session.execute(select(Client.client_id, Client.name, Client.kind)
                              .where(Client.client_id.in_(wanted))).all() if wanted else []
    found = {cid: {"id": cid, "name": name, "kind": kind} for cid, name, kind in rows}
    return {i: found.get(i, {"id": i, "name": i, "kind": None}) for i in wanted}


def request_consent(uow: UnitOfWork, vault: Vault, policy: Policy, cmd: RequestConsent) -> RequestView:
    """Create a pending request for the person with that citizen ID (known or not: the answer is the same).

    Raises InvalidCitizenId, or a ConsentError when the request breaks its purpose's rules. A refusal is
    audited (after the rollback, in its own transaction): under the person when the citizen ID was valid, so
    that auditors see an institution's requests against the rules and the person sees them in their log.
    """
    access = institution_access(cmd.institution_id, cmd.request_id)
    with denials_audited(uow, access, Tag.CONSENT_REQUEST_REFUSED) as refused, uow.begin(access) as tx:
        citizen_id = normalise_citizen_id(cmd.citizen_id, tx.today)
        name = tx.session.execute(select(Client.name).where(Client.client_id == cmd.institution_id)).scalar()
        institution = Institution(cmd.institution_id, cmd.kind, name or cmd.institution_id)
        subject_ref = refused.about = vault.subject_ref(citizen_id)
        created = grants.create_request(tx, policy.purposes, institution, subject_ref, cmd.purpose,
                                        cmd.categories, cmd.reason, cmd.valid_for, cmd.max_uses,
                                        cmd.occupational_group)
        notifications.notify(tx, subject_ref, "consent_request", created.id,
                             status=notifications.WITHHELD if created.withheld else None)
        return created
    raise AssertionError("unreachable")


def institution_request(uow: UnitOfWork, institution_id: str, request_id: str) -> RequestView:
    """Return the institution's own request; raises RequestNotFound."""
    with uow.begin(institution_access(institution_id, None), readonly=True) as tx:
        return grants.get_request_for_institution(tx, request_id, institution_id)


def institution_grant(uow: UnitOfWork, institution_id: str, grant_id: str) -> GrantView:
    """Return a grant given to the institution; raises GrantNotFound."""
    with uow.begin(institution_access(institution_id, None), readonly=True) as tx:
        return grants.get_grant(tx, grant_id, institution_id=institution_id)


def my_requests(uow: UnitOfWork, subject_ref: str) -> Requests:
    """Return the requests made to the person, newest first, with the institutions that made them."""
    with uow.begin(person_access(subject_ref, None), readonly=True) as tx:
        views = grants.list_requests(tx, subject_ref)
        return Requests(views, institutions(tx, {v.institution_id for v in views}))


def approve(uow: UnitOfWork, vault: Vault, policy: Policy, cmd: Answer) -> Grants:
    """Turn the person's pending request into a grant; raises RequestNotFound, RequestNotPending, RequestInvalid."""
    with uow.begin(person_access(cmd.subject_ref, cmd.http_request_id)) as tx:
        row = grants.pending_request(tx, cmd.subject_ref, cmd.request_id)
        found = institutions(tx, {row.institution_id})[row.institution_id]
        institution = Institution(row.institution_id, found["kind"], found["name"])
        view = grants.approve(tx, vault.sign, policy.purposes, policy.catalogue, row, institution,
                              cmd.categories, cmd.valid_for)
        return Grants([view], {row.institution_id: found})


def deny(uow: UnitOfWork, cmd: Answer) -> Requests:
    """Deny the person's pending request; raises RequestNotFound or RequestNotPending."""
    with uow.begin(person_access(cmd.subject_ref, cmd.http_request_id)) as tx:
        view = grants.deny(tx, cmd.subject_ref, cmd.request_id)
        return Requests([view], institutions(tx, {view.institution_id}))


def my_grants(uow: UnitOfWork, subject_ref: str, grant_id: str | None = None) -> Grants:
    """Return the person's grants (or the one named), newest first, with their institutions."""
    with uow.begin(person_access(subject_ref, None), readonly=True) as tx:
        if grant_id is None:
            views = grants.list_grants(tx, subject_ref)
        else:
            views = [grants.get_grant(tx, grant_id, subject_ref=subject_ref)]
        return Grants(views, institutions(tx, {v.institution_id for v in views}))


def revoke(uow: UnitOfWork, subject_ref: str, grant_id: str, request_id: str | None = None) -> Grants:
    """Revoke the person's grant at once; raises GrantNotFound."""
    with uow.begin(person_access(subject_ref, request_id)) as tx:
        view = grants.revoke(tx, subject_ref, grant_id)
        return Grants([view], institutions(tx, {view.institution_id}))


def freeze_state(uow: UnitOfWork, subject_ref: str) -> FreezeState:
    """Return whether the person's file is frozen and since when."""
    with uow.begin(person_access(subject_ref, None), readonly=True) as tx:
        return freezes.state(tx, subject_ref)


def freeze(uow: UnitOfWork, subject_ref: str, revoke_grants: bool, request_id: str | None = None) -> FreezeState:
    """Freeze the person's own file at once, and revoke all their grants in force if asked, in one transaction."""
    with uow.begin(person_access(subject_ref, request_id)) as tx:
        return freezes.freeze(tx, subject_ref, revoke_grants)


def unfreeze(uow: UnitOfWork, subject_ref: str, request_id: str | None = None) -> FreezeState:
    """Lift the person's freeze at once."""
    with uow.begin(person_access(subject_ref, request_id)) as tx:
        return freezes.unfreeze(tx, subject_ref)


def serve_query(uow: UnitOfWork, vault: Vault, policy: Policy, q: Query) -> SignedReport:
    """Spend one use of the grant and release the signed report, in one transaction; a refusal is recorded.

    The statements: the grant, if it allows a use; the person's row and their selected records; then, at
    the write, the use spent on the same conditions with the report's INSERT (one statement on PostgreSQL),
    the audit counter and the entry. Everything before `tx.write()` only reads, so on SQLite, whose one
    writer lock every request waits for, the lock is held for the writes alone, not for the decryption and
    signing (on PostgreSQL it is one transaction as any other). What the reads found may change before the
    write: the spend re-checks the grant (revoked, exhausted by a concurrent query: refused), and if anything
    about the person was logged since the reads' snapshot (a record filed, corrected, revoked or repaired, an
    objection, a listing: every change to a file is logged under its person) the query is made again under
    the lock, so that it never releases what an objection withholds or a correction replaced, and a report
    stored after a change is never one its institution should have been told about (OBJ-2, OBJ-5).
    """
    access = institution_access(q.institution_id, q.request_id)
    try:
        try:
            return _serve(uow, vault, policy, q, access, reads_first=True)
        except _ReadAgain:
            return _serve(uow, vault, policy, q, access, reads_first=False)  # under the lock from the start
    except QueryRefused as exc:
        with uow.refusal(access) as tx:
            where = grants.refusal_context(tx, q.consent_id)
            tx.under(purpose=where.purpose, basis=q.consent_id).record(
                Tag.QUERY_DENIED, outcome=Outcome.DENIED, subject_ref=where.subject_ref, reason=exc.code,
                detail={"institution": q.institution_id})
        raise


# What may be logged about the person between a query's reads and its write without changing what it releases:
# other queries, and the person's own reads and sessions.
_NOT_A_CHANGE = audit.QUERY_ACTIONS + audit.READS_AND_SESSIONS


class _ReadAgain(Exception):
    """Something about the person was logged between the query's reads and its write: read again, locked."""


def _serve(uow: UnitOfWork, vault: Vault, policy: Policy, q: Query, access: AccessContext,
           reads_first: bool) -> SignedReport:
    with uow.begin(access, reads_first=reads_first) as tx:
        seen = audit.newest_seq(tx.session) if tx.apart else None  # the snapshot's end of the log
        grant = grants.usable(tx, q.consent_id, q.institution_id)
        purpose = policy.purposes.purpose(grant.purpose)
        selection = replace(grants.selection(grant, policy.purposes, policy.catalogue, tx.now),
                            withheld_while_disputed=policy.objections.withheld_categories)
        detail: dict[str, Any] = {
            "consent_receipt_sha256": grant.receipt_sha256,
            "policy_version": grant.policy_version,
            "fields": {c: sorted(f) for c, f in selection.fields.items()},
            "institution": q.institution_id,
        }
        weighed = _weighed(tx, vault, policy, grant, detail) if purpose.incentive_score else None
        if grant.occupational_group is not None:
            detail["occupational_group"] = grant.occupational_group
        try:
            release = vault.release(tx.under(purpose=purpose.code, basis=grant.id), grant.subject_ref,
                                    selection, detail)
        except SubjectNotFound:
            # Erased since the grant was read (PostgreSQL: each statement reads what is committed as it runs), which
            # revoked the grant: the institution is told so, not given a 500. A person gone with their grant in
            # force is no race, and stays an error.
            grants.refuse_unless_usable(tx, grant.id, q.institution_id, grants.spend_time(tx))
            raise
        report_id = reports.new_report_id()
        until = reports.deadline(grant, purpose, tx.now)
        found = None if weighed is None else evaluation.for_institution(
            policy.evaluation, policy.catalogue, tx.now, weighed, release.records)
        report = reports.compose(report_id, grant, purpose, policy.catalogue, release, tx.now, until, found)
        if set(policy.lists.categories.values()) & selection.fields.keys():
            # Listings in effect, of the lists whose category the grant covers; never a proposed one. The
            # release's read says whether the person is on any list now: most are not, and cost no statement.
            report["lists"] = listings.for_report(tx, policy.lists, grant.subject_ref, list(selection.fields)) \
                if release.listed else []
        jws = vault.sign(report, reports.REPORT_TYPE)
        sealed = release.seal_for_subject(report_id, jws.encode())
        tx.write()
        if seen is not None and audit.about_since(tx.session, grant.subject_ref, seen, _NOT_A_CHANGE):
            raise _ReadAgain  # rolled back: nothing spent, stored or logged
        reports.spend_and_store(tx, report_id, grant, until, sealed, [r.id for r in release.records])
    return SignedReport(report, jws)


def _weighed(tx: Tx, vault: Vault, policy: Policy, grant: GrantView, detail: dict[str, Any]) -> list[RecordDates]:
    """Return the dates of the person's adverse records an incentive purpose's evaluation weighs, and note in the
    release's audit detail which ones and under which rules (EVAL-1: no other purpose reads them)."""
    weighed = vault.record_dates(tx, grant.subject_ref, policy.evaluation.adverse)
    detail["evaluation"] = {"rules_version": policy.evaluation.version, "weighed": [r.id for r in weighed]}
    return weighed


def get_report(uow: UnitOfWork, vault: Vault, institution_id: str, report_id: str,
               request_id: str | None) -> SignedReport:
    """Return a stored report to its institution before the deadline (ReportGone after, contents purged)."""
    try:
        with uow.begin(institution_access(institution_id, request_id)) as tx:
            row = reports.get_for_institution(tx, report_id, institution_id)
            assert row.sealed is not None
            jws = vault.open_report(tx.under(basis=row.grant_id), row.subject_ref, report_id, row.sealed).decode()
    except ReportGone:
        with uow.begin(institution_access(institution_id, request_id)) as tx:
            reports.purge_expired(tx.session, tx.now)
        raise
    return SignedReport(vault.verify(jws), jws)


def who_looked(tx: Tx, directory: ClientDirectory, subject_ref: str) -> list[dict[str, Any]]:
    """Return every query of the person's records in the last two years, newest first (names from the cache)."""
    since = tx.now - WHO_LOOKED_WINDOW
    entries = audit.for_subject(tx.session, subject_ref, audit.QUERY_ACTIONS, since)
    names = directory.names(tx.session, {e.actor for e in entries}) if entries else {}
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


def purge_expired_reports(uow: UnitOfWork) -> int:
    """Erase the contents of every report past its retrieval deadline; return how many."""
    with uow.begin(AccessContext(actor="xinyong", role="system")) as tx:
        return reports.purge_expired(tx.session, tx.now)


@dataclass(frozen=True)
class InstitutionDesk:
    """What an institution's staff follow: its newest requests, the grants they led to, and its reports."""

    requests: list[RequestView]
    grants: dict[str, GrantView]
    reports: list[reports.ReportRef]


def institution_desk(uow: UnitOfWork, institution_id: str, limit: int = 100) -> InstitutionDesk:
    """Return the institution's newest requests with their grants, and its newest reports (no contents)."""
    with uow.begin(institution_access(institution_id, None), readonly=True) as tx:
        requests = grants.requests_of_institution(tx, institution_id, limit)
        given = grants.grants_of_institution(tx, institution_id, [r.grant_id for r in requests if r.grant_id])
        return InstitutionDesk(requests, given, reports.of_institution(tx, institution_id, limit))
