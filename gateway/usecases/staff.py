"""Use cases of staff accounts: members of staff of organisations, their enrolment, login and logout.

An organisation (a registered client: an institution, a source agency or an auditor) has human members of
staff who use the portal for it. `xinyong staff add` prints a one-time enrolment code; at /staff/enrol the
member gives it with a password of their choice, scans the TOTP seed shown as a QR code and confirms with a
first code. Logging in takes the password, then a TOTP code (each code good once); failures of either count
against the limits of ``gateway/data/limits.json`` (``staff_login``). Sessions are kept apart from people's.

Whatever a member does is done by the use cases the API uses, through `acting(rt, member)`: its unit of work
stamps the member on every entry its organisation authors (audit.tx.AccessContext.staff), so the log says
both the organisation (actor) and the member (detail.staff). The TOTP seed is sealed by the vault and never
logged; only the page of enrolment shows it, as a QR code and as text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, select, update

from audit.tags import Outcome, Tag
from audit.tx import AccessContext, Tx
from gateway.errors import Forbidden, LoginRanOut, NotFound, Unauthenticated
from gateway.limits import FailureLog
from gateway.models import Client, Staff, StaffLoginFailure, StaffSession
from gateway.runtime import Runtime
from gateway.staff_rules import ACT, StaffRules, shipped
from gateway.usecases import credentials, people

TOTP_SEED = "totp-seed"  # what the vault binds the sealed seed to, with the staff id
ISSUER = "Xinyong 信用"
_OPERATOR = AccessContext(actor="operator", role="operator")
_SYSTEM = AccessContext(actor="xinyong", role="system")
ORG_ROLES = ("institution", "provider", "auditor")


class StaffInvalid(ValueError):
    """Raised when an operator's command about staff names no such organisation, member or role."""


def rules() -> StaffRules:
    """Return the rules of staff accounts in force."""
    return shipped()


@dataclass(frozen=True)
class StaffMember:
    """A logged-in member of staff and the organisation they act for."""

    staff_id: str
    name: str
    role: str
    org_id: str
    org_role: str
    org_name: str
    org_kind: str | None

    def may(self, capability: str) -> bool:
        """Return whether the member's role allows `capability` (gateway/data/staff.json)."""
        found = rules().roles.get(self.role)
        return found is not None and capability in found.may


def acting(rt: Runtime, member: StaffMember) -> Runtime:
    """Return the runtime through which the member's requests run: the same, but every entry authored by the
    organisation also names the member (UnitOfWork.for_staff)."""
    return replace(rt, uow=rt.uow.for_staff(member.staff_id, member.org_id))


def require(member: StaffMember, capability: str) -> None:
    """Raise Forbidden unless the member's role allows `capability`."""
    if not member.may(capability):
        raise Forbidden(f"a {member.role} may not do this: ask an officer of {member.org_name}")


def require_act(member: StaffMember) -> None:
    """Raise Forbidden unless the member may act for the organisation (not a viewer)."""
    require(member, ACT)


# --- the operator's commands --------------------------------------------------------------------------


@dataclass(frozen=True)
class NewStaff:
    """A member of staff just added (or reset): the enrolment code is shown once."""

    staff_id: str
    org_id: str
    name: str
    role: str
    enrolment_code: str = field(repr=False)
    expires_at: str
    enrol_at: str = "/staff/enrol"

    def as_dict(self) -> dict[str, str]:
        """Return the printable form, the code included (shown once)."""
        return {"staff_id": self.staff_id, "org_id": self.org_id, "name": self.name, "role": self.role,
                "enrolment_code": self.enrolment_code, "expires_at": self.expires_at, "enrol_at": self.enrol_at}


@dataclass(frozen=True)
class StaffView:
    """A member of staff as an operator sees it (no secret)."""

    staff_id: str
    org_id: str
    name: str
    role: str
    state: str  # awaiting_enrolment, enrolled, disabled

    def as_dict(self) -> dict[str, str]:
        return {"staff_id": self.staff_id, "org_id": self.org_id, "name": self.name, "role": self.role,
                "state": self.state}


