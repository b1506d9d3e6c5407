"""Wire schemas. Input and output are separate; unknown fields are rejected everywhere."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, post_load, validate

from vault.records import Document

_text = validate.Length(min=1, max=200)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True)
    request_id = fields.String()
    field = fields.String(metadata={"description": "the first field that failed"})
    check = fields.String(metadata={"description": "which identity check failed"})
    errors = fields.List(fields.Dict(), metadata={"description": "every field that failed, with the reason"})


class DocumentIn(StrictSchema):
    type = fields.String(required=True, validate=validate.Length(min=1, max=60))
    number = fields.String(required=True, validate=_text)
    authority = fields.String(required=True, validate=_text)
    effective_at = fields.Date(required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Document:
        return Document(**data)


class RecordIn(StrictSchema):
    citizen_id = fields.String(required=True, validate=validate.Length(min=1, max=40),
                               metadata={"description": "18-character resident ID (GB 11643-1999)"})
    name = fields.String(validate=validate.Length(min=1, max=100))
    category = fields.String(required=True, validate=validate.Length(min=1, max=60))
    decided_at = fields.Date(required=True)
    document = fields.Nested(DocumentIn)
    payload = fields.Dict(keys=fields.String(), required=True)


class RecordOut(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True)
    display_from = fields.Date(required=True)
    display_until = fields.Date(required=True, metadata={"description": "first day it is no longer shown"})


class RevokeIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class IdempotencyHeader(Schema):
    class Meta:
        unknown = "exclude"

    idempotency_key = fields.String(data_key="Idempotency-Key", validate=validate.Length(min=1, max=200))


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


class ReportRecordOut(Schema):
    id = fields.String(required=True)
    category = fields.String(required=True)
    category_name = fields.Nested(NameOut, required=True)
    polarity = fields.String(required=True)
    provider = fields.Nested(ProviderOut, required=True)
    status = fields.String(required=True)
    decided_at = fields.Date(required=True)
    display_from = fields.Date(required=True)
    display_until = fields.Date(required=True)
    visible_to_third_parties = fields.Boolean(required=True)
    payload = fields.Dict(required=True)
    document = fields.Dict(allow_none=True, required=True)


class QueryLogOut(Schema):
    institution = fields.String(required=True)
    purpose = fields.String(required=True)
    at = fields.DateTime(required=True)
    categories = fields.List(fields.String(), required=True)
    consent_id = fields.String(allow_none=True)
    outcome = fields.String(required=True)


class SelfReportOut(Schema):
    generated_at = fields.DateTime(required=True)
    catalogue_version = fields.String(required=True)
    subject = fields.Dict(required=True, metadata={"description": "masked ID and name"})
    records = fields.List(fields.Nested(ReportRecordOut), required=True)
    queries = fields.List(fields.Nested(QueryLogOut), required=True)
