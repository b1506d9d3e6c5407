"""Apps acting for a person: their consent (asked once, remembered until revoked), their logins, revocation.

An app login is what an app holds for the person: its tokens (each family descends from one authorization
code) and the remembered consent. The person sees each app once, with what it may see, since when and when it
last used the API, and can revoke it: every token it holds for them stops at once and the consent is forgotten,
so the app must ask again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.tags import Outcome, Tag
from audit.tx import AccessContext, Tx
from gateway.errors import NotFound
from gateway.models import AppConsent, AuthorizationCode, Token
from gateway.uow import UnitOfWork
from gateway.usecases.consents import person_access

# How stale a token's `last_used_at` may get: the API writes it at most this often per token, so that
# reading a report does not cost a write each time.
LAST_USED_GRAIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Words:
    zh: str
    en: str


# The apps people can log in to: only the built-in first-party app today (gateway/web/oauth/clients.py).
APP_NAMES = {"xinyong-app": Words("信用 App", "Xinyong app")}
# What a scope lets an app see and do, as the consent screen and the list of app logins say it.
SCOPE_TEXT = {
    "me": Words("读取你的信用报告、授权请求和访问记录；替你同意、拒绝或撤回机构的授权请求",
                "read your credit report, consent requests and access log; approve, deny or revoke "
                "institutions' consent requests for you"),
}


def app_name(client_id: str) -> Words:
    """Return the app's name to show a person (its client id for an app without one)."""
    return APP_NAMES.get(client_id, Words(client_id, client_id))


def scope_text(scope: str) -> list[Words]:
    """Return what each scope in a space-separated `scope` allows, in the order given."""
    return [SCOPE_TEXT.get(s, Words(s, s)) for s in scope.split()]


@dataclass(frozen=True)
class AppLogin:
    """One app the person let act for them: `logins` live token families (devices), and their times."""

    client_id: str
    name: Words
    scope: str
    may: list[Words]
    since: datetime
    last_used_at: datetime | None
    logins: int


def _live(now: datetime) -> ColumnElement[bool]:
    # A token still worth something: an access token before its expiry, or a refresh token not yet spent.
    return or_(Token.expires_at > now,
               (Token.refresh_token_hash.is_not(None)) & Token.refresh_used_at.is_(None)
               & (Token.refresh_expires_at > now))


def app_logins(uow: UnitOfWork, subject_ref: str) -> list[AppLogin]:
    """Return the apps that hold a live token for the person or their remembered consent, by app name."""
    with uow.begin(person_access(subject_ref, None), readonly=True) as tx:
        consents = {c.client_id: c for c in tx.session.scalars(
            select(AppConsent).where(AppConsent.subject_ref == subject_ref))}
        tokens = list(tx.session.scalars(select(Token).where(
            Token.subject_ref == subject_ref, Token.revoked.is_(False), _live(tx.now))))
    found = []
    for client_id in sorted(set(consents) | {t.client_id for t in tokens}):
        held = [t for t in tokens if t.client_id == client_id]
        consent = consents.get(client_id)
        scope = consent.scope if consent is not None else " ".join(sorted({s for t in held for s in t.scope.split()}))
        uses = [t.last_used_at or t.issued_at for t in held]
        found.append(AppLogin(
            client_id=client_id, name=app_name(client_id), scope=scope, may=scope_text(scope),
            since=consent.granted_at if consent is not None else min(t.issued_at for t in held),
            last_used_at=max(uses) if uses else None,
            logins=len({t.family_id or t.token_hash for t in held})))
    return sorted(found, key=lambda a: (a.name.zh, a.client_id))


