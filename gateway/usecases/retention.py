"""Use cases of the second clock: records past their retention period, and a person erased by an operator.

`expire` makes tombstones of records whose category's retention period after their display has run out, in
batches of one transaction each (the periodic housekeeping and `xinyong records expire`); `preview` counts
them first. `erase_subject` crypto-shreds one person on a legal basis an operator gives
(`xinyong subjects erase`). After either, a SQLite file is checkpointed so that the erased bytes, zeroed in
place (`secure_delete`), leave the write-ahead log too.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from audit.tags import Outcome, Tag
from audit.tx import AccessContext
from consent import retention
from consent.fields import HIDDEN_CHARACTERS_REASON, hidden_characters
from gateway.database import reclaim_erased
from gateway.errors import InvalidInput
from gateway.models import Account, AppConsent, AuthorizationCode, LoginFailure, PortalSession, Token
from gateway.runtime import Runtime
from vault.errors import SubjectNotFound
from vault.identity import normalise_citizen_id
from vault.types import ExpiryCount

BATCH = 500
SYSTEM = AccessContext(actor="xinyong", role="system", basis="catalogue retention periods")
BASIS_LENGTH = 300
# Anything shaped like a citizen ID (GB 11643): the basis goes into the audit log in the clear.
_CITIZEN_ID = re.compile(r"\d{17}[\dXx]")


@dataclass(frozen=True, slots=True)
class Expiry:
    """What an expiry run found or did, per category: due, held back by an open remedy, erased."""

    dry_run: bool
    counts: list[ExpiryCount]
    erased: dict[str, int]

    def to_public(self) -> dict[str, object]:
        """Return the run as JSON data."""
        return {"dry_run": self.dry_run, "erased": sum(self.erased.values()), "categories": [
            {"category": c.category, "due": c.due, "held": c.held, "erased": self.erased.get(c.category, 0)}
            for c in self.counts]}


def preview(rt: Runtime) -> Expiry:
    """Return how many records are past retention now, per category, erasing nothing."""
    with rt.uow.begin(SYSTEM, readonly=True) as tx:
        return Expiry(True, rt.vault.count_expired(tx, retention.bounds(rt.catalogue, tx.today)), {})


def expire(rt: Runtime, access: AccessContext = SYSTEM, batch: int = BATCH, max_batches: int | None = None,
           counted: bool = True) -> Expiry:
    """Make tombstones of the records past retention (one entry each), a batch per transaction; return counts.

    Runs until none is left, or for `max_batches` (the hourly housekeeping, which must not hold a worker for
    long behind a backlog: `xinyong records expire` clears one at once). `counted` counts them first, for
    the report. Idempotent, and safe beside another run: a record is erased and recorded once, by whichever
    run locked it.
    """
    counts = preview(rt).counts if counted else []
    erased: Counter[str] = Counter()
    catalogue = rt.catalogue
    runs = 0
    while max_batches is None or runs < max_batches:
        runs += 1
        with rt.uow.begin(access) as tx:
            done = rt.vault.expire(tx, retention.bounds(catalogue, tx.today),
                                   lambda code: retention.basis(catalogue, code), batch)
        erased.update(record.category for record in done)
        if len(done) < batch:
            break
    if erased:
        reclaim_erased(rt.engine)
    return Expiry(False, counts, dict(erased))


@dataclass(frozen=True, slots=True)
class EraseSubject:
    """An operator's erasure of a person, with the legal basis that allows it."""

    citizen_id: str
    basis: str
    operator: str = "operator"


@dataclass(frozen=True, slots=True)
class SubjectErased:
    """What an erasure did: records made tombstones (per category), grants revoked, requests and reports ended."""

    records: int
    categories: dict[str, int]
    grants_revoked: int
    requests_lapsed: int
    reports_purged: int

    def to_public(self) -> dict[str, object]:
        """Return the erasure as JSON data (no personal data)."""
        return {"erased": True, "records": self.records, "categories": self.categories,
                "grants_revoked": self.grants_revoked, "requests_lapsed": self.requests_lapsed,
                "reports_purged": self.reports_purged}


def check_basis(basis: str) -> str:
    """Return the basis stripped; raise InvalidInput (field `basis`) unless it is a short text quoting no ID."""
    text = basis.strip()
    if not 1 <= len(text) <= BASIS_LENGTH:
        raise InvalidInput("basis", f"the legal basis is 1 to {BASIS_LENGTH} characters")
    if hidden_characters(text):
        raise InvalidInput("basis", HIDDEN_CHARACTERS_REASON)
    if _CITIZEN_ID.search(text):
        raise InvalidInput("basis", "must name the legal basis, never a citizen ID: it is kept in the audit log")
    return text


def erase_subject(rt: Runtime, cmd: EraseSubject) -> SubjectErased:
    """Erase a person for good, in one transaction; raise InvalidCitizenId, InvalidInput or SubjectNotFound.

    Their data key is destroyed and their blind index replaced, their records become tombstones, their grants
    are revoked, pending requests lapse, stored reports are purged, and their login, sessions, app tokens and
    notifications go: a query or a login for the citizen ID then meets an unknown person. A refusal (nobody
    with that ID) is audited too.
    """
    basis = check_basis(cmd.basis)
    access = AccessContext(actor=cmd.operator, role="operator", basis=basis)
    ref = ""
    try:
        with rt.uow.begin(access) as tx:
            ref = rt.vault.subject_ref(normalise_citizen_id(cmd.citizen_id, tx.today))
            erased = rt.vault.erase_subject(tx, ref)
            ended = retention.end_for_erased(tx, ref)
            _end_logins(tx.session, ref)
    except SubjectNotFound:
        with rt.uow.refusal(access) as tx:
            tx.record(Tag.SUBJECT_ERASED, outcome=Outcome.DENIED, subject_ref=ref, reason="SubjectNotFound")
        raise
    reclaim_erased(rt.engine)
    return SubjectErased(erased.records, erased.categories, len(ended.grants), ended.requests, ended.reports)


def _end_logins(session: Session, ref: str) -> None:
    """Delete the person's login and sessions and revoke their app tokens: the ID logs in as nobody's."""
    options = {"synchronize_session": False}
    for table, column in ((Account, Account.subject_ref), (PortalSession, PortalSession.subject_ref),
                          (AppConsent, AppConsent.subject_ref), (AuthorizationCode, AuthorizationCode.subject_ref),
                          (LoginFailure, LoginFailure.account_key)):
        session.execute(delete(table).where(column == ref).execution_options(**options))
    session.execute(update(Token).where(Token.subject_ref == ref).values(revoked=True)
                    .execution_options(**options))
