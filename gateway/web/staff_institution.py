"""Pages for an institution's staff: ask a person for consent, follow the requests, read a report inside its
window and download it signed, read correction notices. Each page runs the API's own use case through the
member's runtime (staff_portal.acting), so every access is recorded under the member and the institution."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import Response, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from consent.durations import Duration
from consent.errors import ConsentError, QueryRefused, ReportGone, ReportNotFound
from consent.purposes import Purpose
from gateway import pdf, verification
from gateway.usecases import consents, staff
from gateway.usecases import notices as notice_use
from gateway.usecases.records import ShapeInvalid
from gateway.web import printing
from gateway.web.layout import ERROR, tell
from gateway.web.refusals import refusal
from gateway.web.schemas import ConsentRequestIn
from gateway.web.staff_portal import Page, acting, bp, current, may_act, member_page
from vault.errors import InvalidCitizenId

ROLE = "institution"


def _purposes() -> list[Purpose]:
    """Return the purposes this institution's kind may use, in the file's order."""
    kind = current().org_kind
    return [p for p in acting().purposes.purposes.values() if kind in p.institution_kinds]


@bp.get("/institution")
@member_page(ROLE)
def institution_desk() -> str:
    """The institution's requests (newest first) with the consents they led to, and its reports."""
    rt = acting()
    desk = consents.institution_desk(rt.uow, current().org_id)
    return render_template("institution/desk.html", desk=desk, may_act=may_act())


@bp.get("/institution/ask")
@member_page(ROLE)
def institution_ask() -> str:
    return _ask_page(request.args.get("purpose"), MultiDict(), {})


def _ask_page(code: str | None, form: MultiDict[str, str], errors: dict[str, str]) -> str:
    purposes = _purposes()
    chosen = next((p for p in purposes if p.code == code), None)
    return render_template("institution/ask.html", purposes=purposes, chosen=chosen, form=form,
                           errors=errors, may_act=may_act(), max_days=_days(chosen.max_consent) if chosen else None)


def _days(duration: Duration) -> int:
    return duration.years * 366 + duration.months * 31 + duration.days if duration.years or duration.months \
        else duration.days


@bp.post("/institution/ask")
@member_page(ROLE)
def institution_ask_post() -> Page:
    staff.require_act(current())
    form = request.form
    code = form.get("purpose", "")
    errors: dict[str, str] = {}
    days = _whole(form.get("valid_days", ""), "valid_for", errors)
    uses = _whole(form.get("max_uses", "") or "1", "max_uses", errors)
    if not form.get("reason", "").strip():
        errors["reason"] = _("Say why you ask: the person reads it.")
    else:  # the API's rules for it (its length, no control characters), which the consent layer leaves to it
        try:
            _REASON.deserialize(form.get("reason", "").strip())
        except ValidationError as exc:
            errors["reason"] = refusal(ShapeInvalid("reason", " ".join(map(str, exc.messages))))
    if errors:
        return _ask_page(code, form, errors), 422
    rt = acting()
    member = current()
    try:
        made = consents.request_consent(rt.uow, rt.vault, rt.policy, consents.RequestConsent(
            institution_id=member.org_id, kind=member.org_kind, citizen_id=form.get("citizen_id", ""),
            purpose=code, categories=form.getlist("categories") or None, reason=form.get("reason", "").strip(),
            valid_for=Duration(days=min(days or 0, _MOST_DAYS)), max_uses=uses, request_id=g.get("request_id")))
    except (InvalidCitizenId, ConsentError) as exc:
        errors[_field(exc)] = refusal(exc)
        return _ask_page(code, form, errors), 422
    tell(_("Request %(id)s sent: the person answers in their portal.", id=made.id))
    return redirect(url_for("staff.institution_desk") + "#requests")


_REASON = ConsentRequestIn().fields["reason"]

# More days than a timedelta holds are as much too long as any beyond the purpose's ceiling: the consent's
# check says so beside the field, where the number as typed would overflow before it is checked.
_MOST_DAYS = timedelta.max.days


