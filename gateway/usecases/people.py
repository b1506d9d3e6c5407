"""Use cases of people: enrolment at a counter, activation, login, and their own report."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from audit import entries as audit
from audit.tags import Outcome, Tag
from consent.display import visible_to_third_parties
from gateway.errors import RateLimited, Unauthenticated
from gateway.models import Account, LoginFailure
from gateway.runtime import Runtime
from gateway.usecases.consents import who_looked
from gateway.usecases.records import denials_audited
from vault import crypto, records, subjects
from vault.access import AccessContext
from vault.errors import InvalidCitizenId
from vault.identity import mask_citizen_id, normalise_citizen_id

# Crockford-style alphabet without look-alikes: read aloud at a service counter.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


@dataclass(frozen=True)
class Enrolment:
    activation_code: str
    expires_at: str


def enroll(session: Session, rt: Runtime, raw_id: str, name: str | None, operator: str) -> Enrolment:
    """Create (or renew) a person's account after an in-person identity check; return the one-time code."""
    citizen_id = normalise_citizen_id(raw_id, rt.clock.now().date())
    code = "-".join("".join(secrets.choice(_CODE_ALPHABET) for _ in range(4)) for _ in range(3))
    now = rt.clock.now()
    expires = now + timedelta(days=rt.settings.activation_ttl_days)
    with session.begin():
        subject = subjects.ensure_subjects(session, rt.keyring, rt.clock, [(citizen_id, name)])
        ref = next(iter(subject))
        account = session.get(Account, ref)
        if account is None:
            account = Account(subject_ref=ref, created_at=now)
            session.add(account)
        account.activation_code_hash = rt.hasher.hash(code)
        account.activation_expires_at = expires
        audit.append(session, rt.clock, audit.EntryDraft(
            actor=operator, role="operator", action=Tag.SUBJECT_ENROLLED, subject_ref=ref,
            basis="in-person identity check"))
    return Enrolment(code, expires.isoformat())


def activate(session: Session, rt: Runtime, raw_id: str, code: str, password: str, address: str) -> None:
    """Set the password with the one-time code; a wrong or used code is the same 401 as an unknown ID."""
    citizen_id = normalise_citizen_id(raw_id, rt.clock.now().date())
    ref = crypto.blind_index(rt.keyring, citizen_id)
    _check_rate(session, rt, ref, address)
    with session.begin():
        account = session.get(Account, ref)
        ok = (
            account is not None
            and account.activation_code_hash is not None
            and account.activation_expires_at is not None
            and account.activation_expires_at > rt.clock.now()
            and _verify(rt, account.activation_code_hash, code.strip().upper())
        )
        if ok and account is not None:
            account.password_hash = rt.hasher.hash(password)
            account.activation_code_hash = None
            account.activation_expires_at = None
            account.activated_at = rt.clock.now()
            audit.append(session, rt.clock, audit.EntryDraft(
                actor=ref, role="person", action=Tag.SUBJECT_ACTIVATED, subject_ref=ref))
    if not ok:
        _fail(session, rt, ref, address, Tag.SUBJECT_LOGIN_DENIED, "bad_activation")
        raise Unauthenticated("the citizen ID and activation code do not match a pending activation")


def login(session: Session, rt: Runtime, raw_id: str, password: str, address: str) -> str:
    """Return the person's blind index if the password is right; rate-limited per account and address."""
    try:
        citizen_id = normalise_citizen_id(raw_id, rt.clock.now().date())
    except InvalidCitizenId:  # a malformed ID is a failed login like any other
        citizen_id = raw_id.strip().upper()
    ref = crypto.blind_index(rt.keyring, citizen_id)
    _check_rate(session, rt, ref, address)
    with session.begin():
        account = session.get(Account, ref)
        ok = account is not None and account.password_hash is not None and _verify(
            rt, account.password_hash, password)
        if ok:
            session.execute(delete(LoginFailure).where(LoginFailure.account_key == ref))
            audit.append(session, rt.clock, audit.EntryDraft(
                actor=ref, role="person", action=Tag.SUBJECT_LOGIN, subject_ref=ref))
    if not ok:
        _fail(session, rt, ref, address, Tag.SUBJECT_LOGIN_DENIED, "bad_credentials")
        raise Unauthenticated("the citizen ID or password is wrong")
    return ref


def _verify(rt: Runtime, stored: str, given: str) -> bool:
    try:
        return bool(rt.hasher.verify(stored, given))
    except (VerificationError, InvalidHashError):
        return False


def _check_rate(session: Session, rt: Runtime, ref: str, address: str) -> None:
    since = rt.clock.now() - timedelta(seconds=rt.settings.login_window_seconds)
    with session.begin():
        per_account = session.execute(select(func.count()).select_from(LoginFailure).where(
            LoginFailure.account_key == ref, LoginFailure.at > since)).scalar_one()
        per_address = session.execute(select(func.count()).select_from(LoginFailure).where(
            LoginFailure.address == address, LoginFailure.at > since)).scalar_one()
    if (per_account >= rt.settings.login_max_failures_per_account
            or per_address >= rt.settings.login_max_failures_per_address):
        raise RateLimited("too many failed attempts; try again later",
                          retry_after=rt.settings.login_window_seconds)


def _fail(session: Session, rt: Runtime, ref: str, address: str, action: Tag, reason: str) -> None:
    with session.begin():
        session.add(LoginFailure(account_key=ref, address=address, at=rt.clock.now()))
        audit.append(session, rt.clock, audit.EntryDraft(
            actor=ref, role="person", action=action, outcome=Outcome.DENIED, subject_ref=ref, reason=reason))


def self_report(session: Session, rt: Runtime, subject_ref: str, request_id: str | None) -> dict[str, Any]:
    """Return the person's own report: every record, with whether third parties can see it now."""
    access = AccessContext(actor=subject_ref, role="person", purpose="self_report",
                           basis="data subject's right of access", request_id=request_id)
    now = rt.clock.now()
    with denials_audited(session, rt, access, Tag.REPORT_SELF_DENIED, subject_ref), session.begin():
        # Reads first: the audit append inside read_own takes the sequence lock, held until commit.
        queries = who_looked(session, rt, subject_ref)
        rt.directory.names(session, ())  # refresh the name cache now if stale, not after the append
        subject, views = records.read_own(session, rt.keyring, rt.clock, subject_ref, access)
        identity = subjects.reveal_identity(rt.keyring, subject)
        # Cached after the refresh above; it reads only if a provider is newer than the cache.
        providers = rt.directory.names(session, {v.provider_id for v in views})
    catalogue = rt.catalogue
    out = []
    for view in views:
        category = catalogue.category(view.category)
        out.append({
            "id": view.id,
            "category": view.category,
            "category_name": {"zh": category.name_zh, "en": category.name_en},
            "polarity": category.polarity,
            "provider": {"id": view.provider_id, "name": providers.get(view.provider_id, view.provider_id)},
            "status": view.status,
            "decided_at": view.decided_at.isoformat(),
            "display_from": view.display_from.isoformat(),
            "display_until": view.display_until.isoformat(),
            "visible_to_third_parties": visible_to_third_parties(category, view.status, view.display_from,
                                                                 view.display_until, now),
            "payload": view.payload,
            "document": view.document,
        })
    return {
        "generated_at": now.isoformat().replace("+00:00", "Z"),
        "catalogue_version": catalogue.version,
        "subject": {"citizen_id_masked": mask_citizen_id(identity.citizen_id), "name": identity.name},
        "records": out,
        "queries": queries,
    }
