"""Tables of the gateway: OAuth clients, codes and tokens, people's logins. No secret is stored in clear."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit.clock import UTCDateTime
from audit.entries import NAMING


class GatewayBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Client(GatewayBase):
    """An OAuth 2.0 client: a source agency, an institution or an auditor."""

    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint("role IN ('provider', 'institution', 'auditor')", name="role"),
        # A client authenticates with a secret (client_secret_basic) or a key (private_key_jwt), never neither.
        CheckConstraint("secret_hash IS NOT NULL OR jwks IS NOT NULL", name="credential"),
        # 谁主管、谁认定、谁负责 (DET-4): every source agency files as an agency role, never as nobody.
        CheckConstraint("role <> 'provider' OR agency IS NOT NULL", name="provider_agency"),
    )

    client_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    secret_hash: Mapped[str | None] = mapped_column(
        String(64), comment="SHA-256 of a 256-bit random secret; NULL for a private_key_jwt client")
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str | None] = mapped_column(String(30), comment="institution kind or agency kind")
    categories: Mapped[list[str]] = mapped_column(JSON, comment="categories a provider may submit")
    agency: Mapped[str | None] = mapped_column(
        String(40), comment="a provider's agency role (a code of the catalogue's provider_roles), or 'legacy'")
    agency_level: Mapped[str | None] = mapped_column(
        String(20), comment="a provider's administrative level (a code of the catalogue's agency_levels)")
    agency_migrated: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(),
        comment="true for a provider registered before agency roles, its role set by migration 0008")
    scope: Mapped[str] = mapped_column(String(500))
    jwks: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="public JWK Set for private_key_jwt (RFC 7523); private members are refused at registration")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Token(GatewayBase):
    """An issued bearer token, and the refresh token issued with it, kept only as hashes.

    Refresh tokens rotate: each is spent by one use (`refresh_used_at`), and every token descended from
    one authorization code shares a `family_id`, so that a spent refresh token coming back (a copy in the
    wrong hands, RFC 9700 §4.14.2) revokes the whole family.
    """

    __tablename__ = "tokens"
    # A person's list of app logins reads their tokens.
    __table_args__ = (Index("ix_tokens_subject_ref", "subject_ref"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True, comment="SHA-256 of the token")
    client_id: Mapped[str] = mapped_column(String(40), index=True)
    scope: Mapped[str] = mapped_column(String(500))
    subject_ref: Mapped[str | None] = mapped_column(String(64), comment="the person an app acts for")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    refresh_token_hash: Mapped[str | None] = mapped_column(
        String(64), unique=True, comment="SHA-256 of the refresh token issued with this token")
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_used_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="set when the refresh token is spent; a later use is a replay")
    family_id: Mapped[str | None] = mapped_column(String(32), index=True, comment="one per authorization code")
    last_used_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="an app token's last use on the API, to within a few minutes; shown to its person")


class AppConsent(GatewayBase):
    """A person's answer "allow" to an app asking for a scope, remembered until they revoke the app.

    The first authorization request of an app for a person shows a consent screen; later ones with a scope
    within `scope` go straight back to the app. Revoking the app deletes the row (the audit log keeps the
    history), so the next request asks again.
    """

    __tablename__ = "app_consents"

    subject_ref: Mapped[str] = mapped_column(String(64), primary_key=True, comment="blind index of the person")
    client_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(500), comment="the scopes the person allowed, space-separated")
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthorizationCode(GatewayBase):
    """An authorization code (RFC 6749 §4.1) with its PKCE challenge (RFC 7636), kept only as a hash.

    A code is spent by one exchange (`used_at`); a second exchange revokes what the first one issued.
    """

    __tablename__ = "authorization_codes"
    __table_args__ = (
        # Only S256: with "plain" an intercepted authorization request would reveal the verifier.
        CheckConstraint("code_challenge_method = 'S256'", name="s256_only"),
        CheckConstraint("expires_at > issued_at", name="expiry_order"),
    )

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True, comment="SHA-256 of the code")
    client_id: Mapped[str] = mapped_column(String(40))
    subject_ref: Mapped[str] = mapped_column(String(64), comment="the person who logged in")
    redirect_uri: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(500))
    code_challenge: Mapped[str] = mapped_column(String(128), comment="BASE64URL(SHA-256(code_verifier))")
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    family_id: Mapped[str] = mapped_column(String(32), comment="the tokens issued for this code carry it")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsedAssertion(GatewayBase):
    """The jti of a client assertion (RFC 7523 §3) already accepted, kept until the assertion expires."""

    __tablename__ = "used_client_assertions"

    client_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True, comment="SHA-256 of the jti")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Account(GatewayBase):
    """A person's login, created at a service counter by enrolment."""

    __tablename__ = "accounts"

    subject_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    activation_code_hash: Mapped[str | None] = mapped_column(String(200), comment="argon2, one-time")
    activation_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_hash: Mapped[str | None] = mapped_column(String(200), comment="argon2")
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginFailure(GatewayBase):
    """A failed login, for rate limiting per account and per address."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_account_at", "account_key", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64), comment="blind index of the ID typed, never the ID")
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ClientAuthFailure(GatewayBase):
    """A failed client authentication (a wrong secret or assertion), for rate limiting per client and address."""

    __tablename__ = "client_auth_failures"
    __table_args__ = (
        Index("ix_client_auth_failures_client_id_at", "client_id", "at"),
        Index("ix_client_auth_failures_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str | None] = mapped_column(
        String(40), comment="the registered client named; NULL when the name was nobody's (never stored as sent)")
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class PortalSession(GatewayBase):
    """A person's login to the portal: the cookie holds a random token, this row its hash and its life.

    Logging out ends it here, so a copy of the cookie is worth nothing afterwards; and however often it is
    used, it ends `XINYONG_SESSION_MAX_HOURS` after the login (the cookie's own idle limit is 30 minutes).
    """

    __tablename__ = "portal_sessions"
    __table_args__ = (Index("ix_portal_sessions_subject_ref", "subject_ref"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True, comment="SHA-256 of the cookie's token")
    subject_ref: Mapped[str] = mapped_column(String(64), comment="blind index of the person")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="absolute end, however active the session")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="when the person logged out")


class Staff(GatewayBase):
    """A member of staff of a registered organisation (an institution, a source agency or an auditor), who uses
    the portal for it with a password and a TOTP code. Added by `xinyong staff add`, which prints a one-time
    enrolment code; with it the member sets the password and scans the TOTP seed at /staff/enrol.
    """

    __tablename__ = "staff"
    __table_args__ = (
        Index("ix_staff_client_id", "client_id"),
        # The seed and its key version are set together, or neither (before enrolment).
        CheckConstraint("(totp_sealed IS NULL) = (totp_kek_version IS NULL)", name="totp_sealed_with_version"),
    )

    staff_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("clients.client_id"), comment="the organisation the member acts for")
    name: Mapped[str] = mapped_column(String(200), comment="the member's name, for their organisation's list only")
    role: Mapped[str] = mapped_column(String(20), comment="a role of gateway/data/staff.json")
    password_hash: Mapped[str | None] = mapped_column(String(200), comment="argon2")
    totp_sealed: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="the TOTP seed, AES-GCM under a key-encryption key; never in clear")
    totp_kek_version: Mapped[int | None] = mapped_column(Integer)
    totp_last_step: Mapped[int | None] = mapped_column(
        BigInteger, comment="the newest TOTP time step accepted: a code is good once (RFC 6238 §5.2)")
    enrolment_code_hash: Mapped[str | None] = mapped_column(String(200), comment="argon2 of the one-time code")
    enrolment_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enrolling_token_hash: Mapped[str | None] = mapped_column(
        String(64), comment="SHA-256 of the token between the enrolment's two steps (code, then a first TOTP code)")
    enrolling_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffSession(GatewayBase):
    """A member of staff's login to the portal, kept apart from people's: the cookie holds a random token, this
    row its hash. It is half a login (`second_factor_at` NULL, a few minutes) after the password, and a login
    after the TOTP code, under a new token; logging out ends it here, and it ends `XINYONG_SESSION_MAX_HOURS`
    after the login however active.
    """

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_staff_id", "staff_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True, comment="SHA-256 of the cookie's token")
    staff_id: Mapped[str] = mapped_column(String(40), ForeignKey("staff.staff_id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    second_factor_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="when the TOTP code was right; NULL: the password was, the code is awaited")
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="absolute end, however active the session")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="logged out, or replaced by the login")


class StaffLoginFailure(GatewayBase):
    """A wrong staff id, password, TOTP code or enrolment code, for rate limiting per account and address."""

    __tablename__ = "staff_login_failures"
    __table_args__ = (
        Index("ix_staff_login_failures_account_at", "account_key", "at"),
        Index("ix_staff_login_failures_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64), comment="keyed fingerprint of the staff id typed")
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
