"""Wire schemas. Input and output are separate; unknown fields are rejected everywhere."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from audit.tags import Outcome
from consent.durations import Duration, parse_days
from consent.fields import HIDDEN_CHARACTERS_REASON, hidden_characters
from gateway.usecases.review import AuditSearch
from vault.types import Document, Evidence

_text = validate.Length(min=1, max=200)


def _no_control_characters(value: str) -> None:
    # Values like these reach the database as they are (an idempotency key, a denial's reason), and
    # PostgreSQL text cannot hold NUL; no key or field name needs a control character.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValidationError("must not contain control characters")


def _no_hidden_characters(value: str) -> None:
    # Names and document texts are shown to people and officials: nothing invisible, nothing that reorders.
    if hidden_characters(value):
        raise ValidationError(HIDDEN_CHARACTERS_REASON)


def _printable_text(value: str) -> None:
    # Free text a person reads (a request's reason) may break lines, but holds no other control characters.
    if any((ord(c) < 0x20 and c not in "\n\t") or ord(c) == 0x7F for c in value):
        raise ValidationError("must not contain control characters other than line breaks and tabs")


# The same rules as patterns for the OpenAPI description (gateway/web/api/base.py puts them on every field that
# has the validator), so that clients and schemathesis know what the API refuses. Lone surrogates, which the
# hidden-character check also refuses, cannot be written in a pattern (they are no characters) and are left out.
TEXT_PATTERNS: dict[Any, str] = {
    _no_control_characters: "^[^\\x00-\\x1f\\x7f]*$",
    _no_hidden_characters: "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]*$",
    _printable_text: "^[^\\x00-\\x08\\x0b-\\x1f\\x7f]*$",
}


_IDENT = validate.Regexp(r"^[A-Za-z0-9_.:-]{1,60}$", error="must be 1 to 60 letters, digits or _ . : -")


def _code(max_length: int = 60) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=max_length), _no_control_characters])


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class ProblemFieldSchema(Schema):
    """One field that failed, in a problem's `errors`."""

    field = fields.String(required=True, metadata={"description": "dotted path, e.g. payload.fine_amount"})
    reason = fields.String(required=True)
    check = fields.String(metadata={"description": "which identity check failed"})


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True, metadata={"format": "uri"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True)
    request_id = fields.String()
    field = fields.String(metadata={"description": "the first field that failed"})
    check = fields.String(metadata={"description": "which identity check failed"})
    errors = fields.List(fields.Nested(ProblemFieldSchema),
                         metadata={"description": "every field that failed, with the reason"})
    categories = fields.List(fields.String(), metadata={"description": "the categories outside the purpose"})
    retry_after = fields.Integer(metadata={"description": "seconds to wait, as in the Retry-After header"})
    current_status = fields.String(metadata={"description": "an objection's status, when a step is out of order"})