def revoke_app(uow: UnitOfWork, subject_ref: str, client_id: str, request_id: str | None = None) -> int:
    """End every token the app holds for the person and forget their consent, at once; return how many
    tokens were revoked. Raises NotFound if the app holds nothing for this person (another person's app
    logins are nothing to them)."""
    with uow.begin(person_access(subject_ref, request_id)) as tx:
        forgot = tx.session.execute(delete(AppConsent).where(
            AppConsent.subject_ref == subject_ref, AppConsent.client_id == client_id))
        # A code not yet exchanged would become a token after the revocation: spend it now. First, so that
        # an exchange in flight holds its code's lock until its token is committed and then found below.
        tx.session.execute(update(AuthorizationCode).where(
            AuthorizationCode.subject_ref == subject_ref, AuthorizationCode.client_id == client_id,
            AuthorizationCode.used_at.is_(None)).values(used_at=tx.now).execution_options(synchronize_session=False))
        count = revoke_all(tx.session, (Token.subject_ref == subject_ref) & (Token.client_id == client_id)
                           & _live(tx.now))
        if _rowcount(forgot) == 0 and count == 0:
            raise NotFound("no app login of yours has that client_id")
        tx.record(Tag.APP_CONSENT_REVOKED, subject_ref=subject_ref,
                  detail={"client_id": client_id, "tokens_revoked": count})
    return count


def revoke_all(session: Session, which: ColumnElement[bool]) -> int:
    """Mark every token `which` selects revoked, including any that a refresh in flight is making; return how many.

    A refresh spends the old row (locking it) and inserts the new one in its own transaction. On PostgreSQL an
    UPDATE waits for that lock, but its snapshot, taken before the refresh committed, misses the new row; so
    update again, each statement with a fresh snapshot, until one finds nothing. A refresh that starts later
    waits on these rows' locks and then finds them revoked.
    """
    total = 0
    while True:
        revoked = session.execute(update(Token).where(which, Token.revoked.is_(False)).values(revoked=True)
                                  .execution_options(synchronize_session=False))
        if _rowcount(revoked) == 0:
            return total
        total += _rowcount(revoked)


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def has_consent(tx: Tx, subject_ref: str, client_id: str, scope: str) -> bool:
    """Return whether the person already allowed the app every scope in `scope`."""
    row = tx.session.get(AppConsent, (subject_ref, client_id))
    return row is not None and set(scope.split()) <= set(row.scope.split())


def decide_consent(tx: Tx, subject_ref: str, client_id: str, scope: str, allow: bool) -> None:
    """Record the person's answer on the consent screen: remember an "allow" (with the scopes allowed
    before), and audit either answer as the person's own decision."""
    person = tx.acting_as(person_access(subject_ref, tx.access.request_id))
    detail = {"client_id": client_id, "scope": scope}
    if not allow:
        person.record(Tag.APP_CONSENT_DENIED, outcome=Outcome.DENIED, subject_ref=subject_ref, detail=detail)
        return
    row = tx.session.get(AppConsent, (subject_ref, client_id), with_for_update=True)
    if row is not None:
        row.scope = " ".join(sorted(set(row.scope.split()) | set(scope.split())))
    else:
        try:
            with tx.session.begin_nested():  # two tabs allowing at once: the first row stands
                tx.session.add(AppConsent(subject_ref=subject_ref, client_id=client_id, scope=scope,
                                          granted_at=tx.now))
        except IntegrityError:
            pass
    person.record(Tag.APP_CONSENT_GRANTED, subject_ref=subject_ref, detail=detail)


def note_use(uow: UnitOfWork, token_hash: str, last_used_at: datetime | None, now: datetime) -> None:
    """Record that an app token was used now, if what is stored is older than LAST_USED_GRAIN."""
    if last_used_at is not None and now - last_used_at < LAST_USED_GRAIN:
        return
    with uow.begin(AccessContext(actor="bearer", role="oauth")) as tx:
        tx.session.execute(
            update(Token).where(Token.token_hash == token_hash,
                                or_(Token.last_used_at.is_(None), Token.last_used_at < now - LAST_USED_GRAIN))
            .values(last_used_at=now).execution_options(synchronize_session=False))
