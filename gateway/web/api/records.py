"""Records API for source agencies."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify

from audit.tags import Tag
from gateway.usecases import records as use
from gateway.web.api.base import BEARER, XinyongBlueprint, access_for, problems, provider_of
from gateway.web.context import runtime
from gateway.web.oauth.bearer import bearer
from gateway.web.schemas import CorrectionIn, EndIn, ExtendIn, IdempotencyHeader, RecordIn, RecordOut, RevokeIn
from vault.errors import RecordNotFound
from vault.types import Ingested

blp = XinyongBlueprint("records", __name__, url_prefix="/api/v1", description="Records from source agencies")

# Record ids are short ASCII (the vault's new_record_id, a String(32) column). Anything else names no
# record, and must say so: PostgreSQL refuses a NUL in a query parameter with an error, not an empty result.
_RECORD_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _out(result: Ingested) -> dict[str, Any]:
    return {
        "id": result.id,
        "status": result.status,
        "display_from": result.display_from.isoformat(),
        "display_until": None if result.display_until is None else result.display_until.isoformat(),
        "version": result.version,
        "filed_late": result.filed_late,
    }


@blp.route("/records", methods=["POST"])
@blp.arguments(RecordIn)
@blp.arguments(IdempotencyHeader, location="headers")
@blp.response(201, RecordOut, headers={"Idempotent-Replayed": {
    "description": "present on a retry with the same Idempotency-Key: this is the first result",
    "schema": {"type": "string", "enum": ["true"]}}})
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 409, 422)
def create_record(data: dict[str, Any], headers: dict[str, Any]) -> Response:
    """Submit a record about a person (scope records:write).

    A record whose display period has already ended is stored: the person sees it, third
    parties never do. Retries with the same Idempotency-Key return the first result.
    """
    caller = bearer("records:write", ("provider",))
    key = headers.get("idempotency_key")
    result = use.submit(runtime(), provider_of(caller), data, key, access_for(caller.actor, "provider"))
    response = jsonify(_out(result))
    response.status_code = 201
    if key and not result.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


# No merge_slashes: an id ending in "/" would otherwise be answered with a 308 redirect to another path.
@blp.route("/records/<string:record_id>/revoke", methods=["POST"], merge_slashes=False)
@blp.arguments(RevokeIn)
@blp.response(200, RecordOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409, 422)
def revoke_record(data: dict[str, Any], record_id: str) -> Response:
    """Revoke one of your own records with a reason: kept in history, no longer shown."""
    caller = bearer("records:write", ("provider",))
    access = access_for(caller.actor, "provider")
    if not _RECORD_ID.fullmatch(record_id):
        with use.denials_audited(runtime().uow, access, Tag.RECORD_INGEST_DENIED):
            raise RecordNotFound(record_id)
    result = use.revoke(runtime(), provider_of(caller), record_id, data["reason"], access)
    return jsonify(_out(result))


@blp.route("/records/<string:record_id>/extend", methods=["POST"], merge_slashes=False)
@blp.arguments(ExtendIn)
@blp.response(200, RecordOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409, 422)
def extend_record(data: dict[str, Any], record_id: str) -> Response:
    """Extend the display of one of your own records by a decision: a new version, audited.

    Only where the category allows an extension (its display_extension), counted from the end set on entry.
    """
    caller = bearer("records:write", ("provider",))
    access = _own_record(caller.actor, record_id)
    result = use.extend(runtime(), provider_of(caller), record_id, data["document"], data["display_until"], access)
    return jsonify(_out(result))


@blp.route("/records/<string:record_id>/end", methods=["POST"], merge_slashes=False)
@blp.arguments(EndIn)
@blp.response(200, RecordOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409, 422)
def end_record(data: dict[str, Any], record_id: str) -> Response:
    """End the display of one of your own records early, from today (China Standard Time), by a decision.

    A new version, audited; no report or query uses the record afterwards. For a record shown until its
    agency ends it (a listing until performance, arrears until paid) this is how it ends.
    """
    caller = bearer("records:write", ("provider",))
    access = _own_record(caller.actor, record_id)
    result = use.end(runtime(), provider_of(caller), record_id, data["document"], access)
    return jsonify(_out(result))


@blp.route("/records/<string:record_id>/corrections", methods=["POST"], merge_slashes=False)
@blp.arguments(CorrectionIn)
@blp.response(201, RecordOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409, 422)
def correct_record(data: dict[str, Any], record_id: str) -> Response:
    """Correct one of your own records on your own initiative: a new record with the corrected payload (and
    date or document if given) replaces it; the old one is kept in the person's history as superseded and is
    never released again. Institutions that received it are sent a signed notice (GET /api/v1/notices)."""
    caller = bearer("records:write", ("provider",))
    access = _own_record(caller.actor, record_id)
    result = use.correct(runtime(), provider_of(caller), use.Correction(
        record_id, data["payload"], data["reason"], data.get("decided_at"), data.get("document")), access)
    response = jsonify({**_out(result), "supersedes": record_id})
    response.status_code = 201
    return response


def _own_record(actor: str, record_id: str) -> Any:
    access = access_for(actor, "provider")
    if not _RECORD_ID.fullmatch(record_id):
        with use.denials_audited(runtime().uow, access, Tag.RECORD_INGEST_DENIED):
            raise RecordNotFound(record_id)
    return access
