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
    erasure_basis: Mapped[str | None] = mapped_column(
        String(300), comment="the legal basis an operator gave for erasing the person (never their data)")


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
        Index("ix_records_category_display_until", "category", "display_until"),
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
    repaired_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="credit repair (信用修复) granted at: no longer released to any third party")
    repair_effect: Mapped[str | None] = mapped_column(
        String(12), comment="what the repair did: stop_sharing, mask, delete or mark (REP-8)")
    erased_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="contents erased (sealed emptied): a tombstone of its id, category, provider and dates")
    erasure_basis: Mapped[str | None] = mapped_column(
        String(300), comment="why it was erased: its category's retention period, or the basis of a person's erasure")


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


OPEN_OBJECTION = "status IN ('submitted', 'accepted')"


class Objection(VaultBase):
    """A person's objection (异议) to a record, routed to the agency that produced it (OBJ-1, OBJ-2).

    The person's reason and the agency's words are sealed under the person's data key; the steps'
    dates, deadlines and status are plain, so queues and overdue checks need no key. At most one
    objection per record is open at a time (the partial unique index).
    """

    __tablename__ = "objections"
    __table_args__ = (
        CheckConstraint("status IN ('submitted', 'accepted', 'refused', 'corrected', 'revoked', 'upheld')",
                        name="status"),
        Index("uq_objections_open_record", "record_id", unique=True,
              sqlite_where=text(OPEN_OBJECTION), postgresql_where=text(OPEN_OBJECTION)),
        Index("ix_objections_provider_id_status", "provider_id", "status"),
        Index("ix_objections_subject_id", "subject_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    provider_id: Mapped[str] = mapped_column(String(64), comment="the agency that produced the record and answers")
    status: Mapped[str] = mapped_column(String(12))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accept_by: Mapped[date] = mapped_column(Date, comment="last working day to accept or refuse (CST)")
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="accepted or refused at")
    decide_by: Mapped[date | None] = mapped_column(Date, comment="last working day to decide (CST)")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason_ct: Mapped[bytes] = mapped_column(LargeBinary, comment="the person's reason, encrypted")
    answer_ct: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="the agency's words (refusal or decision), encrypted")
    corrected_record_id: Mapped[str | None] = mapped_column(
        String(32), comment="the record that replaced the objected one when it was corrected")
    overdue_step: Mapped[str | None] = mapped_column(
        String(12), comment="the step whose lapsed deadline was last recorded in the audit log")


