"""Pages for an auditor's staff: search and export the audit log, the anomalies of a window, the latest signed
tree head and a button that checks it. The filters go by POST (CSRF-protected), so a citizen ID typed as the
person filter never reaches a URL or an access log; each search, export, report and check is itself recorded."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Response, g, render_template, request
from flask_babel import gettext as _
from flask_babel import ngettext
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from audit.clock import CST
from audit.review import OFF_HOURS, OVERDUE, PURPOSE_MISMATCH, REFUSAL_RATE, VOLUME, Anomaly
from gateway.errors import InvalidInput, NotFound
from gateway.usecases import head_check, ledger, review, staff
from gateway.usecases.review import AuditSearch
from gateway.web.api.auditors import _MIMETYPES, _csv, _jsonl
from gateway.web.labels import day, label, purpose
from gateway.web.refusals import refusal
from gateway.web.schemas import AuditSearchIn
from gateway.web.staff_portal import Page, acting, bp, current, may_act, member_page
from vault.errors import InvalidCitizenId

ROLE = "auditor"
_FILTERS = ("actor", "staff", "institution", "action", "outcome", "person")
PAGE_SIZE = 50


@bp.route("/auditor", methods=["GET", "POST"])
@member_page(ROLE)
def auditor_log() -> Page:
    """The search form; with filters sent (POST), a page of matching entries, newest first, or an export."""
    if request.method == "GET":
        return render_template("auditor/log.html", form=MultiDict(), errors={}, page=None, may_act=may_act())
    staff.require_act(current())
    form = request.form
    errors: dict[str, str] = {}
    search = _search(form, errors)
    if search is None:
        return render_template("auditor/log.html", form=form, errors=errors, page=None, may_act=True), 422
    rt = acting()
    try:
        if search.format is not None:
            return _export(search)
        page = review.search(rt, current().org_id, search, g.get("request_id"))
    except (InvalidCitizenId, InvalidInput) as exc:
        errors[str(getattr(exc, "field", "form"))] = refusal(exc)
        return render_template("auditor/log.html", form=form, errors=errors, page=None, may_act=True), 422
    return render_template("auditor/log.html", form=form, errors=errors, page=page, may_act=True)


def _search(form: MultiDict[str, str], errors: dict[str, str]) -> AuditSearch | None:
    """Return the search the form asks for, through the API's own schema; None with `errors` filled."""
    raw: dict[str, Any] = {name: form.get(name, "").strip() for name in _FILTERS if form.get(name, "").strip()}
    for name, shift in (("since", 0), ("until", 1)):
        day = _day(form.get(name, ""), name, errors)
        if day is not None:  # whole days in Beijing time; "until" includes its day
            raw[name] = datetime.combine(day + timedelta(days=shift), time(), CST).isoformat()
    if form.get("format") in _MIMETYPES:
        raw["format"] = form["format"]
    elif form.get("before", "").isdecimal():
        raw["cursor"] = _cursor(int(form["before"]))
    if not raw.get("format"):
        raw["limit"] = PAGE_SIZE
    try:
        found: AuditSearch = AuditSearchIn().load(raw)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"form": exc.messages}
        for name, reasons in messages.items():
            errors[str(name)] = " ".join(reasons) if isinstance(reasons, list) else str(reasons)
        return None
    return None if errors else found


def _cursor(before: int) -> str:
    from gateway.web.schemas import encode_cursor

    return encode_cursor(before)


def _day(raw: str, name: str, errors: dict[str, str]) -> date | None:
    if not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        errors[name] = _("Give a date.")
        return None


def _export(search: AuditSearch) -> Response:
    """Every matching entry, oldest first, as a CSV or JSON Lines attachment (the API's own formats)."""
    rt = acting()
    fmt = str(search.format)
    export = review.open_export(rt, current().org_id, search, fmt, g.get("request_id"))
    rows = review.export_entries(rt, export)
    response = Response(_jsonl(rows) if fmt == "jsonl" else _csv(rows), mimetype=_MIMETYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="audit-entries-{export.upto}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/auditor/anomalies")
