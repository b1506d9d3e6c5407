"""The /verify page: paste (or reach by a printed report's QR code) a report's JWS and see whether it verifies.

Public and stateless: it reads nothing stored and records nothing, since the visitor already holds the
report. The JWS is posted, never put in a URL (it holds personal data); the QR link carries only the report
id and its verification code, which the page checks the pasted JWS against.
"""

from __future__ import annotations

import re

from flask import Blueprint, render_template, request

from gateway import verification
from gateway.labels import beijing_minute
from gateway.web.context import runtime
from gateway.web.printing import labels, request_locale

bp = Blueprint("verify", __name__)


@bp.app_template_filter("beijing")
def beijing(moment: str, locale: str = "zh") -> str:
    """Return an ISO 8601 moment as Beijing time to the minute."""
    return beijing_minute(moment, locale)

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
    return render_template("verify.html", report_id=report_id, code=code, verdict=None, pasted="")


@bp.post("/verify")
def verify_pasted() -> tuple[str, int]:
    report_id, code = _named()
    pasted = request.form.get("jws", "")
    verdict = verification.check(pasted, runtime().vault.jwks(), code)
    if verdict.valid and report_id and verdict.claims and verdict.claims.get("report_id") != report_id:
        verdict = verification.Verdict(False, "digest_mismatch", kind=verdict.kind, kid=verdict.kid)
    locale = request_locale()
    # 200 either way: "not valid" is an answer, not an error of the request.
    return render_template("verify.html", report_id=report_id, code=code, verdict=verdict, pasted=pasted,
                           labels=labels(locale), locale=locale), 200
