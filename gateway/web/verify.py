"""The /verify page: paste (or reach by a printed report's QR code) a report's JWS and see whether it verifies.

Public and stateless: it reads nothing stored and records nothing, since the visitor already holds the
report. The JWS is posted, never put in a URL (it holds personal data); the QR link carries only the report
id and its verification code, which the page checks the pasted JWS against.
"""

from __future__ import annotations

import re

from flask import Blueprint, Flask, render_template, request

from gateway import verification
from gateway.web.context import runtime

bp = Blueprint("verify", __name__)

_REPORT_ID = re.compile(r"(rp|sr)_[0-9a-f]{24}")
_DIGEST = re.compile(r"[A-Za-z0-9_-]{43}")


def _named() -> tuple[str | None, str | None]:
    """Return the report id and verification code the QR link named, if well-formed (else ignored)."""
    report = request.values.get("report", "")
    code = request.values.get("sha256", "")
    return (report if _REPORT_ID.fullmatch(report) else None, code if _DIGEST.fullmatch(code) else None)


@bp.get("/verify")
def verify_form() -> str:
    report_id, code = _named()
    return render_template("verify/verify.html", report_id=report_id, code=code, verdict=None, pasted="")


@bp.post("/verify")
def verify_pasted() -> str:
    """Answer with the verdict; "not valid" is an answer, not an error of the request (200 either way)."""
    report_id, code = _named()
    pasted = request.form.get("jws", "")
    verdict = verification.check(pasted, runtime().vault.jwks(), code)
    if verdict.valid and report_id and verdict.claims and verdict.claims.get("report_id") != report_id:
        verdict = verification.Verdict(False, "digest_mismatch", kind=verdict.kind, kid=verdict.kid)
    reason = None if verdict.reason is None else verification.REASONS[verdict.reason]
    return render_template("verify/verify.html", report_id=report_id, code=code, verdict=verdict, reason=reason,
                           pasted=pasted)


def init_app(app: Flask) -> None:
    """Register the public /verify page."""
    app.register_blueprint(bp)
