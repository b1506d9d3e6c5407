"""Tables of the vault. Nothing here holds a citizen ID, a name or a payload in plaintext."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    false,
    text,
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
        CheckConstraint(
            "period_source IN ('catalogue', 'rule', 'document', 'extended', 'ended')", name="period_source"
        ),
        CheckConstraint("version >= 1", name="version_positive"),
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
    display_until: Mapped[date | None] = mapped_column(
        Date, comment="first day the record is no longer shown; NULL: until the producing agency ends it"
    )
    period_source: Mapped[str] = mapped_column(
        String(12), server_default="catalogue",
        comment="where display_until comes from; anything but 'catalogue' is the record's own period",
    )
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"), comment="1 + changes of its period")
    publication_due: Mapped[date | None] = mapped_column(
        Date, comment="last day (CST) it was due by its category's publication deadline; NULL: none"
    )
    filed_late: Mapped[bool] = mapped_column(
        Boolean, server_default=false(), comment="filed after publication_due; for auditors, never third parties"
    )
    sealed: Mapped[bytes] = mapped_column(LargeBinary, comment="AES-GCM of payload and document")
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_fingerprint: Mapped[str | None] = mapped_column(
        String(64), comment="keyed hash of the request, to tell a retry from a reuse"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason_ct: Mapped[bytes | None] = mapped_column(LargeBinary, comment="revocation reason, encrypted")


class RecordPeriodChange(VaultBase):
    """A change of a record's end by the agency that filed it: each is a new version of the record."""

    __tablename__ = "record_period_changes"
    __table_args__ = (
        CheckConstraint("kind IN ('extended', 'ended')", name="kind"),
        UniqueConstraint("record_id", "version", name="uq_record_period_changes_record_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    version: Mapped[int] = mapped_column(Integer, comment="the record's version this change made")
    kind: Mapped[str] = mapped_column(String(12))
    previous_until: Mapped[date | None] = mapped_column(Date)
    display_until: Mapped[date | None] = mapped_column(Date)
    provider_id: Mapped[str] = mapped_column(String(64), comment="the agency that made the change")
    sealed: Mapped[bytes] = mapped_column(LargeBinary, comment="AES-GCM of the document the change rests on")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