class DocumentIn(StrictSchema):
    type = fields.String(required=True, validate=[validate.Length(min=1, max=60), _no_hidden_characters])
    number = fields.String(required=True, validate=[_text, _no_hidden_characters])
    authority = fields.String(required=True, validate=[_text, _no_hidden_characters])
    effective_at = fields.Date(required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Document:
        return Document(**data)


class RecordIn(StrictSchema):
    citizen_id = fields.String(required=True, validate=validate.Length(min=1, max=40),
                               metadata={"description": "18-character resident ID (GB 11643-1999)"})
    name = fields.String(validate=[validate.Length(min=1, max=100), _no_hidden_characters])
    category = fields.String(required=True, validate=validate.Length(min=1, max=60))
    decided_at = fields.Date(required=True)
    document = fields.Nested(DocumentIn)
    payload = fields.Dict(keys=fields.String(validate=[validate.Length(min=1, max=60), _no_control_characters]),
                          required=True, metadata={"description": "the category's fields, as the catalogue lists"})
    display_until = fields.Date(metadata={
        "description": "the record's own end where its document sets one: the first day it is no longer shown, "
                       "within the category's document_display_until bounds"})


_RECORD_STATUS = validate.OneOf(["active", "revoked"])
_UNTIL_DESCRIPTION = "first day it is no longer shown; null: shown until the agency that filed it ends it"


class RecordOut(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True, validate=_RECORD_STATUS)
    display_from = fields.Date(required=True)
    display_until = fields.Date(required=True, allow_none=True, metadata={"description": _UNTIL_DESCRIPTION})
    version = fields.Integer(required=True, metadata={"description": "1, plus one for each change of its period"})
    filed_late = fields.Boolean(required=True, metadata={
        "description": "filed after its category's publication deadline (kept for the auditors)"})


class RevokeIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ExtendIn(StrictSchema):
    document = fields.Nested(DocumentIn, required=True, metadata={"description": "the decision extending it"})
    display_until = fields.Date(required=True, metadata={
        "description": "the new first day it is no longer shown, within the category's display_extension"})


class EndIn(StrictSchema):
    document = fields.Nested(DocumentIn, required=True, metadata={"description": "the decision ending it early"})


class CorrectionIn(StrictSchema):
    payload = fields.Dict(keys=fields.String(validate=[validate.Length(min=1, max=60), _no_control_characters]),
                          required=True, metadata={"description": "the record's whole corrected payload"})
    decided_at = fields.Date(metadata={"description": "the corrected decision date; the old one if left out"})
    document = fields.Nested(DocumentIn, metadata={"description": "the corrected document; the old one if left out"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500),
                           metadata={"description": "why it is corrected; kept (sealed) with the superseded version"})


class IdempotencyHeader(Schema):
    class Meta:
        unknown = "exclude"

    idempotency_key = fields.String(data_key="Idempotency-Key",
                                    validate=[validate.Length(min=1, max=200), _no_control_characters],
                                    metadata={"pattern": "^[^\\x00-\\x1f\\x7f]+$"})


class ActivateIn(StrictSchema):
    citizen_id = fields.String(required=True, validate=validate.Length(min=1, max=40))
    activation_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    password = fields.String(required=True, validate=validate.Length(min=10, max=200),
                             load_only=True, metadata={"description": "at least 10 characters"})


class ActivateOut(Schema):
    status = fields.String(required=True)


class ProviderOut(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)


class NameOut(Schema):
    zh = fields.String(required=True)
    en = fields.String(required=True)


class DocumentOut(Schema):
    type = fields.String(required=True)
    number = fields.String(required=True)
    authority = fields.String(required=True)
    effective_at = fields.Date(required=True)


class ReportRecordOut(Schema):
    id = fields.String(required=True)
    category = fields.String(required=True)
    category_name = fields.Nested(NameOut, required=True)
    polarity = fields.String(required=True, validate=validate.OneOf(["basic", "positive", "negative"]))
    provider = fields.Nested(ProviderOut, required=True)
    status = fields.String(required=True, validate=_RECORD_STATUS)
    decided_at = fields.Date(required=True)
    display_from = fields.Date(required=True)
    display_until = fields.Date(required=True, allow_none=True, metadata={"description": _UNTIL_DESCRIPTION})
    visible_to_third_parties = fields.Boolean(required=True)
    payload = fields.Dict(required=True)
    document = fields.Nested(DocumentOut, allow_none=True, required=True,
                             metadata={"description": "null for a record that rests on no document"})
    version = fields.Integer(required=True)
    period_changes = fields.List(fields.Nested(lambda: PeriodChangeOut()), required=True, metadata={
        "description": "each extension or early end by the agency that filed it, oldest first"})
    objection = fields.Nested("OpenObjectionOut", metadata={"description": "your open objection to it, if any"})
    repair = fields.Nested("RepairabilityOut", metadata={
        "description": "a negative record: whether, from when and how it can be repaired (REP-13), free of charge"})
    repaired = fields.Nested("RepairedOut", metadata={"description": "repaired (信用修复): when, and its effect"})
    self_reported = fields.Nested("SelfReportedOut", metadata={
        "description": "you declared it (自愿注册) and the agency that filed it verified it"})


class SelfReportedOut(Schema):
    declaration_id = fields.String(required=True)


class PeriodChangeOut(Schema):
    version = fields.Integer(required=True)
    change = fields.String(required=True, validate=validate.OneOf(["extended", "ended"]))
    previous_until = fields.Date(required=True, allow_none=True)
    display_until = fields.Date(required=True, allow_none=True)
    document = fields.Nested(DocumentOut, required=True)
    changed_at = fields.String(required=True)


class RepairabilityOut(Schema):
    repairable = fields.Boolean(required=True)
    basis = fields.String(metadata={"description": "not repairable: the legal basis that says so"})
    from_ = fields.String(data_key="from", allow_none=True, metadata={"description": "first day to apply (CST)"})
    methods = fields.List(fields.String(), metadata={"description": "codes of GET /api/v1/repair-rules"})
    free_of_charge = fields.Boolean()
    apply_at = fields.String()
    open_application = fields.String(metadata={"description": "your open repair application, if any"})


class RepairedOut(Schema):
    on = fields.String(required=True, metadata={"description": "the day it was repaired (CST)"})
    effect = fields.String(required=True)


class OpenObjectionOut(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True)
    since = fields.String(required=True)
    open_step = fields.String(allow_none=True, required=True)
    deadline = fields.String(allow_none=True, required=True)
    withheld_from_third_parties = fields.Boolean(required=True, metadata={
        "description": "a punitive category is not released to third parties until the decision (OBJ-2)"})


class QueryLogOut(Schema):
    institution = fields.String(required=True)
    institution_id = fields.String(required=True)
    purpose = fields.String(required=True)
    at = fields.String(required=True)
    categories = fields.List(fields.String(), required=True)
    records_released = fields.Integer(required=True)
    consent_id = fields.String(allow_none=True, required=True)
    outcome = fields.String(required=True)


class SubjectOut(Schema):
    citizen_id_masked = fields.String(required=True, metadata={"description": "first four and last four shown"})
    name = fields.String(required=True, allow_none=True, metadata={"description": "null if no name is on file"})


class SelfReportOut(Schema):
    generated_at = fields.DateTime(required=True)
    catalogue_version = fields.String(required=True)
    subject = fields.Nested(SubjectOut, required=True)
    records = fields.List(fields.Nested(ReportRecordOut), required=True)
    queries = fields.List(fields.Nested(QueryLogOut), required=True)
    listings = fields.List(fields.Dict(), metadata={
        "description": "your listings (名单): proposed, in effect and ended, with dates, measures and remedies"})
    evaluation = fields.Dict(required=True, metadata={
        "description": "your integrity evaluation (for incentives only): whether you have had no adverse record for "
                       "three consecutive years, each adverse record with whether and why it counts and until when, "
                       "and your positive records by category with why they count"})


DAYS_PATTERN = "^P[0-9]{1,6}[DW]$"  # what consent.durations.parse_days reads


class DaysDuration(fields.Field[Duration]):
    """An ISO 8601 duration in days or weeks (P7D, P2W), loaded as a Duration of days."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Duration:
        if not isinstance(value, str):
            raise ValidationError("must be an ISO 8601 duration such as P7D")
        try:
            return parse_days(value)
        except ValueError:
            raise ValidationError("must be an ISO 8601 duration in days or weeks, such as P7D or P2W") from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return f"P{value.days}D"


class ConsentRequestIn(StrictSchema):
    citizen_id = fields.String(required=True, validate=[validate.Length(min=1, max=40), _no_control_characters])
    purpose = fields.String(required=True, validate=[validate.Length(min=1, max=60), _no_control_characters])
    categories = fields.List(_code(), validate=validate.Length(min=1, max=50))
    reason = fields.String(required=True, validate=[validate.Length(min=1, max=500), _printable_text])
    valid_for = DaysDuration(required=True, metadata={"type": "string", "pattern": DAYS_PATTERN, "example": "P7D"})
    max_uses = fields.Integer(strict=True, validate=validate.Range(min=1, max=1000),
                              metadata={"description": "default 1; a whole number, not a string"})
    occupational_group = fields.String(
        validate=[validate.Length(min=1, max=20), _no_control_characters],
        metadata={"description": "the one key occupational group (a code of the catalogue's occupational_groups) "
                                 "a purpose limited to a group reports on, such as occupational_credit_report; "
                                 "refused for any other purpose", "example": "KG04"})


class ConsentRequestCreatedOut(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True)


class InstitutionOut(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(allow_none=True, required=True)


class ConsentRequestOut(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "pending, approved, denied or lapsed"})
    purpose = fields.String(required=True)
    categories = fields.List(fields.String(), required=True)
    reason = fields.String(required=True)
    valid_for = fields.String(required=True)
    max_uses = fields.Integer(required=True)
    created_at = fields.String(required=True)
    lapses_at = fields.String(required=True)
    consent_id = fields.String(allow_none=True, required=True)
    institution = fields.Nested(InstitutionOut)
    occupational_group = fields.String(metadata={"description": "the occupational group the report is limited to"})


class ApproveIn(StrictSchema):
    categories = fields.List(_code(), validate=validate.Length(min=1, max=50))
    valid_for = DaysDuration(metadata={"type": "string", "pattern": DAYS_PATTERN, "example": "P3D"})


class JsonBoolean(fields.Boolean):
    """true or false as JSON has them; not "true", 1 or null (marshmallow's Boolean takes those)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if type(value) is not bool:
            raise ValidationError("must be true or false")
        return value


class FreezeIn(StrictSchema):
    revoke_grants = JsonBoolean(load_default=False, metadata={
        "description": "also revoke, at once, every consent still in force"})


class FreezeOut(Schema):
    frozen = fields.Boolean(required=True)
    since = fields.String(allow_none=True, required=True, metadata={"description": "frozen since (UTC)"})
    revoked_grants = fields.List(fields.String(), required=True, metadata={
        "description": "the consents this call revoked"})


class GrantOut(Schema):
    id = fields.String(required=True)
    request_id = fields.String(required=True)
    institution = fields.Nested(InstitutionOut, required=True)
    purpose = fields.String(required=True)
    categories = fields.List(fields.String(), required=True)
    fields_released = fields.Dict(data_key="fields", required=True)
    valid_from = fields.String(required=True)
    valid_until = fields.String(required=True)
    max_uses = fields.Integer(required=True)
    uses = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "active, revoked, expired or exhausted"})
    receipt = fields.String(required=True, metadata={"description": "signed consent receipt (JWS, EdDSA)"})
    occupational_group = fields.String(metadata={"description": "the occupational group the report is limited to"})


