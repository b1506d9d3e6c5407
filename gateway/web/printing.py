"""The PDF downloads: the person's own report and an institution's stored report, in the reader's language.

Each download goes through the same use case as its JSON form (`people.signed_self_report`,
`consents.get_report`), so it is the same audited access; this module only turns the signed result into a
PDF (gateway/pdf.py) with a verification link to this service's /verify.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from gateway import pdf, verification
from gateway.labels import LOCALES, Labels
from gateway.usecases import consents, people
from gateway.web import sessions
from gateway.web.context import runtime

bp = Blueprint("printing", __name__)


def request_locale() -> str:
    """Return `zh` or `en`: the `lang` asked for, else the best of Accept-Language, else Chinese."""
    asked = request.args.get("lang", "")
    if asked in LOCALES:
        return asked
    return request.accept_languages.best_match(LOCALES, default="zh") or "zh"


def verify_base() -> str:
    """Return the service's public base URL (XINYONG_PUBLIC_URL), else the one the request reached."""
    return runtime().settings.public_url or request.host_url.rstrip("/")


def labels(locale: str) -> Labels:
    """Return the catalogue's and purposes' words in `locale`."""
    rt = runtime()
    return Labels(rt.catalogue, rt.purposes, locale)


def pdf_response(data: bytes, report_id: str) -> Response:
    """Return a PDF as an attachment named after its report; never cached (it holds personal data)."""
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{report_id}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


def person_pdf(subject_ref: str, locale: str) -> Response:
    """Return the person's own report as a PDF (one audited self-report read)."""
    signed = people.signed_self_report(runtime(), subject_ref, g.get("request_id"))
    report_id = signed.report["report_id"]
    url = verification.link(verify_base(), report_id, signed.jws)
    return pdf_response(pdf.person_report(signed, labels(locale), url), report_id)


def institution_pdf(institution_id: str, report_id: str, locale: str) -> Response:
    """Return an institution's stored report as a PDF (one audited retrieval, as GET /api/v1/reports/{id})."""
    rt = runtime()
    signed = consents.get_report(rt.uow, rt.vault, institution_id, report_id, g.get("request_id"))
    url = verification.link(verify_base(), report_id, signed.jws)
    return pdf_response(pdf.institution_report(signed, labels(locale), url), report_id)


@bp.get("/me/report.pdf")
def my_report_pdf() -> BaseResponse:
    """The person's signed report as a PDF, from the portal (the session's person only)."""
    ref = sessions.person()
    if ref is None:
        return redirect(url_for("portal.login_form", next="/me/report.pdf"))
    return person_pdf(ref, request_locale())