# What `add_staff` makes. Anything else typed as a staff id is nobody's, and is not looked up: PostgreSQL
# answers a NUL in a query parameter with an error, not with an empty result.
_STAFF_ID = re.compile(r"stf_[0-9a-f]{16}")


def _staff_row(tx: Tx, staff_id: str, lock: bool = False) -> Staff | None:
    """Return the member's row (locked for update, and read afresh, if `lock`), or None for no such member."""
    if not _STAFF_ID.fullmatch(staff_id):
        return None
    return tx.session.get(Staff, staff_id, with_for_update=lock, populate_existing=lock)


def add_staff(rt: Runtime, org_id: str, name: str, role: str | None = None) -> NewStaff:
    """Add a member of staff to an enabled organisation and return their one-time enrolment code.

    Raises StaffInvalid for an unknown or disabled organisation, an empty name or an unknown role.
    """
    role = role or rules().default_role
    if role not in rules().roles:
        raise StaffInvalid(f"{role!r} is not a staff role: one of {', '.join(rules().roles)}")
    name = name.strip()
    if not name or len(name) > 200 or any(not c.isprintable() for c in name):
        raise StaffInvalid("a member of staff needs a name of 1 to 200 printable characters")
    code = credentials.one_time_code()
    code_hash = rt.hasher.hash(code)
    staff_id = f"stf_{secrets.token_hex(8)}"
    with rt.uow.begin(_OPERATOR) as tx:
        _enabled_org(tx, org_id)
        expires = tx.now + rules().enrolment_code_valid
        tx.session.add(Staff(staff_id=staff_id, client_id=org_id, name=name, role=role, created_at=tx.now,
                             enrolment_code_hash=code_hash, enrolment_expires_at=expires))
        tx.record(Tag.STAFF_ADDED, detail={"staff_id": staff_id, "organisation": org_id, "role": role})
    return NewStaff(staff_id, org_id, name, role, code, expires.isoformat())


def _enabled_org(tx: Tx, org_id: str) -> Client:
    org = tx.session.get(Client, org_id)
    if org is None or org.role not in ORG_ROLES or org.disabled_at is not None:
        raise StaffInvalid(f"{org_id} is not an enabled organisation (a registered institution, provider or auditor)")
    return org


def reset_staff(rt: Runtime, staff_id: str) -> NewStaff:
    """Start a member's enrolment again (a lost phone, a code that ran out): a new code; the password, the TOTP
    seed and every session end. Raises StaffInvalid for an unknown or disabled member."""
    code = credentials.one_time_code()
    code_hash = rt.hasher.hash(code)
    with rt.uow.begin(_OPERATOR) as tx:
        row = _staff_row(tx, staff_id, lock=True)
        if row is None or row.disabled_at is not None:
            raise StaffInvalid(f"{staff_id} is not an enabled member of staff")
        _enabled_org(tx, row.client_id)
        expires = tx.now + rules().enrolment_code_valid
        row.password_hash = row.totp_sealed = row.totp_kek_version = row.totp_last_step = None
        row.enrolling_token_hash = row.enrolling_expires_at = row.enrolled_at = None
        row.enrolment_code_hash, row.enrolment_expires_at = code_hash, expires
        _end_sessions(tx, staff_id)
        tx.record(Tag.STAFF_ADDED, detail={"staff_id": staff_id, "organisation": row.client_id, "role": row.role,
                                           "reset": True})
        return NewStaff(staff_id, row.client_id, row.name, row.role, code, expires.isoformat())


