"""Tables of the vault. Nothing here holds a citizen ID, a name or a payload in plaintext."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit.clock import UTCDateTime
from audit.entries import NAMING


class VaultBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Subject(VaultBase):
    """A person, known only by the blind index of their citizen ID."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_ref: Mapped[str] = mapped_column(
        String(64), unique=True, comment="HMAC-SHA256 blind index of the citizen ID"
    )
    kek_version: Mapped[int | None] = mapped_column(Integer, comment="version of the wrapping key")
    wrapped_dek: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="data key wrapped under the KEK; NULL once crypto-shredded"
    )
    citizen_id_ct: Mapped[bytes | None] = mapped_column(LargeBinary, comment="citizen ID, encrypted")
    name_ct: Mapped[bytes | None] = mapped_column(LargeBinary, comment="name, encrypted")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Record(VaultBase):
    """One credit record. Its payload and the document it rests on are sealed together."""

    __tablename__ = "records"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
        CheckConstraint("display_until >= display_from", name="display_order"),
        UniqueConstraint("provider_id", "idempotency_key", name="uq_records_provider_idempotency"),
        Index("ix_records_subject_id_category", "subject_id", "category"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    category: Mapped[str] = mapped_column(String(60))
    catalogue_version: Mapped[str] = mapped_column(String(40))
    provider_id: Mapped[str] = mapped_column(
        String(64), comment="client id of the agency that produced it (谁产生、谁负责)"
    )
    status: Mapped[str] = mapped_column(String(12), default="active")
    decided_at: Mapped[date] = mapped_column(Date)
    display_from: Mapped[date] = mapped_column(Date)
    display_until: Mapped[date] = mapped_column(Date, comment="first day the record is no longer shown")
    sealed: Mapped[bytes] = mapped_column(LargeBinary, comment="AES-GCM of payload and document")
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_fingerprint: Mapped[str | None] = mapped_column(
        String(64), comment="keyed hash of the request, to tell a retry from a reuse"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason_ct: Mapped[bytes | None] = mapped_column(LargeBinary, comment="revocation reason, encrypted")
