"""Anyone may check a report's signature: POST /api/v1/verify (the page is /verify)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from gateway import verification
from gateway.verification import REASONS, Verdict
from gateway.web.api.base import XinyongBlueprint, problems
from gateway.web.context import runtime
from gateway.web.schemas import VerifyIn, VerifyOut

blp = XinyongBlueprint("verification", __name__, url_prefix="/api/v1",
                       description="Verify a signed report against the published keys")


def verdict_out(verdict: Verdict) -> dict[str, Any]:
    """Return a verdict as the API answers it: valid or not, why in words, and the verified claims."""
    return {"valid": verdict.valid, "reason": verdict.reason,
            "explanation": None if verdict.reason is None else REASONS[verdict.reason],
            "kind": verdict.kind, "kid": verdict.kid, "report": verdict.claims}


@blp.route("/verify", methods=["POST"])
@blp.arguments(VerifyIn)
@blp.response(200, VerifyOut)
@problems(blp, 400, 413, 422)
def verify(data: dict[str, Any]) -> Response:
    """Check that a report's JWS was signed by this service (any published key) and is unaltered.

    Reads nothing stored and records nothing: the caller already holds the report. A JWS that does not
    verify is still a 200, with `valid: false` and the reason.
    """
    found = verification.check(data["jws"], runtime().vault.jwks(), data.get("sha256"))
    response = jsonify(verdict_out(found))
    response.headers["Cache-Control"] = "no-store"
    return response