@member_page(ROLE)
def auditor_anomalies() -> Page:
    """The institutions whose queries stand out in a window, overdue steps and late filers, each with its reason."""
    staff.require_act(current())
    errors: dict[str, str] = {}
    since, until = (_day(request.args.get(n, ""), n, errors) for n in ("since", "until"))
    start = None if since is None else datetime.combine(since, time(), CST)
    end = None if until is None else datetime.combine(until + timedelta(days=1), time(), CST)
    report = None
    if not errors:
        try:
            report = review.anomalies(acting(), current().org_id, start, end, g.get("request_id"))
        except InvalidInput as exc:
            errors[exc.field] = exc.reason
    return render_template("auditor/anomalies.html", report=report, errors=errors, form=request.args,
                           why=_anomaly_words, late_words=_late_words), (422 if errors else 200)


def _share(x: float) -> str:
    return f"{x:.0%}"


def _anomaly_words(a: Anomaly, report: review.AnomalyReport) -> str:
    """Why an anomaly stands out, in the reader's language (its `reason` is the API's English sentence)."""
    t = report.thresholds
    if a.kind == VOLUME:
        limit, factor, median = (f"{x:g}" for x in (a.threshold, t.volume_factor, report.median_queries))
        return str(_("%(num)d queries in this window, more than %(limit)s (the larger of %(least)d and %(factor)s "
                     "times the median of %(median)s across institutions).", num=int(a.value), limit=limit,
                     least=t.min_queries, factor=factor, median=median))
    if a.kind == REFUSAL_RATE:
        return str(_("%(share)s of its queries were refused, more than %(limit)s.", share=_share(a.value),
                     limit=_share(a.threshold)))
    if a.kind == OFF_HOURS:
        return str(_("%(share)s of its queries were made outside 08:00-20:00 Beijing time or on a day that is not a "
                     "working day, more than %(limit)s.", share=_share(a.value), limit=_share(a.threshold)))
    if a.kind == PURPOSE_MISMATCH:
        return str(ngettext("%(num)d query does not fit the institution's kind (purpose: %(purpose)s).",
                            "%(num)d queries do not fit the institution's kind (purpose: %(purpose)s).",
                            int(a.value), purpose=purpose(a.purpose) if a.purpose else _("none recorded")))
    if a.kind == OVERDUE and a.repair_id:
        return str(ngettext("Repair application %(id)s: the decision was due by %(day)s and is %(num)d day late.",
                            "Repair application %(id)s: the decision was due by %(day)s and is %(num)d days late.",
                            int(a.value), id=a.repair_id, day=day(a.deadline)))
    if a.kind == OVERDUE and a.objection_id:
        return str(ngettext("Objection %(id)s: the step “%(step)s” was due by %(day)s and is %(num)d day late.",
                            "Objection %(id)s: the step “%(step)s” was due by %(day)s and is %(num)d days late.",
                            int(a.value), id=a.objection_id, step=label("steps", a.step), day=day(a.deadline)))
    return a.reason


def _late_words(f: review.LateFiler) -> str:
    """A late filer's record, in the reader's language (its `reason` is the API's English sentence)."""
    return str(ngettext(
        "%(late)d of %(num)d record due within a publication deadline was filed after it (%(share)s).",
        "%(late)d of %(num)d records due within a publication deadline were filed after it (%(share)s).",
        f.filed, late=f.late, share=_share(f.late / f.filed)))


@bp.route("/auditor/tree", methods=["GET", "POST"])
@member_page(ROLE)
def auditor_tree() -> Page:
    """The latest signed tree head; the button checks it (and an entry against it, given its index)."""
    rt = acting()
    try:
        head = ledger.latest_head(rt.uow)
    except NotFound:
        head = None
    result, errors = None, {}
    if request.method == "POST" and head is not None:
        staff.require_act(current())
        raw = request.form.get("index", "").strip()
        if raw and not raw.isdecimal():
            errors["index"] = _("Give an entry's index: a whole number from 0.")
        else:
            try:
                result = head_check.check_latest_head(rt, current().org_id, int(raw) if raw else None,
                                                      g.get("request_id"))
            except InvalidInput as exc:
                errors[exc.field] = exc.reason
    return render_template("auditor/tree.html", head=head, result=result, errors=errors, form=request.form,
                           may_act=may_act()), (422 if errors else 200)