def disable_staff(rt: Runtime, staff_id: str) -> StaffView:
    """Disable a member of staff: no login any more, and every session of theirs ends at once.

    Raises StaffInvalid for an unknown member.
    """
    with rt.uow.begin(_OPERATOR) as tx:
        row = _staff_row(tx, staff_id, lock=True)
        if row is None:
            raise StaffInvalid(f"{staff_id} is not a member of staff")
        if row.disabled_at is None:
            row.disabled_at = tx.now
        ended = _end_sessions(tx, staff_id)
        tx.record(Tag.STAFF_DISABLED, detail={"staff_id": staff_id, "organisation": row.client_id,
                                              "sessions_ended": ended})
        return _view(row)


def _end_sessions(tx: Tx, staff_id: str) -> int:
    done = tx.session.execute(update(StaffSession).where(StaffSession.staff_id == staff_id,
                                                         StaffSession.ended_at.is_(None))
                              .values(ended_at=tx.now).execution_options(synchronize_session=False))
    return int(getattr(done, "rowcount", 0) or 0)


def list_staff(rt: Runtime, org_id: str | None = None) -> list[StaffView]:
    """Return the members of staff (of one organisation, if given), oldest first."""
    query = select(Staff).order_by(Staff.created_at, Staff.staff_id)
    if org_id is not None:
        query = query.where(Staff.client_id == org_id)
    with rt.uow.begin(_OPERATOR, readonly=True) as tx:
        return [_view(row) for row in tx.session.scalars(query)]


def _view(row: Staff) -> StaffView:
    state = ("disabled" if row.disabled_at is not None
             else "enrolled" if row.enrolled_at is not None else "awaiting_enrolment")
    return StaffView(row.staff_id, row.client_id, row.name, row.role, state)


# --- enrolment ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolling:
    """An enrolment between its two steps: the token that ties them (kept in the cookie only) and the
    otpauth:// URI to show as a QR code (it holds the seed: shown on the page, never logged)."""

    staff_id: str
    token: str = field(repr=False)
    uri: str = field(repr=False)
    secret: str = field(repr=False)


def start_enrolment(rt: Runtime, staff_id: str, code: str, password: str, address: str) -> Enrolling:
    """Check the one-time enrolment code, keep the password and a new TOTP seed (sealed), and return what the
    page shows for the member to scan. The code is spent. Raises Unauthenticated (the same for an unknown
    member, a wrong, spent or expired code) or RateLimited."""
    staff_id = staff_id.strip()
    key = _account_key(rt, staff_id)
    _admit(rt, key, address)
    with rt.uow.begin(_SYSTEM, readonly=True) as tx:
        row, org = _member_rows(tx, staff_id)
        pending = (row.enrolment_code_hash if row is not None and org is not None and row.disabled_at is None
                   and row.enrolment_expires_at is not None and row.enrolment_expires_at > tx.now else None)
    if not credentials.verify(rt.hasher, pending, code.strip().upper()):
        _fail(rt, staff_id, "bad_enrolment_code")
        raise Unauthenticated("the staff id and enrolment code do not match a pending enrolment")
    secret, token = pyotp.random_base32(), secrets.token_urlsafe(32)
    password_hash = rt.hasher.hash(password)
    version, sealed = rt.vault.seal_credential(secret.encode(), staff_id, TOTP_SEED)
    with rt.uow.begin(_SYSTEM) as tx:
        row = _staff_row(tx, staff_id, lock=True)
        if row is None or row.enrolment_code_hash != pending:  # two uses of one code at once: the first wins
            raise Unauthenticated("the staff id and enrolment code do not match a pending enrolment")
        row.enrolment_code_hash = row.enrolment_expires_at = None
        row.password_hash, row.totp_sealed, row.totp_kek_version = password_hash, sealed, version
        row.totp_last_step = None
        row.enrolling_token_hash = _hash(token)
        row.enrolling_expires_at = tx.now + rules().enrolment_step
        _forgive(tx, key, address)
        _as_member(tx, row).record(Tag.STAFF_ENROLMENT_STARTED)
    return Enrolling(staff_id, token, _totp(secret).provisioning_uri(name=staff_id, issuer_name=ISSUER), secret)


