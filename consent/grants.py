"""Consent requests and grants: per purpose, per query, never for life (AUTH-2, AUTH-3).

Only the person can turn a request into a grant. A grant names its purpose, categories, fields,
validity and number of uses, and carries a signed receipt that both sides can fetch. Each query
spends one use with a single conditional UPDATE, so two concurrent queries on a one-use grant
cannot both succeed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from audit import dbapi
from audit.clock import CST, isoformat_z
from audit.tags import Tag
from audit.tx import Tx
from consent import freezes
from consent.catalogue import Catalogue
from consent.display import THIRD_PARTY_SCOPES
from consent.durations import Duration
from consent.errors import (
    CategoriesOutsidePurpose,
    CeilingExceeded,
    ConsentDenied,
    ConsentExhausted,
    ConsentExpired,
    ConsentMissing,
    ConsentPending,
    ConsentRevoked,
    GrantNotFound,
    KindNotAllowed,
    RequestAlreadyDecided,
    RequestInvalid,
    RequestNotFound,
    RequestNotPending,
    WrongInstitution,
)
from consent.models import ConsentRequest, Grant
from consent.purposes import Purpose, Purposes
from vault.types import Selection

LAPSE_AFTER = timedelta(days=7)

Signer = Callable[[dict[str, Any], str], str]
"""Return a compact JWS of the given type over the claims (the vault's `sign`)."""
RECEIPT_TYPE = "xinyong-consent-receipt+jws"


@dataclass(frozen=True, slots=True)
class Institution:
    client_id: str
    kind: str | None
    name: str


@dataclass(frozen=True, slots=True)
class RequestView:
    id: str
    institution_id: str
    purpose: str
    categories: list[str]
    reason: str
    valid_for_seconds: int
    max_uses: int
    status: str
    created_at: datetime
    lapses_at: datetime
    answered_at: datetime | None
    grant_id: str | None
    withheld: bool = False  # made while the person's file was frozen: never shown to them
    occupational_group: str | None = None  # the one group an occupational credit report is limited to


@dataclass(frozen=True, slots=True)
class GrantView:
    id: str
    request_id: str
    institution_id: str
    subject_ref: str
    purpose: str
    fields: dict[str, list[str]]
    valid_from: datetime
    valid_until: datetime
    max_uses: int
    uses: int
    status: str
    revoked_at: datetime | None
    receipt: str
    receipt_sha256: str
    policy_version: str
    catalogue_version: str
    occupational_group: str | None = None  # the one group an occupational credit report is limited to


def _request_status(row: ConsentRequest, now: datetime) -> str:
    if row.status == "pending" and row.lapses_at <= now:
        return "lapsed"
    return row.status


def _request_view(row: ConsentRequest, now: datetime) -> RequestView:
    return RequestView(row.id, row.institution_id, row.purpose, list(row.categories), row.reason,
                       row.valid_for_seconds, row.max_uses, _request_status(row, now), row.created_at,
                       row.lapses_at, row.answered_at, row.grant_id, bool(row.withheld), row.occupational_group)


def grant_status(row: Grant | Row[Any], now: datetime) -> str:
    """Return active, revoked, expired or exhausted."""
    return _status(row.status, row.valid_until, row.uses, row.max_uses, now)


def _status(status: str, valid_until: datetime, uses: int, max_uses: int, now: datetime) -> str:
    if status == "revoked":
        return "revoked"
    if valid_until <= now:
        return "expired"
    if uses >= max_uses:
        return "exhausted"
    return "active"


def _grant_view(row: Grant | Row[Any], now: datetime) -> GrantView:
    return GrantView(row.id, row.request_id, row.institution_id, row.subject_ref, row.purpose,
                     {k: list(v) for k, v in row.fields.items()}, row.valid_from, row.valid_until, row.max_uses,
                     row.uses, grant_status(row, now), row.revoked_at, row.receipt, row.receipt_sha256,
                     row.policy_version, row.catalogue_version, row.occupational_group)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def check_request(
    purposes: Purposes, institution: Institution, purpose_code: str, categories: Iterable[str] | None,
    valid_for: Duration, max_uses: int | None, occupational_group: str | None = None,
) -> tuple[Purpose, list[str], int]:
    """Return (purpose, categories, uses) after the purpose's rules; raises a ConsentError."""
    purpose = purposes.purpose(purpose_code)
    if institution.kind not in purpose.institution_kinds:
        raise KindNotAllowed(f"a {institution.kind or 'client'} may not query for purpose {purpose.code}")
    chosen = sorted(set(categories)) if categories is not None else sorted(purpose.categories)
    if not chosen:
        raise RequestInvalid("categories", "at least one category is needed")
    outside = set(chosen) - purpose.categories
    if outside:
        raise CategoriesOutsidePurpose(outside, purpose.code)
    if valid_for.as_timedelta() <= timedelta(0):
        raise RequestInvalid("valid_for", "must be a positive duration")
    if valid_for.as_timedelta() > purpose.max_consent.as_timedelta():
        raise CeilingExceeded("valid_for", f"purpose {purpose.code} allows at most {purpose.max_consent.days} days")
    uses = 1 if max_uses is None else max_uses
    if uses < 1:
        raise RequestInvalid("max_uses", "must be at least 1")
    if uses > purpose.max_uses:
        raise CeilingExceeded("max_uses", f"purpose {purpose.code} allows at most {purpose.max_uses} uses")
    _check_scope(purpose, occupational_group)
    return purpose, chosen, uses


def _check_scope(purpose: Purpose, group: str | None) -> None:
    """Refuse a request for an occupational credit report that names no group, or a group the catalogue does not
    know, and a group named for a purpose that is not limited to one (KG-1 to KG-4: one report, one group)."""
    if purpose.scope is None:
        if group is not None:
            raise RequestInvalid("occupational_group",
                                 f"purpose {purpose.code} is not limited to an occupational group")
        return
    if group is None:
        raise RequestInvalid("occupational_group",
                             f"purpose {purpose.code} is limited to one occupational group: name it")
    if group not in purpose.scope_codes:
        raise RequestInvalid("occupational_group", f"{group} is not an occupational group of the catalogue")


def create_request(
    tx: Tx, purposes: Purposes, institution: Institution, subject_ref: str,
    purpose_code: str, categories: Iterable[str] | None, reason: str, valid_for: Duration, max_uses: int | None,
    occupational_group: str | None = None,
) -> RequestView:
    """Record a pending request. It is created whether or not the person is known, so the answer says nothing.

    The person's freeze is read for every request, so a frozen file costs the same work as any other: its
    request is recorded withheld (never shown to the person, it lapses unanswered), like an unknown person's.
    """
    purpose, chosen, uses = check_request(purposes, institution, purpose_code, categories, valid_for, max_uses,
                                          occupational_group)
    now = tx.now
    withheld = freezes.frozen(tx.session, subject_ref)
    row = ConsentRequest(
        id=_new_id("cr"), institution_id=institution.client_id, subject_ref=subject_ref, purpose=purpose.code,
        categories=chosen, reason=reason, max_uses=uses,
        valid_for_seconds=int(valid_for.as_timedelta().total_seconds()),
        status="pending", created_at=now, lapses_at=now + LAPSE_AFTER, withheld=withheld,
        occupational_group=occupational_group,
    )
    tx.session.add(row)
    tx.session.flush()
    tx.under(purpose=purpose.code, basis=row.id).record(
        Tag.CONSENT_REQUESTED, subject_ref=subject_ref,
        detail={"categories": chosen, **({"withheld": "file frozen"} if withheld else {}),
                **({} if occupational_group is None else {"occupational_group": occupational_group})})
    return _request_view(row, now)


def list_requests(tx: Tx, subject_ref: str) -> list[RequestView]:
    """Return the person's requests, newest first, but for those withheld while their file was frozen."""
    now = tx.now
    rows = tx.session.execute(select(ConsentRequest).where(ConsentRequest.subject_ref == subject_ref,
                                                           ConsentRequest.withheld.is_(False))
                           .order_by(ConsentRequest.created_at.desc(), ConsentRequest.id)).scalars()
    return [_request_view(row, now) for row in rows]


def get_request_for_institution(tx: Tx, request_id: str, institution_id: str) -> RequestView:
    """Return the institution's own request; raises RequestNotFound for anyone else's."""
    row = tx.session.get(ConsentRequest, request_id)
    if row is None or row.institution_id != institution_id:
        raise RequestNotFound(request_id)
    return _request_view(row, tx.now)


def pending_request(tx: Tx, subject_ref: str, request_id: str) -> ConsentRequest:
    """Return the person's request, read afresh under its row lock, if it still waits for an answer.

    Raises RequestNotFound (not theirs) or RequestNotPending. The lock and the fresh read make two
    answers to one request at once end one way: the second sees the first's decision.
    """
    now = tx.now
    row = tx.session.get(ConsentRequest, request_id, with_for_update=True, populate_existing=True)
    if row is None or row.subject_ref != subject_ref or row.withheld:
        raise RequestNotFound(request_id)
    status = _request_status(row, now)
    if status in ("approved", "denied"):
        raise RequestAlreadyDecided(f"request {request_id} was already {status}")
    if status != "pending":
        raise RequestNotPending(f"request {request_id} is {status}")
    return row


def approve(
    tx: Tx, sign: Signer, purposes: Purposes, catalogue: Catalogue, row: ConsentRequest, institution: Institution,
    categories: Iterable[str] | None = None, valid_for: Duration | None = None,
) -> GrantView:
    """Turn a request from `pending_request` into a grant; the person may narrow categories and shorten validity."""
    now = tx.now
    subject_ref = row.subject_ref
    purpose = purposes.purpose(row.purpose)
    chosen = sorted(set(categories)) if categories is not None else list(row.categories)
    wider = set(chosen) - set(row.categories)
    if wider:
        raise RequestInvalid("categories", f"may only narrow the request; not asked for: {', '.join(sorted(wider))}")
    if not chosen:
        raise RequestInvalid("categories", "at least one category is needed; deny the request instead")
    asked = timedelta(seconds=row.valid_for_seconds)
    validity = asked if valid_for is None else valid_for.as_timedelta()
    if validity <= timedelta(0) or validity > asked:
        raise RequestInvalid("valid_for", f"may only shorten the validity asked for ({asked.days} days)")
    fields = {c: sorted(purpose.fields[c] & catalogue.category(c).third_party_fields) for c in chosen}
    grant_id = _new_id("cn")
    claims = {
        "iss": "xinyong", "typ": "consent-receipt", "consent_id": grant_id, "request_id": row.id,
        "purpose": purpose.code, "categories": chosen, "fields": fields,
        "valid_from": isoformat_z(now), "valid_until": isoformat_z(now + validity), "max_uses": row.max_uses,
        "institution": {"id": institution.client_id, "name": institution.name, "kind": institution.kind},
        "reason": row.reason, "method": "approved online by the person", "approved_at": isoformat_z(now),
        "policy_version": purposes.version, "catalogue_version": catalogue.version,
        **({} if row.occupational_group is None else {"occupational_group": row.occupational_group}),
    }
    receipt = sign(claims, RECEIPT_TYPE)
    grant = Grant(
        id=grant_id, request_id=row.id, institution_id=row.institution_id, subject_ref=subject_ref,
        purpose=purpose.code, fields=fields, valid_from=now, valid_until=now + validity, max_uses=row.max_uses,
        uses=0, status="active", receipt=receipt, receipt_sha256=hashlib.sha256(receipt.encode()).hexdigest(),
        policy_version=purposes.version, catalogue_version=catalogue.version,
        occupational_group=row.occupational_group,
    )
    tx.session.add(grant)
    row.status, row.answered_at, row.grant_id = "approved", now, grant_id
    tx.session.flush()
    tx.under(purpose=purpose.code, basis=grant_id).record(
        Tag.CONSENT_APPROVED, subject_ref=subject_ref,
        detail={"request_id": row.id, "institution": row.institution_id, "categories": chosen,
                "receipt_sha256": grant.receipt_sha256})
    return _grant_view(grant, now)


def deny(tx: Tx, subject_ref: str, request_id: str) -> RequestView:
    """Deny the person's pending request."""
    row = pending_request(tx, subject_ref, request_id)
    row.status, row.answered_at = "denied", tx.now
    tx.session.flush()
    tx.under(purpose=row.purpose, basis=row.id).record(
        Tag.CONSENT_DENIED, subject_ref=subject_ref, detail={"institution": row.institution_id})
    return _request_view(row, tx.now)


def list_grants(tx: Tx, subject_ref: str) -> list[GrantView]:
    """Return the person's grants, newest first."""
    now = tx.now
    rows = tx.session.execute(select(Grant).where(Grant.subject_ref == subject_ref)
                           .order_by(Grant.valid_from.desc(), Grant.id)).scalars()
    return [_grant_view(row, now) for row in rows]


def get_grant(tx: Tx, grant_id: str, *, subject_ref: str | None = None,
              institution_id: str | None = None) -> GrantView:
    """Return the grant if it belongs to that person or institution; raises GrantNotFound."""
    row = tx.session.get(Grant, grant_id)
    if row is None or (subject_ref is not None and row.subject_ref != subject_ref) or (
            institution_id is not None and row.institution_id != institution_id):
        raise GrantNotFound(grant_id)
    return _grant_view(row, tx.now)


def revoke(tx: Tx, subject_ref: str, grant_id: str) -> GrantView:
    """Revoke the person's grant at once; later queries are refused with consent_revoked."""
    now = tx.now
    row = tx.session.get(Grant, grant_id, with_for_update=True, populate_existing=True)
    if row is None or row.subject_ref != subject_ref:
        raise GrantNotFound(grant_id)
    if row.status != "revoked":
        row.status, row.revoked_at = "revoked", now
        tx.session.flush()
        tx.under(purpose=row.purpose, basis=row.id).record(
            Tag.CONSENT_REVOKED, subject_ref=subject_ref, detail={"institution": row.institution_id})
    return _grant_view(row, now)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Where a refused query is known to point, for its audit entry."""

    subject_ref: str | None
    purpose: str | None


# The grant, if it allows a use now: the conditions of the spend below, read first. On the driver's cursor
# (audit.dbapi): it is the authorised query's first statement, and SQLAlchemy's work around it cost more than
# the statement.
_USABLE = dbapi.Statement("""
SELECT id, request_id, institution_id, subject_ref, purpose, fields, valid_from, valid_until, max_uses, uses,
       status, revoked_at, receipt, receipt_sha256, policy_version, catalogue_version, occupational_group
FROM grants
WHERE id = :grant AND institution_id = :institution AND status = 'active'
  AND valid_from <= :now AND valid_until > :now AND uses < max_uses""")
# Spend a use if the grant still allows one (the same conditions): at the write, after the report is made.
SPEND_CONDITIONS = """id = :grant AND institution_id = :institution AND status = 'active'
  AND valid_from <= :now AND valid_until > :now AND uses < max_uses"""
_SPEND = dbapi.Statement(
    f"UPDATE grants SET uses = uses + 1 WHERE {SPEND_CONDITIONS} RETURNING id")  # noqa: S608 - constant text


def usable(tx: Tx, consent_id: str, institution_id: str) -> GrantView:
    """Return the grant if it allows this institution a use now, or raise the QueryRefused that says why.

    It reads only: `spend` takes the use, at the write, on the same conditions (a concurrent query may
    have taken the last use meanwhile, or the person revoked the grant). `consent_id` may be a grant id,
    or the id of the request (answered or not) that led to it.
    """
    now = tx.now
    conn = tx.session.connection()
    found = dbapi.execute(conn, _USABLE, spend_params(conn.dialect.name, consent_id, institution_id, now))
    if found:
        return _row_view(found[0], now)  # the row as it is: an ORM object would cost more than the read
    row = tx.session.get(Grant, consent_id)
    if row is None:
        row = _grant_from_request(tx.session, consent_id, institution_id, now)
        return usable(tx, row.id, institution_id)
    refuse(tx, row.id, institution_id)


def spend_params(dialect: str, grant_id: str, institution_id: str, now: datetime) -> dict[str, Any]:
    """Return the parameters of the spend's conditions."""
    return {"grant": grant_id, "institution": institution_id, "now": dbapi.bind_time(dialect, now)}


def spend(tx: Tx, grant: GrantView, at: datetime) -> None:
    """Spend one use of a grant `usable` returned, if it still allows one at `at` (the time of the spend, which
    may be later than the request's: see `spend_time`), or raise the QueryRefused that says why (see `refuse`).
    One conditional `UPDATE`: of two queries on the last use, one spends it."""
    conn = tx.session.connection()
    if not dbapi.execute(conn, _SPEND, spend_params(conn.dialect.name, grant.id, grant.institution_id, at)):
        refuse(tx, grant.id, grant.institution_id, at)


def spend_time(tx: Tx) -> datetime:
    """Return the time a use is spent at: the clock's at the write, not the request's start (`tx.now`).

    A query reads, decrypts and signs before it writes, and on SQLite it may then wait for the write lock: a
    grant that ran out meanwhile must not be spent, however little it missed by.
    """
    return max(tx.now, tx.clock.now())


def refuse_unless_usable(tx: Tx, grant_id: str, institution_id: str, at: datetime) -> None:
    """Raise the QueryRefused that says why the grant allows no use at `at`, as it stands now; return if it does.

    For what a query read after the grant and found gone: on PostgreSQL each statement sees what is committed when
    it runs, so the person may have been erased (which revokes their grants) between the two reads.
    """
    row = tx.session.get(Grant, grant_id, populate_existing=True)
    if row is None or row.institution_id != institution_id or grant_status(row, at) != "active":
        refuse(tx, grant_id, institution_id, at)


def refuse(tx: Tx, grant_id: str, institution_id: str, at: datetime | None = None) -> NoReturn:
    """Raise the QueryRefused that says why the grant allows this institution no use at `at` (default: now)."""
    row = tx.session.get(Grant, grant_id, populate_existing=True)
    if row is None:
        raise ConsentMissing(f"no consent {grant_id}")
    if row.institution_id != institution_id:
        raise WrongInstitution(f"consent {grant_id} was not given to this institution")
    status = grant_status(row, tx.now if at is None else at)
    refusal = {"revoked": ConsentRevoked, "expired": ConsentExpired, "exhausted": ConsentExhausted}
    raise refusal.get(status, ConsentExpired)(f"consent {row.id} is {status}")


def _row_view(row: Sequence[Any], now: datetime) -> GrantView:
    """Return the view of a grant as _USABLE read it (the driver's values: JSON and, on SQLite, times
    as text)."""
    (grant_id, request_id, institution, subject_ref, purpose, fields, valid_from, valid_until, max_uses, uses,
     status, revoked_at, receipt, receipt_sha256, policy_version, catalogue_version, occupational_group) = row
    granted = json.loads(fields) if isinstance(fields, str) else fields
    until = dbapi.to_time(valid_until)
    valid = dbapi.to_time(valid_from)
    return GrantView(grant_id, request_id, institution, subject_ref, purpose,
                     {k: list(v) for k, v in granted.items()}, valid, until, max_uses, uses,
                     _status(status, until, uses, max_uses, now), dbapi.read_time(revoked_at), receipt,
                     receipt_sha256, policy_version, catalogue_version, occupational_group)


def _grant_from_request(session: Session, request_id: str, institution_id: str, now: datetime) -> Grant:
    request = session.get(ConsentRequest, request_id)
    if request is None:
        raise ConsentMissing(f"no consent {request_id}")
    if request.institution_id != institution_id:
        raise WrongInstitution(f"consent {request_id} was not asked for by this institution")
    status = _request_status(request, now)
    if status == "pending":
        raise ConsentPending(f"request {request_id} is waiting for the person's answer")
    if status == "denied":
        raise ConsentDenied(f"the person denied request {request_id}")
    if status == "lapsed" or request.grant_id is None:
        raise ConsentExpired(f"request {request_id} lapsed unanswered")
    grant = session.get(Grant, request.grant_id)
    if grant is None:
        raise ConsentMissing(f"no consent {request_id}")
    return grant


def refusal_context(tx: Tx, consent_id: str) -> Refusal:
    """Return the person and purpose a refused consent id points at, if any, for the audit entry."""
    session = tx.session
    grant = session.get(Grant, consent_id)
    if grant is not None:
        return Refusal(grant.subject_ref, grant.purpose)
    request = session.get(ConsentRequest, consent_id)
    if request is not None:
        return Refusal(request.subject_ref, request.purpose)
    return Refusal(None, None)


def selection(grant: GrantView, purposes: Purposes, catalogue: Catalogue, now: datetime) -> Selection:
    """Return grant ∩ purpose matrix ∩ catalogue share scope, for records shown today in CST and in range."""
    purpose = purposes.purpose(grant.purpose)
    fields: dict[str, frozenset[str]] = {}
    for code, granted in grant.fields.items():
        category = catalogue.categories.get(code)
        if category is None or code not in purpose.fields or category.share_scope not in THIRD_PARTY_SCOPES:
            continue
        fields[code] = frozenset(granted) & purpose.fields[code] & category.third_party_fields
    shown_on = now.astimezone(CST).date()
    only = None if purpose.scope is None or grant.occupational_group is None else (
        purpose.scope, grant.occupational_group)
    return Selection(fields=fields, shown_on=shown_on, decided_since=purpose.decided_since(shown_on), only=only)


def requests_of_institution(tx: Tx, institution_id: str, limit: int) -> list[RequestView]:
    """Return the institution's newest requests, newest first (those withheld while a file was frozen among
    them, as the institution must not tell them apart: they read pending, then lapsed)."""
    rows = tx.session.execute(select(ConsentRequest).where(ConsentRequest.institution_id == institution_id)
                              .order_by(ConsentRequest.created_at.desc(), ConsentRequest.id).limit(limit)).scalars()
    return [_request_view(row, tx.now) for row in rows]


def grants_of_institution(tx: Tx, institution_id: str, grant_ids: Sequence[str]) -> dict[str, GrantView]:
    """Return the institution's grants among `grant_ids`, by id."""
    if not grant_ids:
        return {}
    rows = tx.session.execute(select(Grant).where(Grant.institution_id == institution_id,
                                                  Grant.id.in_(list(grant_ids)))).scalars()
    return {row.id: _grant_view(row, tx.now) for row in rows}
