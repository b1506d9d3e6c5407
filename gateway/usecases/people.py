"""Use cases of people: enrolment at a counter, activation, login, and their own report."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete

from audit import dbapi
from audit import entries as audit
from audit.clock import CST, isoformat_z, today
from audit.tags import Outcome, Tag
from audit.tx import AccessContext, Tx
from consent import (
    evaluation,
    freezes,
    grants,
    listings,
    notices,
    notifications,
    objections,
    repairs,
    reports,
)
from consent.catalogue import Category
from consent.display import visible_to_third_parties
from consent.grants import GrantView, RequestView
from gateway.errors import RateLimited, Unauthenticated
from gateway.limits import FailureLog, Limit, serialise, wait_seconds
from gateway.models import Account, LoginFailure, PortalSession, StaffLoginFailure
from gateway.runtime import Runtime
from gateway.usecases import credentials
from gateway.usecases import listings as listing_use
from gateway.usecases import notices as notice_use
from gateway.usecases.access_log import entries_with_proofs
from gateway.usecases.consents import SignedReport, institutions, who_looked
from vault.errors import InvalidCitizenId, VaultError
from vault.identity import mask_citizen_id, normalise_citizen_id
from vault.types import PeriodChangeView, RecordView

# How many of the newest notifications /me shows (the rest at GET /api/v1/me/notifications).
ME_NOTIFICATIONS = 5

@dataclass(frozen=True)
class Enrolment:
    activation_code: str
    expires_at: str


def enroll(rt: Runtime, raw_id: str, name: str | None, operator: str) -> Enrolment:
    """Create (or renew) a person's account after an in-person identity check; return the one-time code."""
    code = credentials.one_time_code()
    code_hash = rt.hasher.hash(code)
    with rt.uow.begin(AccessContext(actor=operator, role="operator")) as tx:
        citizen_id = normalise_citizen_id(raw_id, tx.today)
        expires = tx.now + timedelta(days=rt.settings.activation_ttl_days)
        ref = rt.vault.enrol(tx, citizen_id, name, basis="in-person identity check")
        account = tx.session.get(Account, ref)
        if account is None:
            account = Account(subject_ref=ref, created_at=tx.now)
            tx.session.add(account)
        account.activation_code_hash = code_hash
        account.activation_expires_at = expires
    return Enrolment(code, expires.isoformat())


def _person(ref: str) -> AccessContext:
    return AccessContext(actor=ref, role="person")


def activate(rt: Runtime, raw_id: str, code: str, password: str, address: str) -> None:
    """Set the password with the one-time code; a wrong or used code is the same 401 as an unknown ID."""
    citizen_id = normalise_citizen_id(raw_id, today(rt.clock))
    ref = rt.vault.subject_ref(citizen_id)
    _admit(rt, ref, address)
    with rt.uow.begin(_person(ref), readonly=True) as tx:
        account = tx.session.get(Account, ref)
        pending = (account.activation_code_hash if account is not None and account.activation_expires_at is not None
                   and account.activation_expires_at > tx.now else None)
    # The slow hashing runs outside any transaction, so no lock waits on it.
    ok = credentials.verify(rt.hasher, pending, code.strip().upper())
    if ok:
        new_hash = rt.hasher.hash(password)
        with rt.uow.begin(_person(ref)) as tx:
            account = tx.session.get(Account, ref, with_for_update=True, populate_existing=True)
            # The same code must still be pending: two activations at once succeed once.
            ok = account is not None and account.activation_code_hash == pending
            if ok and account is not None:
                account.password_hash = new_hash
                account.activation_code_hash = None
                account.activation_expires_at = None
                account.activated_at = tx.now
                _forgive(tx, ref, address)
                tx.record(Tag.SUBJECT_ACTIVATED, subject_ref=ref)
    if not ok:
        _fail(rt, ref, Tag.SUBJECT_LOGIN_DENIED, "bad_activation")
        raise Unauthenticated("the citizen ID and activation code do not match a pending activation")


@dataclass(frozen=True)
class Login:
    """A person logged in: their blind index, and the token of their portal session (for the cookie only)."""

    subject_ref: str
    session_token: str = field(repr=False)