def pending_enrolment(rt: Runtime, staff_id: str, token: str) -> Enrolling | None:
    """Return the enrolment waiting for its first TOTP code (to show its QR code again), or None."""
    with rt.uow.begin(_SYSTEM, readonly=True) as tx:
        row = _enrolling(tx, staff_id, token)
        if row is None or row.totp_sealed is None or row.totp_kek_version is None:
            return None
        secret = rt.vault.open_credential(row.totp_kek_version, row.totp_sealed, staff_id, TOTP_SEED).decode()
    return Enrolling(staff_id, token, _totp(secret).provisioning_uri(name=staff_id, issuer_name=ISSUER), secret)


def confirm_enrolment(rt: Runtime, staff_id: str, token: str, code: str, address: str) -> None:
    """Finish the enrolment with a first TOTP code from the member's app; the account can then log in.

    Raises Unauthenticated (a wrong code, or the enrolment ran out) or RateLimited.
    """
    key = _account_key(rt, staff_id)
    _admit(rt, key, address)
    with rt.uow.begin(_SYSTEM) as tx:
        row = _enrolling(tx, staff_id, token, lock=True)
        step = None if row is None else _accept_code(tx, rt, row, code)
        if row is not None and step is not None:
            row.enrolled_at, row.enrolling_token_hash, row.enrolling_expires_at = tx.now, None, None
            _forgive(tx, key, address)
            _as_member(tx, row).record(Tag.STAFF_ENROLLED)
            return
    _fail(rt, staff_id, "bad_totp_code" if row is not None else "enrolment_expired")
    raise Unauthenticated("the code from the app is not right, or the enrolment ran out: try the next code")


def _enrolling(tx: Tx, staff_id: str, token: str, lock: bool = False) -> Staff | None:
    row = _staff_row(tx, staff_id, lock=lock)
    if (row is None or row.disabled_at is not None or row.enrolling_token_hash is None
            or not hmac.compare_digest(row.enrolling_token_hash, _hash(token))
            or row.enrolling_expires_at is None or row.enrolling_expires_at <= tx.now):
        return None
    return row


# --- login and sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingLogin:
    """The password was right; the login waits for a TOTP code. The token is for the cookie only."""

    staff_id: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class StaffLogin:
    """A member of staff logged in; the token of the session is for the cookie only."""

    member: StaffMember
    session_token: str = field(repr=False)


def check_password(rt: Runtime, staff_id: str, password: str, address: str) -> PendingLogin:
    """The first step of a login: if the password is right, return a half login waiting for the TOTP code.

    An unknown, disabled or not yet enrolled member and a wrong password are the same Unauthenticated, after one
    argon2 verification each. Raises RateLimited when failures hold the address back.
    """
    staff_id = staff_id.strip()
    _admit(rt, _account_key(rt, staff_id), address)
    with rt.uow.begin(_SYSTEM, readonly=True) as tx:
        row, org = _member_rows(tx, staff_id)
        stored = row.password_hash if row is not None and org is not None and _may_log_in(row) else None
    if not credentials.verify(rt.hasher, stored, password):
        _fail(rt, staff_id, "bad_password")
        raise Unauthenticated("the staff id or password is wrong")
    token = secrets.token_urlsafe(32)
    with rt.uow.begin(_SYSTEM) as tx:
        # The attempt stays counted as a failure until the code is right too: a right password does not
        # reset the count, or guessing the code would never be held back.
        tx.session.add(StaffSession(token_hash=_hash(token), staff_id=staff_id, created_at=tx.now,
                                    ends_at=tx.now + rules().second_factor))
    return PendingLogin(staff_id, token)


