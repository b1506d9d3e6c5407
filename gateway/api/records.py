"""Records API for source agencies."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask_smorest import Blueprint

from gateway.api.base import BEARER, access_for, problems, provider_of
from gateway.context import db, runtime
from gateway.oauth import bearer
from gateway.schemas import IdempotencyHeader, RecordIn, RecordOut, RevokeIn
from gateway.usecases import records as use
from vault.records import Ingested

blp = Blueprint("records", __name__, url_prefix="/api/v1", description="Records from source agencies")


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
@blp.response(201, RecordOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 409, 422)
def create_record(data: dict[str, Any], headers: dict[str, Any]) -> Response:
    """Submit a record about a person (scope records:write).

    A record whose display period has already ended is stored: the person sees it, third
    parties never do. Retries with the same Idempotency-Key return the first result.
    """
    caller = bearer("records:write", ("provider",))
    key = headers.get("idempotency_key")
    result = use.submit(db(), runtime(), provider_of(caller), data, key, access_for(caller.actor, "provider"))
    response = jsonify(_out(result))
    response.status_code = 201
    if key and not result.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.route("/records/<string:record_id>/revoke", methods=["POST"])
@blp.arguments(RevokeIn)
@blp.response(200, RecordOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409, 422)
def revoke_record(data: dict[str, Any], record_id: str) -> Response:
    """Revoke one of your own records with a reason: kept in history, no longer shown."""
    caller = bearer("records:write", ("provider",))
    result = use.revoke(db(), runtime(), provider_of(caller), record_id, data["reason"],
                        access_for(caller.actor, "provider"))
    return jsonify(_out(result))