def login(rt: Runtime, raw_id: str, password: str, address: str) -> Login:
    """Log the person in if the password is right, starting a portal session.

    Raises RateLimited when failures from this address (gateway/data/limits.json) hold it back.
    """
    try:
        citizen_id = normalise_citizen_id(raw_id, today(rt.clock))
    except InvalidCitizenId:  # a malformed ID is a failed login like any other
        citizen_id = raw_id.strip().upper()
    ref = rt.vault.subject_ref(citizen_id)
    _admit(rt, ref, address)
    with rt.uow.begin(_person(ref), readonly=True) as tx:
        account = tx.session.get(Account, ref)
        stored = account.password_hash if account is not None else None
    ok = credentials.verify(rt.hasher, stored, password)
    if not ok:
        _fail(rt, ref, Tag.SUBJECT_LOGIN_DENIED, "bad_credentials")
        raise Unauthenticated("the citizen ID or password is wrong")
    token = secrets.token_urlsafe(32)
    with rt.uow.begin(_person(ref)) as tx:
        _forgive(tx, ref, address)
        tx.session.add(PortalSession(token_hash=_hash(token), subject_ref=ref, created_at=tx.now,
                                     ends_at=tx.now + timedelta(hours=rt.settings.session_max_hours)))
        tx.record(Tag.SUBJECT_LOGIN, subject_ref=ref)
    return Login(ref, token)


def session_person(rt: Runtime, token: str) -> str | None:
    """Return the blind index of a live portal session's person; None if it ended, ran out or never was."""
    with rt.uow.begin(AccessContext(actor="portal", role="system"), readonly=True) as tx:
        return _live_person(tx, token)


def _live_person(tx: Tx, token: str) -> str | None:
    rows = dbapi.execute(tx.session.connection(), _LIVE_SESSION, {"token_hash": _hash(token)})
    if not rows:
        return None
    ref, ended_at, ends_at = rows[0]
    if ended_at is not None or dbapi.to_time(ends_at) <= tx.now:
        return None
    return str(ref)


# On the driver's cursor (audit.dbapi): every portal request checks its session, and the person's own report
# does so in its own transaction.
_LIVE_SESSION = dbapi.Statement(
    "SELECT subject_ref, ended_at, ends_at FROM portal_sessions WHERE token_hash = :token_hash")


def logout(rt: Runtime, token: str) -> None:
    """End the portal session at once: its cookie, or any copy of it, opens nothing afterwards."""
    with rt.uow.begin(AccessContext(actor="portal", role="system")) as tx:
        row = tx.session.get(PortalSession, _hash(token), with_for_update=True)
        if row is not None and row.ended_at is None:
            row.ended_at = tx.now
            tx.acting_as(_person(row.subject_ref)).record(Tag.SUBJECT_LOGOUT, subject_ref=row.subject_ref)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


LOGIN_FAILURES = FailureLog(LoginFailure.account_key, LoginFailure.address, LoginFailure.at)


def _admit(rt: Runtime, ref: str, address: str) -> None:
    admit(rt, _person(ref), LOGIN_FAILURES, LoginFailure, rt.settings.failure_limits.login, "login", ref, address)


def admit(rt: Runtime, access: AccessContext, log: FailureLog, row: type[LoginFailure] | type[StaffLoginFailure],
          limits: tuple[Limit, ...], kind: str, account: str, address: str) -> None:
    """Let this attempt go ahead if the limits allow it from `address`, counting it as a failure (a `row` of
    `log`) until it succeeds (so that parallel attempts cannot all pass the check first); raise RateLimited with
    the wait. A person's logins use it, and a member of staff's (gateway.usecases.staff)."""
    # A quick look first: an address held back is turned away without queueing for the write lock.
    with rt.uow.begin(access, readonly=True) as tx:
        wait = wait_seconds(tx.session, log, limits, account, address, tx.now)
    if not wait:
        with rt.uow.begin(access) as tx:
            serialise(tx.session, f"{kind}:account:{account}", f"{kind}:address:{address}")
            wait = wait_seconds(tx.session, log, limits, account, address, tx.now)
            if not wait:
                tx.session.add(row(account_key=account, address=address, at=tx.now))
    if wait:
        raise RateLimited(f"too many failed attempts; try again in {wait} seconds", retry_after=wait)