def _whole(raw: str, name: str, errors: dict[str, str]) -> int | None:
    try:
        value = int(raw)
    except ValueError:
        errors[name] = _("Give a whole number.")
        return None
    if value < 1:
        errors[name] = _("Give a whole number of at least 1.")
        return None
    return value


# Fields of the API named by errors, and the form field that shows them.
_FORM_FIELDS = {"valid_for": "valid_for", "max_uses": "max_uses", "categories": "categories",
                "citizen_id": "citizen_id", "purpose": "purpose", "reason": "reason"}


def _field(exc: Exception) -> str:
    name = str(getattr(exc, "field", "") or "")
    return _FORM_FIELDS.get(name.split(".")[0], name if name else "purpose")


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "reason", None) or getattr(exc, "message", None) or exc)


@bp.post("/institution/consents/<string:consent_id>/report")
@member_page(ROLE)
def institution_query(consent_id: str) -> BaseResponse:
    """Spend one use of a consent for a signed report, then show it."""
    staff.require_act(current())
    rt = acting()
    try:
        made = consents.serve_query(rt.uow, rt.vault, rt.policy, consents.Query(
            current().org_id, consent_id, g.get("request_id")))
    except QueryRefused as exc:
        tell(_("No report: %(why)s", why=_refused(exc.code)), ERROR)
        return redirect(url_for("staff.institution_desk") + "#requests")
    return redirect(url_for("staff.institution_report", report_id=made.report["report_id"]))


def _refused(code: str) -> str:
    from gateway.web.labels import label

    return label("refusals", code)


def _report(report_id: str) -> consents.SignedReport | None:
    rt = acting()
    try:
        return consents.get_report(rt.uow, rt.vault, current().org_id, report_id, g.get("request_id"))
    except ReportNotFound:
        return None
    except ReportGone:
        tell(_("This report can no longer be read: its retrieval window has closed and its contents are erased."),
             ERROR)
        return None


@bp.get("/institution/reports/<string:report_id>")
@member_page(ROLE)
def institution_report(report_id: str) -> BaseResponse | str:
    """The report in words, inside its window (each reading is recorded)."""
    staff.require_act(current())
    found = _report(report_id)
    if found is None:
        return redirect(url_for("staff.institution_desk") + "#reports")
    return render_template("institution/report.html", report=found.report, jws=found.jws)


@bp.get("/institution/reports/<string:report_id>.json")
@member_page(ROLE)
def institution_report_json(report_id: str) -> BaseResponse:
    """The report as signed JSON: the report and its JWS (verify with /.well-known/jwks.json)."""
    staff.require_act(current())
    found = _report(report_id)
    if found is None:
        return redirect(url_for("staff.institution_desk") + "#reports")
    body = json.dumps({"report": found.report, "jws": found.jws}, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="{report_id}.json"', "Cache-Control": "no-store"})


@bp.get("/institution/reports/<string:report_id>.pdf")
@member_page(ROLE)
def institution_report_pdf(report_id: str) -> BaseResponse:
    """The report as a PDF in the reader's language: the same audited retrieval as the JSON download, printed
    with its id, JWS and a link to /verify."""
    staff.require_act(current())
    found = _report(report_id)
    if found is None:
        return redirect(url_for("staff.institution_desk") + "#reports")
    url = verification.link(printing.verify_base(), report_id, found.jws)
    return printing.pdf_response(pdf.institution_report(found, printing.PortalWords(), url), report_id)


@bp.get("/institution/notices")
@member_page(ROLE)
def institution_notices() -> str:
    """Correction notices about records in the institution's past reports (OBJ-5), newest first."""
    before = request.args.get("before", type=int)
    found, next_before = notice_use.institution_notices(acting(), current().org_id, 50, before, g.get("request_id"))
    return render_template("institution/notices.html", notices=found, next_before=next_before)
