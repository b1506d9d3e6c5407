"""Public keys: the JWK Set that verifies reports, receipts and tree heads."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gateway.web.context import runtime

bp = Blueprint("wellknown", __name__)


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """Return every signing key's public half, old ones included."""
    response = jsonify(runtime().vault.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