def _forgive(tx: Tx, ref: str, address: str) -> None:
    # The person's own slips from this address (and this attempt) are forgiven; failures from elsewhere count on.
    tx.session.execute(delete(LoginFailure).where(LoginFailure.account_key == ref, LoginFailure.address == address))


def _fail(rt: Runtime, ref: str, action: Tag, reason: str) -> None:
    with rt.uow.refusal(_person(ref)) as tx:
        tx.record(action, outcome=Outcome.DENIED, subject_ref=ref, reason=reason)


def self_report(rt: Runtime, subject_ref: str, request_id: str | None) -> dict[str, Any]:
    """Return the person's own report: every record, with whether third parties can see it now."""
    access = _self_access(subject_ref, request_id)

    def unchanged(tx: Tx, seq: int, _found: dict[str, Any]) -> bool:
        return not audit.about_since(tx.session, subject_ref, seq, audit.READS_AND_SESSIONS)

    with _refusal_recorded(rt, access):  # read as session_self_report reads (see there)
        return rt.uow.reading_first(access, lambda tx: report_in(tx, rt, subject_ref), unchanged)
    raise AssertionError("unreachable")


def session_self_report(rt: Runtime, token: str, request_id: str | None) -> tuple[str, dict[str, Any]] | None:
    """Return the person whose live portal session `token` names and their own report, as `self_report` does;
    None if the session ended, ran out or never was (then nothing is read or recorded).

    The session is checked with the report's reads, and the report is read as `rt.uow.reading_first` reads:
    on SQLite in a snapshot before the write lock; under the lock, at the time of the write, it checks again
    that the session is live and that no entry about the person (a record filed, corrected or erased, an
    objection's step, an institution's query: every change to their file is logged under them) has been
    appended since the snapshot, else it reads again, locked; then the entry is appended. Either way the person
    sees their file as it stood at their entry's place in the log (the day that decides what third parties may
    see is the one the reads began on), and nothing after a logout that precedes it.
    """
    portal = AccessContext(actor="portal", role="system", request_id=request_id)
    access: list[AccessContext] = []

    def read(tx: Tx) -> tuple[str, dict[str, Any]] | None:
        ref = _live_person(tx, token)
        if ref is None:
            return None
        access[:] = [_self_access(ref, request_id)]
        return ref, report_in(tx.acting_as(access[0]), rt, ref)

    def unchanged(tx: Tx, seq: int, found: tuple[str, dict[str, Any]] | None) -> bool:
        return (found is not None and _live_person(tx, token) == found[0]
                and not audit.about_since(tx.session, found[0], seq, audit.READS_AND_SESSIONS))

    try:
        return rt.uow.reading_first(portal, read, unchanged)
    except VaultError as exc:
        if access:  # recorded after the rollback, in a transaction of its own
            _record_refusal(rt, access[0], exc)
        raise


def signed_self_report(rt: Runtime, subject_ref: str, request_id: str | None) -> SignedReport:
    """Return the person's own report with an id of its own, signed: the JSON and the PDF download alike.

    The same audited read as `self_report` (one entry per download, whatever its form); the id lets a
    printed copy be named and checked at /verify.
    """
    report = {"report_id": reports.new_self_report_id(), **self_report(rt, subject_ref, request_id)}
    return SignedReport(report, rt.vault.sign(report, reports.SELF_REPORT_TYPE))


@dataclass(frozen=True)
class MePage:
    """Everything /me shows, read in one transaction."""

    report: dict[str, Any]
    requests: list[RequestView]
    grants: list[GrantView]
    institutions: dict[str, dict[str, Any]]
    access: dict[str, Any]
    freeze: freezes.FreezeState
    notifications: list[dict[str, Any]] = field(default_factory=list)
    unread: int = 0


