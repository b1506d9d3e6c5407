"""Tables of the gateway: OAuth clients and tokens, people's logins. No secret is stored in clear."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit.clock import UTCDateTime
from audit.entries import NAMING


class GatewayBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Client(GatewayBase):
    """An OAuth 2.0 client: a source agency, an institution or an auditor."""

    __tablename__ = "clients"
    __table_args__ = (CheckConstraint("role IN ('provider', 'institution', 'auditor')", name="role"),)

    client_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), comment="SHA-256 of a 256-bit random secret")
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str | None] = mapped_column(String(30), comment="institution kind or agency kind")
    categories: Mapped[list[str]] = mapped_column(JSON, comment="categories a provider may submit")
    scope: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Token(GatewayBase):
    """An issued bearer token, kept only as a hash."""

    __tablename__ = "tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True, comment="SHA-256 of the token")
    client_id: Mapped[str] = mapped_column(String(40), index=True)
    scope: Mapped[str] = mapped_column(String(500))
    subject_ref: Mapped[str | None] = mapped_column(String(64), comment="the person an app acts for")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


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