class ReceiptOut(Schema):
    consent_id = fields.String(required=True)
    receipt = fields.String(required=True)


class QueryIn(StrictSchema):
    consent_id = fields.String(required=True, validate=_IDENT)


class SignedReportOut(Schema):
    report = fields.Dict(required=True)
    jws = fields.String(required=True, metadata={"description": "compact JWS (EdDSA) over the canonical JSON"})


class CodeEntryOut(Schema):
    code = fields.String(required=True)
    zh = fields.String(required=True)
    en = fields.String(required=True)


class DocumentTypeOut(CodeEntryOut):
    order = fields.String(required=True, validate=validate.OneOf(["decided_then_effective", "effective_then_decided"]),
                          metadata={"description": "whether the document takes effect on or after the record's "
                                                   "decision, or must be in force by then"})


class DocumentOrderOut(Schema):
    decided_then_effective = fields.String(required=True)
    effective_then_decided = fields.String(required=True)


class DatesOut(Schema):
    earliest = fields.Date(required=True, metadata={"description": "no record, document or payload date before it"})
    earliest_reason = fields.String(required=True)
    not_after_reason = fields.String(required=True)
    document_order = fields.Nested(DocumentOrderOut, required=True,
                                   metadata={"description": "the reason for each order of a document type"})


_SEVERITIES = ["minor", "general", "serious", "especially_serious"]


class GradeOut(Schema):
    code = fields.String(required=True, validate=validate.OneOf(_SEVERITIES))
    zh = fields.String(required=True)
    en = fields.String(required=True)
    response = fields.Nested(NameOut, required=True)
    display_period_min = fields.String(required=True, metadata={"description": "ISO 8601 duration"})
    display_period_max = fields.String(required=True, metadata={"description": "ISO 8601 duration"})
    reason = fields.String(required=True)


class MinimumAgeOut(Schema):
    years = fields.Integer(required=True, metadata={"description": "age in full years on the decision date"})
    reason = fields.String(required=True)


class NoticeRuleOut(Schema):
    field = fields.String(required=True, metadata={"description": "the payload date field of the notice"})
    working_days = fields.Integer(required=True,
                                  metadata={"description": "working days between the notice and the decision"})
    reason = fields.String(required=True)


class ProviderRoleOut(CodeEntryOut):
    administrative = fields.Boolean(required=True, metadata={
        "description": "an administrative authority: may file what any competent authority may file"})
    reason = fields.String(metadata={"description": "why, where it is not plain"})


class FieldSpecOut(Schema):
    name = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(
        ["string", "integer", "decimal", "date", "boolean", "enum", "code"]))
    required = fields.Boolean(required=True)
    third_party = fields.Boolean(required=True, metadata={"description": "may ever be released to a third party"})
    zh = fields.String(required=True)
    en = fields.String(required=True)
    max_length = fields.Integer()
    enum = fields.List(fields.String())
    code_list = fields.String(metadata={"description": "the catalogue code list the value comes from"})
    format = fields.String(validate=validate.OneOf(["unified_social_credit_code"]),
                           metadata={"description": "a checked format of a string field"})
    not_after = fields.String(validate=validate.OneOf(["today", "decided_at"]),
                              metadata={"description": "the latest a date field may be"})


class CategoryOut(Schema):
    code = fields.String(required=True)
    name = fields.Nested(NameOut, required=True)
    domain = fields.String(required=True)
    polarity = fields.String(required=True, validate=validate.OneOf(["basic", "positive", "negative"]))
    severity = fields.String(required=True, allow_none=True,
                             validate=validate.OneOf(_SEVERITIES),
                             metadata={"description": "null for basic and positive categories"})
    legal_basis = fields.String(required=True)
    share_scope = fields.String(required=True,
                                validate=validate.OneOf(["self_only", "authorised_query", "public"]))
    share_scope_reason = fields.String(required=True)
    display_period = fields.String(required=True, metadata={"description": "ISO 8601 duration, e.g. P5Y"})
    display_period_reason = fields.String(required=True)
    retention_period = fields.String(required=True, metadata={
        "description": "ISO 8601 duration: how long a record is kept after its display ends, then erased"})
    retention_period_reason = fields.String(required=True)
    min_period_before_repair = fields.String(required=True, allow_none=True,
                                             metadata={"description": "ISO 8601 duration; null if not repairable"})
    repairable = fields.Boolean(required=True)
    provider_roles = fields.List(fields.String(), required=True)
    min_provider_level = fields.String(metadata={
        "description": "the lowest administrative level (agency_levels) of an agency that may file it"})
    min_provider_level_reason = fields.String()
    document_required = fields.Boolean(required=True)
    document_types = fields.List(fields.String(), required=True)
    fields_ = fields.List(fields.Nested(FieldSpecOut), required=True, attribute="fields", data_key="fields")
    minimum_age = fields.Nested(MinimumAgeOut, required=True, allow_none=True,
                                metadata={"description": "null if the category has no minimum age"})
    notice_before_decision = fields.Nested(NoticeRuleOut, required=True, allow_none=True,
                                           metadata={"description": "null if no notice is required"})
    display_rules = fields.List(fields.Nested(lambda: DisplayRuleOut()), required=True, metadata={
        "description": "the period by the case a record describes; the first rule that matches applies"})
    document_display_until = fields.Nested(lambda: PeriodBoundsOut(), required=True, allow_none=True, metadata={
        "description": "bounds of a record's own end set by its document, after the decision; null: none"})
    display_extension = fields.Nested(lambda: PeriodBoundsOut(), required=True, allow_none=True, metadata={
        "description": "bounds of an extension by the agency, after the end set on entry; null: none"})
    publication_deadline = fields.Nested(lambda: PublicationDeadlineOut(), required=True, allow_none=True, metadata={
        "description": "records are due within this many working days of the decision; null: no deadline"})


class DisplayRuleOut(Schema):
    field = fields.String(required=True, allow_none=True, metadata={"description": "null: every record"})
    values = fields.List(fields.String(), required=True, allow_none=True,
                         metadata={"description": "null: every record"})
    period = fields.String(required=True, allow_none=True, metadata={
        "description": "ISO 8601 duration; null: shown until the agency that filed it ends it"})
    until_field = fields.String(required=True, allow_none=True, metadata={
        "description": "a date field: shown at least through that day when given"})
    reason = fields.String(required=True)


class PeriodBoundsOut(Schema):
    min = fields.String(required=True)
    max = fields.String(required=True)
    reason = fields.String(required=True)


class PublicationDeadlineOut(Schema):
    working_days = fields.Integer(required=True)
    reason = fields.String(required=True)