def me_page(rt: Runtime, subject_ref: str, request_id: str | None) -> MePage:
    """Return the person's report, their consent requests and grants, and their access log, in one transaction."""
    access = _self_access(subject_ref, request_id)
    with _refusal_recorded(rt, access), rt.uow.begin(access) as tx:
        requests = grants.list_requests(tx, subject_ref)
        given = grants.list_grants(tx, subject_ref)
        names = institutions(tx, {r.institution_id for r in requests} | {g.institution_id for g in given})
        log = entries_with_proofs(tx, rt, subject_ref)
        report = report_in(tx, rt, subject_ref)
        latest = [v.to_public() for v in notifications.for_person(tx, subject_ref, ME_NOTIFICATIONS)]
        return MePage(report, requests, given, names, log, freezes.state(tx, subject_ref), latest,
                      notifications.unread(tx, subject_ref))
    raise AssertionError("unreachable")


def _self_access(subject_ref: str, request_id: str | None) -> AccessContext:
    return AccessContext(actor=subject_ref, role="person", purpose="self_report",
                         basis="data subject's right of access", request_id=request_id)


@contextmanager
def _refusal_recorded(rt: Runtime, access: AccessContext) -> Iterator[None]:
    try:
        yield
    except VaultError as exc:
        _record_refusal(rt, access, exc)
        raise


def _record_refusal(rt: Runtime, access: AccessContext, exc: VaultError) -> None:
    with rt.uow.refusal(access) as tx:
        tx.record(Tag.REPORT_SELF_DENIED, outcome=Outcome.DENIED, subject_ref=access.actor, reason=type(exc).__name__)


def _objection_beside(view: objections.ObjectionView, withheld: bool) -> dict[str, Any]:
    """Return the open objection shown beside its record in the person's own report."""
    return {"id": view.id, "status": view.status, "since": view.submitted_at.astimezone(CST).date().isoformat(),
            "open_step": view.open_step, "deadline": None if view.due is None else view.due.isoformat(),
            "withheld_from_third_parties": withheld}


def _superseded(tx: Tx, subject_ref: str) -> dict[str, str]:
    """Return {corrected record id: the id of the record that replaced it} from the log's corrections."""
    found = audit.for_subject(tx.session, subject_ref, [Tag.RECORD_CORRECTED], datetime(1970, 1, 1, tzinfo=UTC))
    return {e.record_ids[0]: str(e.detail["corrected_by"])
            for e in found if e.record_ids and "corrected_by" in e.detail}


def _repair_beside(rt: Runtime, category: Category, view: RecordView, open_application: str | None) -> dict[str, Any]:
    """Return what the person's report says of a record's repair: repaired (when, how), or whether, from when
    and how it can be repaired (REP-13); nothing for a record that is not negative."""
    if view.repaired_at is not None:
        return {"repaired": {"on": view.repaired_at.astimezone(CST).date().isoformat(),
                             "effect": view.repair_effect or "stop_sharing"}}
    if view.status != "active":
        return {}
    found = repairs.repairability(category, view.decided_at, rt.policy.repairs)
    if found is None:
        return {}
    if open_application is not None:
        found["open_application"] = open_application
    return {"repair": found}


