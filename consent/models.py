"""Tables of the consent context: catalogue versions, requests, grants (with their signed receipts) and reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Index, Integer, LargeBinary, MetaData, String, Text, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit.clock import UTCDateTime
from audit.entries import NAMING


class ConsentBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Catalogue(ConsentBase):
    """Every catalogue version ever loaded; records name the version they were checked against."""

    __tablename__ = "catalogues"

    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsentRequest(ConsentBase):
    """An institution's request to query a person, for one purpose; only the person can answer it."""

    __tablename__ = "consent_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'denied')", name="status"),
        CheckConstraint("max_uses >= 1", name="uses_positive"),
        Index("ix_consent_requests_subject_ref_created_at", "subject_ref", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(40), index=True)
    subject_ref: Mapped[str] = mapped_column(String(64), comment="blind index; the person may not exist")
    purpose: Mapped[str] = mapped_column(String(60))
    categories: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(500), comment="the institution's stated reason, shown to the person")
    valid_for_seconds: Mapped[int] = mapped_column(Integer)
    max_uses: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lapses_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="an unanswered request lapses then")
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    grant_id: Mapped[str | None] = mapped_column(String(40))
    withheld: Mapped[bool] = mapped_column(
        Boolean, server_default=false(), default=False,
        comment="made while the person's file was frozen: never shown to them, lapses unanswered")
    occupational_group: Mapped[str | None] = mapped_column(
        String(20), comment="the one occupational group (catalogue code) the report is limited to; NULL: not limited")


class Freeze(ConsentBase):
    """A person's file frozen by themselves: new requests are withheld from them and lapse (one row while frozen)."""

    __tablename__ = "freezes"

    subject_ref: Mapped[str] = mapped_column(String(64), primary_key=True, comment="blind index")
    frozen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Grant(ConsentBase):
    """A consent the person gave: one purpose, named categories and fields, a validity and a use count."""

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
        CheckConstraint("uses >= 0 AND uses <= max_uses", name="uses_within_max"),
        CheckConstraint("valid_until > valid_from", name="validity_order"),
        Index("ix_grants_subject_ref_valid_from", "subject_ref", "valid_from"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(40), unique=True)
    institution_id: Mapped[str] = mapped_column(String(40), index=True)
    subject_ref: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(60))
    fields: Mapped[dict[str, list[str]]] = mapped_column(JSON, comment="category -> fields released")
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    max_uses: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt: Mapped[str] = mapped_column(Text, comment="signed consent receipt (JWS); no ID, no payload")
    receipt_sha256: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(40))
    catalogue_version: Mapped[str] = mapped_column(String(40))
    occupational_group: Mapped[str | None] = mapped_column(
        String(20), comment="the one occupational group (catalogue code) the report is limited to; NULL: not limited")


class Report(ConsentBase):
    """A report released to an institution; its contents are sealed and purged after the deadline."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_deadline", "deadline"),
        Index("ix_reports_subject_ref_generated_at", "subject_ref", "generated_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(40), index=True)
    institution_id: Mapped[str] = mapped_column(String(40))
    subject_ref: Mapped[str] = mapped_column(String(64))
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, comment="encrypted signed report; NULL once purged")
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    record_ids: Mapped[list[str] | None] = mapped_column(
        JSON, comment="the records released, in the report's order; NULL for reports from before 0011")


class Notice(ConsentBase):
    """A signed notice to an institution that a record it received in a report was corrected, revoked or
    withdrawn from display (OBJ-5). The notice names the report and the record's place in it, nothing more."""

    __tablename__ = "notices"
    __table_args__ = (
        CheckConstraint("status IN ('corrected', 'revoked', 'withdrawn from display', 'repaired')", name="status"),
        Index("ix_notices_institution_id_id", "institution_id", "id"),
        Index("ix_notices_subject_ref_record_id", "subject_ref", "record_id"),
        Index("uq_notices_report_record_status", "report_id", "record_id", "status", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(40))
    subject_ref: Mapped[str] = mapped_column(String(64))
    report_id: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    jws: Mapped[str] = mapped_column(Text, comment="the signed notice: report id, place, category, date, status")


class Notification(ConsentBase):
    """Something the person is told of: a kind and the id of what it is about, never text about them.

    The words are rendered when read (consent/notifications.py), so nothing here identifies the person or
    quotes their data; `subject_ref` is the blind index.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_subject_ref_id", "subject_ref", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_ref: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    ref: Mapped[str] = mapped_column(String(40), comment="the id of the request, objection, record or notice")
    status: Mapped[str | None] = mapped_column(String(24), comment="the step or status it reports, if any")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