def check_code(rt: Runtime, pending_token: str, code: str, address: str) -> StaffLogin:
    """The second step: if the TOTP code is right and not used before, end the half login and start a
    session under a new token. Raises LoginRanOut (the half login ran out or was used), Unauthenticated (a wrong
    or replayed code, or the member was disabled meanwhile) or RateLimited."""
    with rt.uow.begin(_SYSTEM, readonly=True) as tx:
        half = _half_login(tx, pending_token)
        staff_id = None if half is None else half.staff_id
    if staff_id is None:
        raise LoginRanOut("the login ran out: give the password again")
    key = _account_key(rt, staff_id)
    _admit(rt, key, address)
    token = secrets.token_urlsafe(32)
    with rt.uow.begin(_SYSTEM) as tx:
        half = _half_login(tx, pending_token, lock=True)
        row, org = _member_rows(tx, staff_id)
        ok = half is not None and row is not None and org is not None and _may_log_in(row)
        step = _accept_code(tx, rt, row, code) if ok and row is not None else None
        if half is not None and row is not None and org is not None and step is not None:
            half.ended_at = tx.now
            tx.session.add(StaffSession(token_hash=_hash(token), staff_id=staff_id, created_at=tx.now,
                                        second_factor_at=tx.now,
                                        ends_at=tx.now + timedelta(hours=rt.settings.session_max_hours)))
            _forgive(tx, key, address)
            _reseal(tx, rt, row)
            _as_member(tx, row, org).record(Tag.STAFF_LOGIN)
            return StaffLogin(_member(row, org), token)
    _fail(rt, staff_id, "bad_totp_code")
    raise Unauthenticated("the code is wrong or was used already: wait for the next one")


def session_member(rt: Runtime, token: str) -> StaffMember | None:
    """Return the member of a live staff session; None if it ended, ran out, never was, or the member or their
    organisation was disabled."""
    with rt.uow.begin(_SYSTEM, readonly=True) as tx:
        found = tx.session.execute(
            select(Staff, Client).join(StaffSession, StaffSession.staff_id == Staff.staff_id)
            .join(Client, Client.client_id == Staff.client_id)
            .where(StaffSession.token_hash == _hash(token), StaffSession.ended_at.is_(None),
                   StaffSession.second_factor_at.is_not(None), StaffSession.ends_at > tx.now)).first()
        if found is None:
            return None
        row, org = found
        if not _may_log_in(row) or org.disabled_at is not None:
            return None
        return _member(row, org)


def logout(rt: Runtime, token: str) -> None:
    """End the staff session at once: its cookie, or any copy of it, opens nothing afterwards."""
    with rt.uow.begin(_SYSTEM) as tx:
        row = tx.session.get(StaffSession, _hash(token), with_for_update=True)
        if row is None or row.ended_at is not None:
            return
        row.ended_at = tx.now
        member = tx.session.get(Staff, row.staff_id)
        if member is not None and row.second_factor_at is not None:
            _as_member(tx, member).record(Tag.STAFF_LOGOUT)


def _half_login(tx: Tx, token: str, lock: bool = False) -> StaffSession | None:
    row = tx.session.get(StaffSession, _hash(token), with_for_update=lock)
    if row is None or row.ended_at is not None or row.second_factor_at is not None or row.ends_at <= tx.now:
        return None
    return row


def _may_log_in(row: Staff) -> bool:
    return row.disabled_at is None and row.enrolled_at is not None and row.password_hash is not None


def _member_rows(tx: Tx, staff_id: str) -> tuple[Staff | None, Client | None]:
    row = _staff_row(tx, staff_id)
    org = None if row is None else tx.session.get(Client, row.client_id)
    return row, None if org is None or org.disabled_at is not None else org


def _member(row: Staff, org: Client) -> StaffMember:
    return StaffMember(row.staff_id, row.name, row.role, org.client_id, org.role, org.name, org.kind)


def _as_member(tx: Tx, row: Staff, org: Client | None = None) -> Tx:
    """Return the transaction recording as the member, for their organisation."""
    org = org or tx.session.get(Client, row.client_id)
    role = org.role if org is not None else "staff"
    return tx.acting_as(AccessContext(actor=row.client_id, role=role, staff=row.staff_id,
                                      request_id=tx.access.request_id))


# --- TOTP -----------------------------------------------------------------------------------------------