def report_in(tx: Tx, rt: Runtime, subject_ref: str) -> dict[str, Any]:
    """Return the person's own report in `tx`: who looked (reads first), then the vault's audited read."""
    queries = who_looked(tx, rt.directory, subject_ref)
    own = rt.vault.read_own(tx, subject_ref)
    providers = rt.directory.names(tx.session, {v.provider_id for v in own.records})
    now = tx.now
    today = now.astimezone(CST).date()
    catalogue = rt.catalogue
    # What is shown beside the records came with them; an open objection's details only if one is open.
    disputed = objections.open_for_records(tx, [v.id for v in own.records if v.id in own.objections])
    withheld = rt.policy.objections.withheld_categories
    # OBJ-5: the institutions told that a record they received was corrected, revoked, withdrawn or repaired.
    told = notices.for_records(tx, subject_ref, [v.id for v in own.records if v.status != "active"
                                                 or v.period_changes or v.repaired_at is not None])
    told_names = institutions(tx, {n.institution_id for ns in told.values() for n in ns}) if told else {}
    superseded = _superseded(tx, subject_ref) if any(v.status == "revoked" for v in own.records) else {}
    applied, declared = own.repairs, own.declarations
    out = []
    for view in own.records:
        category = catalogue.category(view.category)
        objection = disputed.get(view.id)
        until = view.display_until
        shown = {
            "id": view.id,
            "category": view.category,
            "category_name": {"zh": category.name.zh, "en": category.name.en},
            "polarity": category.polarity,
            "provider": {"id": view.provider_id, "name": providers.get(view.provider_id, view.provider_id)},
            "status": view.status,
            "decided_at": view.decided_at.isoformat(),
            "display_from": view.display_from.isoformat(),
            "display_until": None if until is None else until.isoformat(),
            "visible_to_third_parties": visible_to_third_parties(category, view.status, view.display_from, until,
                                                                 today)
            and not (objection is not None and view.category in withheld) and view.repaired_at is None,
            "payload": view.payload,
            "document": view.document,
            "version": view.version,
            "period_changes": [_period_change(change) for change in view.period_changes]
            if view.period_changes else [],
        }
        # Each only where there is one (a dict merged per record for each cost more than these tests).
        if objection is not None:
            shown["objection"] = _objection_beside(objection, view.category in withheld)
        if view.id in told:
            shown["institutions_told"] = [notice_use.told_out(n, told_names) for n in told[view.id]]
        # A corrected record stays in the person's history, superseded by its correction, never released.
        if view.id in superseded:
            shown["superseded_by"] = superseded[view.id]
        # Voluntary registration (VOL-1): the person declared it, the agency that filed it verified it.
        if view.id in declared:
            shown["self_reported"] = {"declaration_id": declared[view.id]}
        shown.update(_repair_beside(rt, category, view, applied.get(view.id)))
        out.append(shown)
    return {
        "generated_at": now.isoformat().replace("+00:00", "Z"),
        "catalogue_version": catalogue.version,
        "subject": {"citizen_id_masked": mask_citizen_id(own.identity.citizen_id), "name": own.identity.name},
        "records": out,
        "queries": queries,
        "listings": _listings_beside(tx, rt, subject_ref) if own.listed else [],
        # The person's own evaluation, with every adverse record weighed and why (EVAL-7): shown to them whatever
        # the purposes, since it is their own data; institutions get it only for an incentive purpose.
        "evaluation": evaluation.for_person(rt.policy.evaluation, catalogue, now, own.records),
    }


def _period_change(change: PeriodChangeView) -> dict[str, Any]:
    return {"version": change.version, "change": change.kind,
            "previous_until": None if change.previous_until is None else change.previous_until.isoformat(),
            "display_until": None if change.display_until is None else change.display_until.isoformat(),
            "document": change.document, "changed_at": isoformat_z(change.changed_at)}


def who_looked_page(rt: Runtime, subject_ref: str) -> dict[str, Any]:
    """Return who looked at the person's file: institutions' queries and the access log with its proofs, read in
    one read-only transaction (reading who looked records nothing, so looking does not add rows of its own)."""
    with rt.uow.begin(_person(subject_ref), readonly=True) as tx:
        return {"queries": who_looked(tx, rt.directory, subject_ref),
                "log": entries_with_proofs(tx, rt, subject_ref)}


def _listings_beside(tx: Tx, rt: Runtime, subject_ref: str) -> list[dict[str, Any]]:
    """Return the person's listings (proposed, in effect, ended) with their dates, versions and remedies;
    the reason and basis are read at /api/v1/me/listings/{id}, a read of its own."""
    views = listings.list_for_person(tx, subject_ref)
    if not views:
        return []
    names = institutions(tx, {v.provider_id for v in views})
    history = listings.versions(tx, [v.id for v in views])
    return [{**listing_use.describe(rt, tx, v, None, names, history.get(v.id, [])),
             **rt.policy.lists.notice(v.kind), "details_at": f"/api/v1/me/listings/{v.id}"} for v in views]
