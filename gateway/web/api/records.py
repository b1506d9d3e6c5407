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
from gateway.web.schemas import IdempotencyHeader, RecordIn, RecordOut, RevokeIn
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
        "display_until": result.display_until.isoformat(),
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