class ObjectionEvidence(VaultBase):
    """One evidence file of an objection: its name and bytes sealed under the person's data key."""

    __tablename__ = "objection_evidence"
    __table_args__ = (UniqueConstraint("objection_id", "position", name="uq_objection_evidence_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    objection_id: Mapped[str] = mapped_column(ForeignKey("objections.id"))
    position: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(40), comment="checked against the file's magic number")
    size: Mapped[int] = mapped_column(Integer)
    filename_ct: Mapped[bytes] = mapped_column(LargeBinary, comment="file name, encrypted")
    content_ct: Mapped[bytes] = mapped_column(LargeBinary, comment="file content, encrypted")


OPEN_REPAIR = "status = 'submitted'"


class Repair(VaultBase):
    """A person's application for credit repair (信用修复) of a record, decided by the agency that produced it.

    The person's statement, evidence and commitment and the agency's words are sealed under the person's data
    key; the status, dates and methods (codes of the published list) are plain. At most one application per
    record is open at a time (the partial unique index).
    """

    __tablename__ = "repairs"
    __table_args__ = (
        CheckConstraint("status IN ('submitted', 'repaired', 'refused')", name="status"),
        CheckConstraint("effect IS NULL OR effect IN ('stop_sharing', 'mask', 'delete', 'mark')", name="effect"),
        Index("uq_repairs_open_record", "record_id", unique=True,
              sqlite_where=text(OPEN_REPAIR), postgresql_where=text(OPEN_REPAIR)),
        Index("ix_repairs_provider_id_status", "provider_id", "status"),
        Index("ix_repairs_subject_id", "subject_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    provider_id: Mapped[str] = mapped_column(String(64), comment="the agency that produced the record and decides")
    status: Mapped[str] = mapped_column(String(12))
    methods: Mapped[str] = mapped_column(String(400), comment="comma-separated method codes of repairs.json")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decide_by: Mapped[date] = mapped_column(Date, comment="last working day to decide (CST)")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    effect: Mapped[str | None] = mapped_column(String(12), comment="a repair's effect (REP-8)")
    texts_ct: Mapped[bytes] = mapped_column(
        LargeBinary, comment="the statement, commitment and evidence, encrypted")
    answer_ct: Mapped[bytes | None] = mapped_column(LargeBinary, comment="the agency's reason, encrypted")
    overdue: Mapped[bool] = mapped_column(
        Boolean, server_default=false(), comment="its lapsed deadline was recorded in the audit log")


LIVE_LISTING = "status IN ('proposed', 'in_effect', 'suspended')"


class Listing(VaultBase):
    """A listing (名单) of a person on the black or red list, resting on a record of the agency that proposes it.

    Its reason and basis are sealed under the person's data key; its status, dates and measures (codes of
    the published list) are plain, so clocks and cross-checks need no key. Every change of status is a new
    row of `listing_versions` with its cause: nothing is overwritten without a trace. At most one listing of
    each kind that has not ended rests on a record (the partial unique index).
    """

    __tablename__ = "listings"
    __table_args__ = (
        CheckConstraint("kind IN ('black', 'red')", name="kind"),
        CheckConstraint("status IN ('proposed', 'in_effect', 'suspended', 'dropped', 'ended')", name="status"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("uq_listings_live_record_kind", "record_id", "kind", unique=True,
              sqlite_where=text(LIVE_LISTING), postgresql_where=text(LIVE_LISTING)),
        Index("ix_listings_subject_id_status", "subject_id", "status"),
        Index("ix_listings_provider_id_status", "provider_id", "status"),
        Index("ix_listings_status_objection_until", "status", "objection_until"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), comment="the record the listing rests on")
    provider_id: Mapped[str] = mapped_column(String(64), comment="the agency that proposed it and decides on it")
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12))
    version: Mapped[int] = mapped_column(Integer, comment="the number of its newest row in listing_versions")
    measures: Mapped[str] = mapped_column(String(400), comment="comma-separated measure codes of lists.json")
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    objection_until: Mapped[date | None] = mapped_column(
        Date, comment="last day of the objection window (CST); NULL for a list without prior notice")
    objection_id: Mapped[str | None] = mapped_column(String(32), comment="the person's objection to the listing")
    objection_open: Mapped[bool] = mapped_column(
        Boolean, server_default=false(), default=False, comment="an objection to it waits for its decision")
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    until: Mapped[date | None] = mapped_column(Date, comment="in effect while today is before this day (CST)")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="dropped or ended at")
    end_cause: Mapped[str | None] = mapped_column(String(24))
    monitored_until: Mapped[date | None] = mapped_column(
        Date, comment="after a black listing ends: under key credit monitoring until this day (LIST-9)")
    texts_ct: Mapped[bytes] = mapped_column(LargeBinary, comment="the reason and basis, encrypted")


class ListingVersion(VaultBase):
    """One version of a listing: the status it entered, why, when and by whom; an agency's words are sealed."""

    __tablename__ = "listing_versions"
    __table_args__ = (UniqueConstraint("listing_id", "version", name="uq_listing_versions_listing_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    listing_id: Mapped[str] = mapped_column(ForeignKey("listings.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    cause: Mapped[str] = mapped_column(String(24), comment="why it changed: a code of consent/listings.py")
    actor: Mapped[str] = mapped_column(String(64), comment="the agency, the person's objection or the service")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    words_ct: Mapped[bytes | None] = mapped_column(LargeBinary, comment="the agency's reason, encrypted")


OPEN_DECLARATION = "status = 'unverified'"


class Declaration(VaultBase):
    """A person's voluntary registration (自愿注册, VOL-1) of positive information, until the competent agency
    verifies it; verified, it becomes a record of its category, found false a broken-commitment record.

    The payload, the truthfulness commitment, the authorisation and the evidence are sealed under the person's
    data key: nothing here is a record, so no report, list or evaluation can reach an unverified declaration.
    The same item may be open once (the partial unique index on its keyed fingerprint).
    """

    __tablename__ = "declarations"
    __table_args__ = (
        CheckConstraint("status IN ('unverified', 'verified', 'false')", name="status"),
        Index("uq_declarations_open_item", "item_key", unique=True,
              sqlite_where=text(OPEN_DECLARATION), postgresql_where=text(OPEN_DECLARATION)),
        Index("ix_declarations_category_status", "category", "status"),
        Index("ix_declarations_subject_id", "subject_id"),
        Index("ix_declarations_record_id", "record_id"),  # a released record's declaration, read with it
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    category: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(12))
    item_key: Mapped[str] = mapped_column(
        String(64), comment="keyed fingerprint of the person, category and payload: one open declaration per item")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verify_by: Mapped[date] = mapped_column(Date, comment="last working day to verify (CST)")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_id: Mapped[str | None] = mapped_column(String(64), comment="the agency that verified it")
    record_id: Mapped[str | None] = mapped_column(
        ForeignKey("records.id"), comment="the record it became: of its category, or the breach if false")
    texts_ct: Mapped[bytes] = mapped_column(
        LargeBinary, comment="the payload, commitment, authorisation and evidence, encrypted")
    answer_ct: Mapped[bytes | None] = mapped_column(LargeBinary, comment="the agency's reason, encrypted")
    overdue: Mapped[bool] = mapped_column(
        Boolean, server_default=false(), comment="its lapsed deadline was recorded in the audit log")


class Commitment(VaultBase):
    """A credit commitment (信用承诺, COM-1 to COM-5) a person signed on a published template, and its outcome
    as recorded by the body it was made to. The person's own words are sealed under their data key."""

    __tablename__ = "commitments"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'fulfilled', 'breached')", name="status"),
        CheckConstraint("body_role IN ('provider', 'institution')", name="body_role"),
        Index("ix_commitments_accepting_body_status", "accepting_body", "status"),
        Index("ix_commitments_subject_id", "subject_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    template: Mapped[str] = mapped_column(String(40), comment="a template code of commitments.json")
    accepting_body: Mapped[str] = mapped_column(String(64), comment="client id of the body it was made to")
    body_role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_date: Mapped[date | None] = mapped_column(Date)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    record_id: Mapped[str | None] = mapped_column(ForeignKey("records.id"), comment="the breach record, if any")
    texts_ct: Mapped[bytes] = mapped_column(LargeBinary, comment="the text signed and the person's details, encrypted")
    answer_ct: Mapped[bytes | None] = mapped_column(LargeBinary, comment="the body's reason, encrypted")
