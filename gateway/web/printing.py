"""The PDF downloads: the person's own report and an institution's stored report, in the reader's language.

Each download goes through the same use case as its JSON form (`people.signed_self_report`,
`consents.get_report`), so it is the same audited access; this module only turns the signed result into a
PDF (gateway/pdf.py) with the portal's words for codes and a verification link to this service's /verify.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, Response, g, redirect, request, url_for
from flask_babel import force_locale
from werkzeug.wrappers import Response as BaseResponse

from gateway import pdf, verification
from gateway.usecases import consents, people
from gateway.usecases.consents import SignedReport
from gateway.web import labels, sessions
from gateway.web.context import runtime

bp = Blueprint("printing", __name__)


class PortalWords:
    """The portal's words for codes and times (gateway/web/labels.py), for a PDF made in this request."""

    @property
    def locale(self) -> str:
        return labels.lang()

    def category(self, code: str) -> str:
        return labels.category(code)

    def field(self, category: str, name: str) -> str:
        return labels.field(category, name)

    def value(self, category: str, name: str, raw: object) -> str:
        return labels.value(category, name, raw)

    def document_type(self, code: str) -> str:
        return labels.code_entry("document_types", code)

    def purpose(self, code: str) -> str:
        return labels.purpose(code)

    def label(self, kind: str, code: str) -> str:
        return labels.label(kind, code)

    def moment(self, at: str) -> str:
        return labels.bjt(at)

    def day(self, on: str) -> str:
        return labels.day(on)


def verify_base() -> str:
    """Return the service's public base URL (XINYONG_PUBLIC_URL), else the one the request reached."""
    return runtime().settings.public_url or request.host_url.rstrip("/")


def pdf_response(data: bytes, report_id: str) -> Response:
    """Return a PDF as an attachment named after its report; never cached (it holds personal data)."""
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{report_id}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _printed(signed: SignedReport, render: Callable[[SignedReport, pdf.Words, str], bytes],
             locale: str | None) -> Response:
    """Return the signed report as a PDF in `locale` (else the reader's language), linked to /verify."""
    report_id = signed.report["report_id"]
    url = verification.link(verify_base(), report_id, signed.jws)
    if locale is None:
        return pdf_response(render(signed, PortalWords(), url), report_id)
    with force_locale(locale):
        return pdf_response(render(signed, PortalWords(), url), report_id)


def person_pdf(subject_ref: str, locale: str | None = None) -> Response:
    """Return the person's own report as a PDF (one audited self-report read)."""
    signed = people.signed_self_report(runtime(), subject_ref, g.get("request_id"))
    return _printed(signed, pdf.person_report, locale)


def institution_pdf(institution_id: str, report_id: str, locale: str | None = None) -> Response:
    """Return an institution's stored report as a PDF (one audited retrieval, as GET /api/v1/reports/{id})."""
    rt = runtime()
    signed = consents.get_report(rt.uow, rt.vault, institution_id, report_id, g.get("request_id"))
    return _printed(signed, pdf.institution_report, locale)


@bp.get("/me/report.pdf")
def my_report_pdf() -> BaseResponse:
    """The person's signed report as a PDF, from the portal (the session's person only)."""
    ref = sessions.person()
    if ref is None:
        return redirect(url_for("portal.login_form", next="/me/report.pdf"))
    return person_pdf(ref)


def init_app(app: Flask) -> None:
    """Register the portal's PDF download."""
    app.register_blueprint(bp)