def _totp(secret: str) -> pyotp.TOTP:
    r = rules()
    return pyotp.TOTP(secret, digits=r.totp_digits, interval=r.totp_period)


def _accept_code(tx: Tx, rt: Runtime, row: Staff, code: str) -> int | None:
    """Return the time step of `code` if it is right within the window and newer than any accepted before,
    marking it used (compare-and-set, so two requests with one code succeed once); else None."""
    if row.totp_sealed is None or row.totp_kek_version is None:
        return None
    code = code.strip().replace(" ", "")
    r = rules()
    if len(code) != r.totp_digits or not code.isdigit():
        return None
    totp = _totp(rt.vault.open_credential(row.totp_kek_version, row.totp_sealed, row.staff_id, TOTP_SEED).decode())
    now_step = int(tx.now.timestamp()) // r.totp_period
    for step in range(now_step - r.totp_window, now_step + r.totp_window + 1):
        if row.totp_last_step is not None and step <= row.totp_last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            done = tx.session.execute(
                update(Staff).where(Staff.staff_id == row.staff_id,
                                    (Staff.totp_last_step.is_(None)) | (Staff.totp_last_step < step))
                .values(totp_last_step=step).execution_options(synchronize_session=False))
            if int(getattr(done, "rowcount", 0) or 0) != 1:
                return None
            row.totp_last_step = step
            return step
    return None


def _reseal(tx: Tx, rt: Runtime, row: Staff) -> None:
    """Seal the seed under the current key-encryption key if a rotation left it under an older one."""
    if row.totp_sealed is None or row.totp_kek_version is None or row.totp_kek_version == rt.vault.current_kek:
        return
    secret = rt.vault.open_credential(row.totp_kek_version, row.totp_sealed, row.staff_id, TOTP_SEED)
    row.totp_kek_version, row.totp_sealed = rt.vault.seal_credential(secret, row.staff_id, TOTP_SEED)


def code_at(secret: str, at: datetime) -> str:
    """Return the TOTP code of `secret` at `at` (what the member's app shows then; for tests and the demo)."""
    return _totp(secret).at(at)


# --- failures -------------------------------------------------------------------------------------------

STAFF_FAILURES = FailureLog(StaffLoginFailure.account_key, StaffLoginFailure.address, StaffLoginFailure.at)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _account_key(rt: Runtime, staff_id: str) -> str:
    # The id as typed may be anything (a citizen ID typed into the wrong box): only a keyed fingerprint is kept.
    return rt.vault.fingerprint(b"staff|" + staff_id.encode())


def _admit(rt: Runtime, key: str, address: str) -> None:
    """Count this attempt as a failure until it succeeds, unless the limits hold `address` back (RateLimited)."""
    people.admit(rt, _SYSTEM, STAFF_FAILURES, StaffLoginFailure, rt.settings.failure_limits.staff_login, "staff",
                 key, address)


def _forgive(tx: Tx, key: str, address: str) -> None:
    tx.session.execute(delete(StaffLoginFailure).where(StaffLoginFailure.account_key == key,
                                                       StaffLoginFailure.address == address))


def _fail(rt: Runtime, staff_id: str, reason: str) -> None:
    """Record a failed login or enrolment: under the member and their organisation if the id is a member's,
    else under the system without the id typed (it may be anything, and is not kept)."""
    with rt.uow.refusal(_SYSTEM) as tx:
        row = _staff_row(tx, staff_id)
        author = tx if row is None else _as_member(tx, row)
        author.record(Tag.STAFF_LOGIN_DENIED, outcome=Outcome.DENIED, reason=reason)


def member(rt: Runtime, staff_id: str) -> StaffMember:
    """Return an enabled, enrolled member of staff (tests, the demo); raises NotFound."""
    with rt.uow.begin(_SYSTEM, readonly=True) as tx:
        row, org = _member_rows(tx, staff_id)
        if row is None or org is None or not _may_log_in(row):
            raise NotFound(f"{staff_id} is not an enrolled member of staff")
        return _member(row, org)
