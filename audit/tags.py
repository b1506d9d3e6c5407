"""Action tags of audit entries, `context:subject:action` in the manner of warehouse's events."""

from __future__ import annotations

from enum import StrEnum


class Tag(StrEnum):
    RECORD_INGESTED = "vault:record:ingested"
    RECORD_REVOKED = "vault:record:revoked"
    RECORD_PERIOD_CHANGED = "vault:record:period-changed"
    RECORD_INGEST_DENIED = "vault:record:ingest-denied"
    SUBJECT_ENROLLED = "vault:subject:enrolled"
    SUBJECT_ACTIVATED = "vault:subject:activated"
    SUBJECT_SHREDDED = "vault:subject:shredded"
    SUBJECT_LOGIN = "gateway:subject:login"
    SUBJECT_LOGIN_DENIED = "gateway:subject:login-denied"
    SUBJECT_LOGOUT = "gateway:subject:logout"
    REPORT_SELF = "vault:report:self"
    REPORT_SELF_DENIED = "vault:report:self-denied"
    KEYS_ROTATED = "vault:keyring:rotated"
    CLIENT_ADDED = "gateway:client:added"
    CLIENT_DISABLED = "gateway:client:disabled"
    CLIENT_AUTH_DENIED = "gateway:client:auth-denied"
    CLIENT_AGENCY_SET = "gateway:client:agency-set"
    TOKEN_FAMILY_REVOKED = "gateway:token:family-revoked"  # noqa: S105 - an action tag, not a secret
    TOKEN_REVOKED = "gateway:token:revoked"  # noqa: S105 - an action tag, not a secret
    APP_CONSENT_GRANTED = "gateway:app-consent:granted"
    APP_CONSENT_DENIED = "gateway:app-consent:denied"
    APP_CONSENT_REVOKED = "gateway:app-consent:revoked"
    CONSENT_REQUESTED = "consent:request:created"
    CONSENT_APPROVED = "consent:grant:approved"
    CONSENT_DENIED = "consent:request:denied"
    CONSENT_REVOKED = "consent:grant:revoked"
    FILE_FROZEN = "consent:file:frozen"
    FILE_UNFROZEN = "consent:file:unfrozen"
    QUERY_RELEASED = "consent:query:released"
    QUERY_DENIED = "consent:query:denied"
    REPORT_RETRIEVED = "consent:report:retrieved"
    AUDIT_READ = "audit:entries:read"
    OBJECTION_SUBMITTED = "vault:objection:submitted"
    OBJECTION_READ = "vault:objection:read"
    OBJECTION_EVIDENCE_RELEASED = "vault:objection:evidence-released"
    OBJECTION_ANSWERED = "vault:objection:answered"
    OBJECTION_ACCEPTED = "consent:objection:accepted"
    OBJECTION_OVERDUE = "consent:objection:overdue"
    OBJECTION_DENIED = "consent:objection:denied"
    RECORD_CORRECTED = "vault:record:corrected"
    NOTICE_SENT = "consent:notice:sent"
    REPAIR_SUBMITTED = "vault:repair:submitted"
    REPAIR_READ = "vault:repair:read"
    REPAIR_RELEASED = "vault:repair:released"
    REPAIR_DECIDED = "vault:repair:decided"
    REPAIR_OVERDUE = "consent:repair:overdue"
    REPAIR_DENIED = "consent:repair:denied"


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