class CatalogueOut(Schema):
    version = fields.String(required=True)
    published = fields.Date(required=True)
    basis = fields.String(required=True)
    dates = fields.Nested(DatesOut, required=True)
    severities = fields.List(fields.Nested(GradeOut), required=True,
                             metadata={"description": "the four grades of dishonesty records, lightest first"})
    domains = fields.List(fields.Nested(CodeEntryOut), required=True)
    provider_roles = fields.List(fields.Nested(ProviderRoleOut), required=True)
    agency_levels = fields.List(fields.Nested(CodeEntryOut), required=True,
                                metadata={"description": "administrative levels of agencies, lowest first"})
    occupational_groups = fields.List(fields.Nested(CodeEntryOut), required=True)
    document_types = fields.List(fields.Nested(DocumentTypeOut), required=True)
    categories = fields.List(fields.Nested(CategoryOut), required=True)


class TokenRequestIn(StrictSchema):
    """The form body of POST /oauth/token (RFC 6749 §4.1.3, §4.4.2, §6).

    Registered clients use client_credentials and authenticate with HTTP Basic or a private_key_jwt
    assertion (RFC 7523); the first-party app is a public client using authorization_code with PKCE
    and refresh_token.
    """

    grant_type = fields.String(required=True, validate=validate.OneOf(
        ["client_credentials", "authorization_code", "refresh_token"]))
    scope = fields.String(metadata={"description": "space-separated; default: every scope of the client's role"})
    code = fields.String(metadata={"description": "authorization_code: the code from /oauth/authorize"})
    redirect_uri = fields.String(metadata={"description": "authorization_code: as sent to /oauth/authorize"})
    code_verifier = fields.String(metadata={"description": "authorization_code: the PKCE verifier (S256)"})
    refresh_token = fields.String(metadata={"description": "refresh_token: the last refresh token issued"})
    client_id = fields.String(metadata={"description": "the public app's client id"})
    client_assertion_type = fields.String(metadata={
        "description": "private_key_jwt: urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    client_assertion = fields.String(metadata={"description": "private_key_jwt: the signed assertion"})


class RevocationRequestIn(StrictSchema):
    """The form body of POST /oauth/revoke (RFC 7009 §2.1); the client authenticates as at /oauth/token."""

    token = fields.String(required=True, metadata={"description": "the access or refresh token to revoke"})
    token_type_hint = fields.String(validate=validate.OneOf(["access_token", "refresh_token"]))
    client_id = fields.String(metadata={"description": "the public app's client id"})
    client_assertion_type = fields.String(metadata={
        "description": "private_key_jwt: urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    client_assertion = fields.String(metadata={"description": "private_key_jwt: the signed assertion"})


class TokenOut(Schema):
    """A bearer token (RFC 6749 §5.1)."""

    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"description": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "seconds"})
    scope = fields.String(metadata={"description": "space-separated scopes granted"})
    refresh_token = fields.String(metadata={"description": "the app's next refresh token (each works once)"})


class OAuthErrorOut(Schema):
    """A token endpoint error (RFC 6749 §5.2): plain JSON, as OAuth clients expect, not problem+json."""

    class Meta:
        unknown = "include"

    error = fields.String(required=True, validate=validate.OneOf([
        "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
        "unsupported_grant_type", "invalid_scope"]))
    error_description = fields.String()
    error_uri = fields.String()


# --- auditors: the audit log and its anomalies ------------------------------------------------------


_ACTION = re.compile(r"[a-z][a-z0-9-]*(?::[a-z0-9-]+)*:?")


def _action_filter(value: str) -> None:
    if not _ACTION.fullmatch(value):
        raise ValidationError("must be an action tag such as consent:query:denied, or a prefix ending in ':' "
                              "such as consent:")
_CURSOR = re.compile(r"v1:([1-9][0-9]{0,17})")
EXPORT_FORMATS = ("jsonl", "csv")


def encode_cursor(seq: int) -> str:
    """Return the opaque cursor that continues a newest-first walk below entry `seq`."""
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


class CursorField(fields.Field[int]):
    """An opaque cursor from `next_cursor`, loaded as the entry number the next page starts below."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and len(value) <= 40:
            try:
                found = _CURSOR.fullmatch(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode())
            except (binascii.Error, UnicodeDecodeError, ValueError):
                found = None
            if found is not None:
                return int(found.group(1))
        raise ValidationError("not a cursor this server gave out: pass next_cursor unchanged")


def _instant(value: datetime) -> None:
    # Far years overflow when moved to UTC, and no entry is older than the service.
    if not datetime(1970, 1, 2, tzinfo=UTC) <= value <= datetime(9999, 1, 1, tzinfo=UTC):
        raise ValidationError("must be between 1970 and 9998")


class AuditSearchIn(StrictSchema):
    """Filters of the audit log; every one given must hold. The same fields go in the query string (GET) or
    the JSON body (POST .../search, which keeps a citizen ID out of URLs and access logs)."""

    actor = fields.String(validate=[validate.Length(min=1, max=80), _no_control_characters], metadata={
        "description": "exact actor: a client id (an organisation: its API clients' and its staff's actions), or a "
                       "person's blind index"})
    staff = fields.String(validate=[validate.Length(min=1, max=40), _no_control_characters], metadata={
        "description": "a member of staff's id: what they did in the portal for their organisation (detail.staff)"})
    institution = fields.String(validate=[validate.Length(min=1, max=40), _no_control_characters], metadata={
        "description": "an institution's client id: its own actions and the ones about it (approvals, releases)"})
    action = fields.String(validate=[validate.Length(min=1, max=60), _action_filter], metadata={
        "description": "an exact tag (consent:query:denied) or a prefix ending in ':' (consent:)",
        "pattern": f"^{_ACTION.pattern}$"})
    outcome = fields.String(validate=validate.OneOf([o.value for o in Outcome]))
    since = fields.AwareDateTime(format="iso", validate=_instant,
                                 metadata={"description": "RFC 3339 with an offset; entries at or after it"})
    until = fields.AwareDateTime(format="iso", validate=_instant,
                                 metadata={"description": "RFC 3339 with an offset; entries before it"})
    person = fields.String(validate=validate.Length(min=1, max=40), metadata={
        "description": "a citizen ID (GB 11643); the server looks up its blind index and keeps only that"})
    cursor = CursorField(metadata={"type": "string", "description": "next_cursor of the previous page"})
    limit = fields.Integer(validate=validate.Range(min=1, max=500), metadata={"description": "default 100"})
    format = fields.String(validate=validate.OneOf(EXPORT_FORMATS), metadata={
        "description": "export every matching entry as JSON Lines or CSV instead of a page (or send Accept: "
                       "application/x-ndjson or text/csv); not with cursor or limit"})

    @validates_schema
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        if "since" in data and "until" in data and data["since"] >= data["until"]:
            raise ValidationError("must be later than since", "until")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> AuditSearch:
        return AuditSearch(**data)


class AuditEntryOut(Schema):
    """One audit entry. Never a payload or a citizen ID: the person appears as a blind index."""

    index = fields.Integer(required=True, metadata={"description": "leaf index in the Merkle tree (seq - 1)"})
    seq = fields.Integer(required=True)
    at = fields.String(required=True, metadata={"description": "RFC 3339 UTC"})
    actor = fields.String(required=True)
    role = fields.String(required=True)
    action = fields.String(required=True)
    subject_ref = fields.String(required=True, allow_none=True,
                                metadata={"description": "the person's blind index (pseudonymous)"})
    purpose = fields.String(required=True, allow_none=True)
    basis = fields.String(required=True, allow_none=True, metadata={"description": "grant id or legal basis"})
    record_ids = fields.List(fields.String(), required=True)
    outcome = fields.String(required=True, validate=validate.OneOf([o.value for o in Outcome]))
    reason = fields.String(required=True, allow_none=True)
    request_id = fields.String(required=True, allow_none=True)
    detail = fields.Dict(required=True)
    leaf_hash = fields.String(required=True, metadata={"description": "base64 SHA-256(0x00 || canonical JSON)"})


class AuditEntryPageOut(Schema):
    entries = fields.List(fields.Nested(AuditEntryOut), required=True, metadata={"description": "newest first"})
    next_cursor = fields.String(required=True, allow_none=True, metadata={"description": "null on the last page"})


class AnomaliesQuery(StrictSchema):
    since = fields.AwareDateTime(format="iso", validate=_instant, metadata={
        "description": "RFC 3339; default: XINYONG_ANOMALY_WINDOW_DAYS before until"})
    until = fields.AwareDateTime(format="iso", validate=_instant, metadata={"description": "RFC 3339; default: now"})

    @validates_schema
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        if "since" in data and "until" in data and data["since"] >= data["until"]:
            raise ValidationError("must be later than since", "until")


class AnomalyOut(Schema):
    institution = fields.Nested(InstitutionOut, required=True)
    kind_of_anomaly = fields.String(required=True, validate=validate.OneOf(
        ["volume", "refusal_rate", "off_hours", "purpose_mismatch", "overdue"]))
    value = fields.Float(required=True, metadata={"description": "queries, a rate (0-1) or a count of queries"})
    threshold = fields.Float(required=True, metadata={"description": "the value above which it stands out"})
    reason = fields.String(required=True)
    purpose = fields.String(allow_none=True, metadata={"description": "purpose_mismatch: the purpose used"})
    entries = fields.List(fields.Integer(), metadata={
        "description": "purpose_mismatch: the seq of each query (at most 1000)"})
    agency = fields.Nested(InstitutionOut, metadata={"description": "overdue: the agency that must answer"})
    objection_id = fields.String(metadata={"description": "overdue: the objection"})
    repair_id = fields.String(metadata={"description": "overdue: the repair application"})
    step = fields.String(metadata={
        "description": "overdue: the step past its deadline (accept or decide; repair_decide for a repair)"})
    deadline = fields.String(metadata={"description": "overdue: the last working day it was due"})


class AnomalyThresholdsOut(Schema):
    volume_factor = fields.Float(required=True)
    min_queries = fields.Integer(required=True)
    refusal_rate = fields.Float(required=True)
    off_hours_share = fields.Float(required=True)


class LateFilerOut(Schema):
    provider = fields.Nested(ProviderOut, required=True)
    filed = fields.Integer(required=True, metadata={"description": "records with a publication deadline filed"})
    late = fields.Integer(required=True, metadata={"description": "of them, filed after the deadline"})
    late_rate = fields.Float(required=True, metadata={"description": "late / filed (0-1)"})
    reason = fields.String(required=True)


class AnomalyReportOut(Schema):
    since = fields.String(required=True)
    until = fields.String(required=True)
    median_queries = fields.Float(required=True, metadata={"description": "over institutions that queried"})
    thresholds = fields.Nested(AnomalyThresholdsOut, required=True)
    anomalies = fields.List(fields.Nested(AnomalyOut), required=True)
    late_filers = fields.List(fields.Nested(LateFilerOut), required=True, metadata={
        "description": "source agencies that filed records after their publication deadline, highest rate first"})


class AccessLogQuery(StrictSchema):
    before = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1),
                            metadata={"description": "entries older than this seq"})
    limit = fields.Integer(validate=validate.Range(min=1, max=500), load_default=200)


class AccessLogEntryOut(Schema):
    index = fields.Integer(required=True, metadata={"description": "leaf index in the audit Merkle tree"})
    at = fields.String(required=True)
    who = fields.String(required=True)
    actor = fields.String(required=True)
    role = fields.String(required=True)
    action = fields.String(required=True)
    purpose = fields.String(allow_none=True, required=True)
    basis = fields.String(allow_none=True, required=True)
    released = fields.Dict(required=True, metadata={"description": "record ids and categories released"})
    outcome = fields.String(required=True)
    reason = fields.String(allow_none=True, required=True)
    entry = fields.Dict(required=True, metadata={"description": "the entry document whose canonical JSON is the leaf"})
    leaf_hash = fields.String(required=True)
    proof = fields.Dict(allow_none=True, required=True, metadata={
        "description": "{tree_size, audit_path} against tree_head; null until a head covers it"})
    verified = fields.Boolean(required=True)


class AccessLogOut(Schema):
    tree_head = fields.Dict(allow_none=True, required=True)
    tree_head_signature_valid = fields.Boolean(required=True)
    entries = fields.List(fields.Nested(AccessLogEntryOut), required=True)
    next_before = fields.Integer(allow_none=True, required=True)


class AppLoginOut(Schema):
    client_id = fields.String(required=True)
    name = fields.Nested(NameOut, required=True)
    scope = fields.String(required=True, metadata={"description": "the scopes the app holds, space-separated"})
    may = fields.List(fields.Nested(NameOut), required=True,
                      metadata={"description": "what the scopes let the app see and do, in Chinese and English"})
    since = fields.String(required=True, metadata={"description": "when the person allowed it (RFC 3339)"})
    last_used_at = fields.String(required=True, allow_none=True,
                                 metadata={"description": "its last use of the API, to within 5 minutes"})
    logins = fields.Integer(required=True, metadata={"description": "live sign-ins (one per authorization code)"})


class AppRevokedOut(Schema):
    client_id = fields.String(required=True)
    tokens_revoked = fields.Integer(required=True)


# --- objections (异议) ---------------------------------------------------------------------------


class EvidenceIn(StrictSchema):
    filename = fields.String(required=True, validate=[validate.Length(min=1, max=200), _no_control_characters,
                                                      _no_hidden_characters])
    content_type = fields.String(required=True, validate=validate.OneOf(["application/pdf", "image/jpeg", "image/png"]))
    content_base64 = fields.String(required=True, metadata={"description": "the file, standard base64"})

    @post_load
    def _decode(self, data: dict[str, Any], **_: Any) -> Evidence:
        try:
            content = base64.b64decode(data["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("not valid base64", "content_base64") from None
        if not content:
            raise ValidationError("an empty file is no evidence", "content_base64")
        return Evidence(data["filename"], data["content_type"], content)


class ObjectionIn(StrictSchema):
    record_id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$"))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000),
                           metadata={"description": "why the record is wrong: sealed under your key"})
    evidence = fields.List(fields.Nested(EvidenceIn), load_default=list, metadata={
        "description": "at most 5 files, 10 MB in all, PDF, JPEG or PNG (checked by their bytes)"})


class ObjectionQueueQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(
        ["submitted", "accepted", "refused", "corrected", "revoked", "upheld"]),
        metadata={"description": "default: the open ones (submitted and accepted)"})


class RefuseIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                           metadata={"description": "why it is not accepted: the person is told"})


class DecideIn(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(["corrected", "revoked", "upheld"]))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    correction = fields.Dict(metadata={"description": "corrected: the record's whole corrected payload"})

    @validates_schema
    def _correction(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("outcome") == "corrected" and not data.get("correction"):
            raise ValidationError("a corrected record needs its corrected payload", "correction")
        if data.get("outcome") != "corrected" and "correction" in data:
            raise ValidationError("only a corrected record takes a correction", "correction")


class ObjectionStepOut(Schema):
    step = fields.String(required=True, metadata={"description": "submitted, accept, decide or correct"})
    status = fields.String(required=True)
    date = fields.String(allow_none=True, required=True, metadata={"description": "when it was taken (CST)"})
    deadline = fields.String(allow_none=True, required=True, metadata={"description": "last working day (CST)"})
    working_days = fields.Integer()
    words = fields.String(allow_none=True, metadata={"description": "the agency's words"})
    corrected_record_id = fields.String(allow_none=True)


class EvidenceOut(Schema):
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    content_base64 = fields.String(metadata={"description": "to the answering agency only (an audited release)"})


class ObjectionOut(Schema):
    id = fields.String(required=True)
    record_id = fields.String(required=True)
    status = fields.String(required=True)
    submitted_at = fields.String(required=True)
    agency = fields.Nested(InstitutionOut, required=True)
    accept_by = fields.String(required=True)
    decide_by = fields.String(allow_none=True, required=True)
    open_step = fields.String(allow_none=True, required=True)
    deadline = fields.String(allow_none=True, required=True)
    overdue = fields.Boolean(required=True)
    steps = fields.List(fields.Nested(ObjectionStepOut), required=True)
    corrected_record_id = fields.String(allow_none=True, required=True)
    listing_id = fields.String(metadata={
        "description": "an objection to a proposed listing: decided revoked, the listing is dropped and the "
                       "record stays; upheld, the listing may take effect"})
    calendar_note = fields.String()
    reason = fields.String()
    agency_words = fields.String(allow_none=True)
    evidence = fields.List(fields.Nested(EvidenceOut))
    institutions_told = fields.List(fields.Nested(lambda: ToldOut()), metadata={
        "description": "to the person: the institutions told of the decision, with the report each received"})


class ToldOut(Schema):
    institution = fields.Dict(required=True)
    report_id = fields.String(required=True)
    status = fields.String(required=True)
    at = fields.String(required=True)


class ObjectionListOut(Schema):
    objections = fields.List(fields.Nested(ObjectionOut), required=True)


_ROW_ID_MAX = 2**31 - 1  # notices and notifications have INTEGER ids (32 bits on PostgreSQL)


class NoticesQuery(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100),
                           metadata={"description": "notices per page, 1 to 100 (50)"})
    before = fields.Integer(validate=validate.Range(min=1, max=_ROW_ID_MAX),
                            metadata={"description": "next_before of the previous page"})


class NoticeOut(Schema):
    id = fields.Integer(required=True)
    issued_at = fields.String(required=True)
    report_id = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "description": "corrected, revoked, withdrawn from display or repaired"})
    notice = fields.Dict(required=True, metadata={
        "description": "the signed claims: report_id, record {position, category, decided_at}, status"})
    jws = fields.String(required=True, metadata={"description": "the notice signed with the keys of the JWKS"})


class NoticeListOut(Schema):
    notices = fields.List(fields.Nested(NoticeOut), required=True)
    next_before = fields.Integer(required=True, allow_none=True, metadata={"description": "null on the last page"})


class NotificationsQuery(StrictSchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100),
                           metadata={"description": "notifications per page, 1 to 100 (20)"})
    before = fields.Integer(validate=validate.Range(min=1, max=_ROW_ID_MAX),
                            metadata={"description": "next_before of the previous page"})


class MarkReadIn(StrictSchema):
    ids = fields.List(fields.Integer(validate=validate.Range(min=1, max=_ROW_ID_MAX)),
                      validate=validate.Length(min=1, max=100),
                      metadata={"description": "the notifications to mark read; all of yours if left out"})


class NotificationOut(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={
        "description": "consent_request, objection_step, record_changed, notice_sent, declaration_step or "
                       "commitment_step"})
    ref = fields.String(required=True, metadata={"description": "the id of the request, objection, record or notice"})
    status = fields.String(required=True, allow_none=True)
    at = fields.String(required=True)
    read = fields.Boolean(required=True)
    text = fields.Dict(required=True, metadata={"description": "the words, {zh, en}, rendered when read"})


class NotificationListOut(Schema):
    notifications = fields.List(fields.Nested(NotificationOut), required=True)
    unread = fields.Integer(required=True)
    next_before = fields.Integer(required=True, allow_none=True)


class MarkedOut(Schema):
    marked = fields.Integer(required=True)
    unread = fields.Integer(required=True)


# --- credit repair (信用修复) -----------------------------------------------------------------------


class CommitmentIn(StrictSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=4000),
                         metadata={"description": "your credit commitment (信用承诺): sealed under your key"})
    accepted = fields.Boolean(required=True, validate=validate.Equal(True, error="the commitment must be accepted"))


class RepairIn(StrictSchema):
    record_id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$"))
    methods = fields.List(fields.String(validate=validate.Length(min=1, max=40)), required=True,
                          validate=validate.Length(min=1, max=9),
                          metadata={"description": "codes of GET /api/v1/repair-rules: how you repaired"})
    statement = fields.String(required=True, validate=validate.Length(min=1, max=4000),
                              metadata={"description": "what you did to correct it: sealed under your key"})
    evidence = fields.List(fields.Nested(EvidenceIn), load_default=list, metadata={
        "description": "at most 5 files, 10 MB in all, PDF, JPEG or PNG (checked by their bytes)"})
    commitment = fields.Nested(CommitmentIn, required=True)


class RepairQueueQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(["submitted", "repaired", "refused"]),
                           metadata={"description": "default: the open ones (submitted)"})


class RepairDecideIn(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(["repaired", "refused"]))
    effect = fields.String(validate=validate.OneOf(["stop_sharing", "mask", "delete", "mark"]),
                           metadata={"description": "repaired: what it does (REP-8); no third party receives it"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                           metadata={"description": "the person is told: why, and for a refusal what is missing"})

    @validates_schema
    def _effect(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("outcome") == "repaired" and not data.get("effect"):
            raise ValidationError("a repair needs its effect", "effect")
        if data.get("outcome") == "refused" and "effect" in data:
            raise ValidationError("only a repair takes an effect", "effect")


class RepairMethodOut(Schema):
    code = fields.String(required=True)
    zh = fields.String(required=True)
    en = fields.String(required=True)
    reason = fields.String(required=True)


class QualifyOut(Schema):
    from_ = fields.String(data_key="from", allow_none=True, required=True)
    methods = fields.List(fields.Nested(RepairMethodOut), required=True)
    conditions = fields.String(required=True)
    reapply = fields.String(required=True)


class RepairCommitmentOut(Schema):
    text = fields.String(required=True)
    accepted = fields.Boolean(required=True)


class RepairChangedOut(Schema):
    record_id = fields.String(required=True)
    outcome = fields.String(required=True)
    effect = fields.String(allow_none=True, required=True)
    released_to_third_parties = fields.Boolean(required=True)
    decided_at = fields.String(allow_none=True, required=True)


class RepairOut(Schema):
    id = fields.String(required=True)
    record_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["submitted", "repaired", "refused"]))
    methods = fields.List(fields.String(), required=True)
    submitted_at = fields.String(required=True)
    agency = fields.Nested(InstitutionOut, required=True)
    decide_by = fields.String(required=True, metadata={"description": "last working day to decide (CST)"})
    working_days = fields.Integer(required=True)
    overdue = fields.Boolean(required=True)
    decided_on = fields.String(allow_none=True, required=True)
    effect = fields.String(allow_none=True, required=True)
    calendar_note = fields.String()
    what_would_qualify = fields.Nested(QualifyOut, metadata={"description": "refused: what would qualify"})
    statement = fields.String()
    commitment = fields.Nested(RepairCommitmentOut)
    agency_words = fields.String(allow_none=True)
    evidence = fields.List(fields.Nested(EvidenceOut))
    changed = fields.Nested(RepairChangedOut, metadata={"description": "a decision: what it did to the record"})


class RepairListOut(Schema):
    repairs = fields.List(fields.Nested(RepairOut), required=True)


class PdfQuery(StrictSchema):
    lang = fields.String(validate=validate.OneOf(["zh", "en"]),
                         metadata={"description": "the language of the PDF's words; default: the portal's "
                                                  "language cookie, then Accept-Language, else Chinese"})


PDF_RESPONSE = {"200": {
    "description": "The signed report as a PDF (report id, words from the catalogue, Beijing time, a QR code of "
                   "its /verify link, the JWS in an appendix), as an attachment",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    "headers": {"Content-Disposition": {"description": "attachment; filename=REPORT_ID.pdf",
                                        "schema": {"type": "string"}}},
}}


class VerifyIn(StrictSchema):
    jws = fields.String(required=True, validate=validate.Length(max=200_000),
                        metadata={"description": "a report's compact JWS (line breaks and spaces are ignored)"})
    sha256 = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]{43}$"),
                           metadata={"description": "the verification code printed on the report (its QR code's "
                                                    "sha256): the JWS must be that report"})


class VerifyOut(Schema):
    valid = fields.Boolean(required=True)
    reason = fields.String(allow_none=True, required=True, metadata={
        "description": "why not: empty, too_long, malformed, unsupported_algorithm, unknown_key, bad_signature, "
                       "not_a_report, digest_mismatch"})
    explanation = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True, required=True,
                              metadata={"description": "the reason in words, zh and en"})
    kind = fields.String(allow_none=True, required=True,
                         metadata={"description": "self (a person's own report) or institution"})
    kid = fields.String(allow_none=True, required=True, metadata={"description": "the signing key's id"})
    report = fields.Dict(allow_none=True, required=True, metadata={"description": "the verified claims"})


_MEASURE_CODE = validate.Regexp(r"^[a-z_]{1,40}$")


class ListingIn(StrictSchema):
    record_id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$"), metadata={
        "description": "your own record the listing rests on: serious dishonesty for black, positive for red"})
    list_ = fields.String(data_key="list", required=True, validate=validate.OneOf(["black", "red"]))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000), metadata={
        "description": "the reason (事由) the person is told: sealed under their key"})
    basis = fields.String(required=True, validate=validate.Length(min=1, max=500), metadata={
        "description": "the listing standard and its legal basis (依据): sealed under the person's key"})
    measures = fields.List(fields.String(validate=_MEASURE_CODE), required=True,
                           validate=validate.Length(min=1, max=10),
                           metadata={"description": "codes of GET /api/v1/list-rules for this list"})


class ListingEndIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000), metadata={
        "description": "why the proposal is withdrawn or the listing removed: the person is told"})


class ListingObjectionIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000),
                           metadata={"description": "why you should not be listed: sealed under your key"})
    evidence = fields.List(fields.Nested(EvidenceIn), load_default=list, metadata={
        "description": "at most 5 files, 10 MB in all, PDF, JPEG or PNG (checked by their bytes)"})


class ListingQueueQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(["proposed", "in_effect", "suspended", "dropped", "ended"]),
                           metadata={"description": "default: those not ended (proposed, in effect, suspended)"})


class NamesOut(Schema):
    zh = fields.String(required=True)
    en = fields.String(required=True)


class MeasureOut(Schema):
    code = fields.String(required=True)
    zh = fields.String(required=True)
    en = fields.String(required=True)
    type = fields.String(required=True, metadata={"description": "mandatory or recommended (LIST-16)"})
    basis = fields.String(required=True)


class ListingVersionOut(Schema):
    version = fields.Integer(required=True)
    status = fields.String(required=True)
    cause = fields.String(required=True)
    why = fields.String(allow_none=True, required=True)
    on = fields.String(allow_none=True, required=True, metadata={"description": "the day it changed (CST)"})
    words = fields.String(allow_none=True, metadata={"description": "to the person: the agency's words"})


class RemedyOut(Schema):
    code = fields.String(required=True)
    zh = fields.String(required=True)
    en = fields.String(required=True)
    how = fields.String(required=True)


class ListingObjectionOut(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True)
    accept_by = fields.String(required=True)
    follow_at = fields.String(required=True)


class ListingOut(Schema):
    id = fields.String(required=True)
    list_ = fields.String(data_key="list", required=True)
    list_name = fields.Nested(NamesOut, required=True)
    record_id = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "description": "proposed, in_effect, suspended (red, while on the black list), dropped or ended"})
    version = fields.Integer(required=True)
    agency = fields.Nested(InstitutionOut, required=True)
    proposed_on = fields.String(allow_none=True, required=True)
    objection_until = fields.String(allow_none=True, required=True, metadata={
        "description": "last day of the objection window (CST); it takes effect after it, unless an objection waits"})
    objection_window_working_days = fields.Integer(allow_none=True, required=True)
    objection_id = fields.String(allow_none=True, required=True)
    objection_open = fields.Boolean(required=True)
    may_object = fields.Boolean(required=True)
    effective_on = fields.String(allow_none=True, required=True)
    until = fields.String(allow_none=True, required=True, metadata={"description": "in effect until this day"})
    ended_on = fields.String(allow_none=True, required=True)
    end_cause = fields.String(allow_none=True, required=True)
    measures = fields.List(fields.Nested(MeasureOut), required=True)
    monitored_until = fields.String(allow_none=True, required=True, metadata={
        "description": "after a black listing: under key credit monitoring until this day (LIST-9)"})
    versions = fields.List(fields.Nested(ListingVersionOut), required=True)
    calendar_note = fields.String()
    reason = fields.String(metadata={"description": "to the person: the reason (事由)"})
    basis = fields.String(metadata={"description": "to the person: the basis (依据)"})
    removal = fields.Nested(NamesOut, metadata={"description": "to the person: removal conditions and procedure"})
    remedies = fields.List(fields.Nested(RemedyOut), metadata={"description": "to the person: the remedy routes"})
    rights = fields.Nested(NamesOut, metadata={"description": "to the person: their rights before the listing"})
    objection = fields.Nested(ListingObjectionOut, metadata={"description": "the objection just filed"})


class ListingListOut(Schema):
    listings = fields.List(fields.Nested(ListingOut), required=True)


class ListingRunOut(Schema):
    took_effect = fields.List(fields.String(), required=True)
    ended = fields.List(fields.String(), required=True)


# --- voluntary registration (自愿注册) and credit commitments (信用承诺) -------------------------------

_ID = r"^[A-Za-z0-9_-]{1,40}$"


class DeclarationCommitmentIn(CommitmentIn):
    # Found false, the commitment is the record's "what was promised", which holds 2000 characters and nothing
    # hidden: what the record would refuse is refused here, or the agency could never record the finding.
    text = fields.String(required=True, validate=[validate.Length(min=1, max=2000), _no_hidden_characters],
                         metadata={"description": "your credit commitment (信用承诺): sealed under your key"})


class DeclarationIn(StrictSchema):
    category = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9_]{1,60}$"), metadata={
        "description": "a category open to voluntary registration (GET /api/v1/declaration-rules)"})
    payload = fields.Dict(required=True, metadata={
        "description": "the category's fields, checked as the catalogue's rules check a record's"})
    evidence = fields.List(fields.Nested(EvidenceIn), load_default=list, metadata={
        "description": "at most 5 files, 10 MB in all, PDF, JPEG or PNG (checked by their bytes)"})
    commitment = fields.Nested(DeclarationCommitmentIn, required=True, metadata={
        "description": "your credit commitment that what you declare is true (VOL-1): found false, it is recorded"})


class DeclarationQueueQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(["unverified", "verified", "false"]),
                           metadata={"description": "default: those waiting (unverified)"})


class DeclarationVerifyIn(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(["verified", "false"]))
    # Found false, the reason is the record's finding, which holds no hidden characters: refused here, by its name.
    reason = fields.String(required=True, validate=[validate.Length(min=1, max=1000), _no_hidden_characters,
                                                    _printable_text],
                           metadata={"description": "the person is told; found false, it is the finding recorded"})


class AcceptedTextOut(Schema):
    text = fields.String(required=True)
    accepted = fields.Boolean(required=True)


class RemediesOut(Schema):
    record_id = fields.String(required=True)
    objection = fields.Dict(required=True, metadata={"description": "where to object to the record"})
    repair = fields.Dict(required=True, allow_none=True, metadata={"description": "whether, from when and how "
                                                                                  "it may be repaired"})


class DeclarationOut(Schema):
    id = fields.String(required=True)
    category = fields.String(required=True)
    category_name = fields.Dict(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["unverified", "verified", "false"]))
    self_reported = fields.Boolean(required=True)
    submitted_at = fields.String(required=True)
    verify_by = fields.String(required=True, metadata={"description": "last working day to verify (CST)"})
    working_days = fields.Integer(required=True)
    overdue = fields.Boolean(required=True)
    decided_on = fields.String(allow_none=True, required=True)
    agency = fields.Nested(InstitutionOut, allow_none=True, required=True)
    record_id = fields.String(allow_none=True, required=True, metadata={
        "description": "the record it became: of its category if verified, the broken commitment if false"})
    released_to_third_parties = fields.Boolean(required=True, metadata={
        "description": "only a verified declaration is ever released, as its category's rules allow"})
    calendar_note = fields.String()
    remedies = fields.Nested(RemediesOut, metadata={"description": "found false: how to object or repair"})
    payload = fields.Dict()
    commitment = fields.Nested(AcceptedTextOut)
    authorisation = fields.Nested(AcceptedTextOut)
    agency_words = fields.String(allow_none=True)
    evidence = fields.List(fields.Nested(EvidenceOut))


class DeclarationListOut(Schema):
    declarations = fields.List(fields.Nested(DeclarationOut), required=True)


class SignCommitmentIn(StrictSchema):
    template = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]{1,40}$"), metadata={
        "description": "a template code of GET /api/v1/commitment-templates"})
    accepting_body = fields.String(required=True, validate=validate.Regexp(_ID), metadata={
        "description": "the client id of the institution or authority the commitment is made to"})
    accepted = fields.Boolean(required=True, validate=validate.Equal(True, error="the commitment must be accepted"),
                              metadata={"description": "you accept the template's text"})
    # Broken, the details go into the breach record's "what was promised", which holds nothing hidden.
    details = fields.String(validate=[validate.Length(min=1, max=1000), _no_hidden_characters], metadata={
        "description": "what the commitment is about (the documents to supply, the post): sealed under your key"})
    due_date = fields.Date(metadata={"description": "by when it is to be kept, where the template has one"})


class CommitmentQueueQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(["pending", "fulfilled", "breached"]),
                           metadata={"description": "default: the pending ones"})


class CommitmentOutcomeIn(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(["fulfilled", "breached"]))
    # Breached, the reason is the record's finding, which holds no hidden characters: refused here, by its name.
    reason = fields.String(required=True, validate=[validate.Length(min=1, max=1000), _no_hidden_characters,
                                                    _printable_text],
                           metadata={"description": "the person is told; breached, it is the finding recorded"})
    breach = fields.String(validate=validate.OneOf(["not_fulfilled", "violated", "false_commitment"]),
                           metadata={"description": "breached: how (default not_fulfilled)"})

    @validates_schema
    def _breach(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("outcome") == "fulfilled" and "breach" in data:
            raise ValidationError("only a breach says how it was broken", "breach")


class CommitmentOut(Schema):
    id = fields.String(required=True)
    template = fields.String(required=True)
    scenario = fields.String(allow_none=True, required=True)
    name = fields.Dict(allow_none=True, required=True)
    accepting_body = fields.Nested(InstitutionOut, required=True)
    status = fields.String(required=True, validate=validate.OneOf(["pending", "fulfilled", "breached"]))
    signed_at = fields.String(required=True)
    due_date = fields.String(allow_none=True, required=True)
    overdue = fields.Boolean(required=True)
    decided_on = fields.String(allow_none=True, required=True)
    record_id = fields.String(allow_none=True, required=True, metadata={"description": "the breach record, if any"})
    if_breached = fields.String(required=True, metadata={"description": "what a breach does, by accepting body"})
    remedies = fields.Nested(RemediesOut, metadata={"description": "a breach record: how to object or repair"})
    text = fields.String()
    details = fields.String(allow_none=True)
    body_words = fields.String(allow_none=True)


class CommitmentListOut(Schema):
    commitments = fields.List(fields.Nested(CommitmentOut), required=True)
