"""HTML pages for people: activate, log in and out, read your report, answer consent requests, see who looked,
object, apply for repair, read notifications, freeze your file, and manage the apps acting for you.

Every form is CSRF-protected (CSRFProtect) and every action says what it did on the next page (`tell`).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, Flask, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response as BaseResponse

from audit.clock import today
from consent.durations import Duration, parse_days
from consent.errors import (
    CategoriesOutsidePurpose,
    DeclarationOpen,
    EvidenceInvalid,
    GrantNotFound,
    ListingStepOutOfOrder,
    NotRepairable,
    ObjectionOpen,
    PayloadInvalid,
    RepairOpen,
    RepairTooEarly,
    RequestInvalid,
    RequestNotFound,
    RequestNotPending,
)
from gateway.errors import NotFound, RateLimited, Unauthenticated
from gateway.usecases import apps, consents, people
from gateway.usecases import commitments as commitment_use
from gateway.usecases import declarations as declaration_use
from gateway.usecases import listings as listing_use
from gateway.usecases import notices as notice_use
from gateway.usecases import objections as objection_use
from gateway.usecases import repairs as repair_use
from gateway.web import sessions
from gateway.web.api.base import client_address
from gateway.web.catalogue_forms import input_type, payload_from_form
from gateway.web.context import runtime
from gateway.web.labels import bjt, day
from gateway.web.layout import ERROR, INFO, Area, NavItem, register_area, safe_next, tell
from gateway.web.refusals import refusal
from gateway.web.schemas import _ROW_ID_MAX, EvidenceIn
from vault.errors import CommitmentNotFound, InvalidCitizenId, RecordNotFound
from vault.types import Evidence

bp = Blueprint("portal", __name__)

MAX_EVIDENCE_FILES = 5
NOTIFICATIONS_PAGE = 50


def _signed_in() -> str | None:
    return str(_("Personal account")) if sessions.person() else None


PEOPLE = Area(role="person", signed_in=_signed_in, logout="portal.logout", home="portal.me", nav=(
    NavItem("portal.me", _l("My report")),
    NavItem("portal.my_consents", _l("Consent")),
    NavItem("portal.who_looked", _l("Who looked")),
    NavItem("portal.my_objections", _l("Objections")),
    NavItem("portal.my_repairs", _l("Repair")),
    NavItem("portal.my_declarations", _l("Declarations")),
    NavItem("portal.my_commitments", _l("Commitments")),
    NavItem("portal.my_notifications", _l("Notifications")),
    NavItem("portal.my_settings", _l("Settings")),
))


def init_app(app: Flask) -> None:
    """Register the people's pages and their part of the header."""
    app.register_blueprint(bp)
    register_area(app, PEOPLE)


class _LoginNeeded(Exception):
    """The page needs a logged-in person: answered by a redirect to the login form."""


def _me() -> str:
    ref = sessions.person()
    if ref is None:
        raise _LoginNeeded
    return ref


@bp.errorhandler(_LoginNeeded)
def _to_login(_exc: _LoginNeeded) -> BaseResponse:
    back = request.path if request.method == "GET" else url_for("portal.me")
    return redirect(url_for("portal.login_form", next=back))


def _request_id() -> str | None:
    found = g.get("request_id")
    return found if isinstance(found, str) else None


# --- activation, login, logout -----------------------------------------------------------------------------


@bp.get("/")
def index() -> BaseResponse:
    return redirect(url_for("portal.me" if sessions.person() else "portal.login_form"))


@bp.get("/activate")
def activate_form() -> str:
    return render_template("me/activate.html", error=None)


MIN_PASSWORD = 12  # the shortest password a person may choose, and a member of staff (gateway/web/staff_portal.py)


@bp.post("/activate")
def activate() -> BaseResponse | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """Set a password with the one-time code from the counter (the same rules as POST /api/v1/subjects/activate)."""
    form = request.form
    password = form.get("password", "")
    if len(password) < MIN_PASSWORD:
        return render_template("me/activate.html", error="short_password", minimum=MIN_PASSWORD), 422
    if password != form.get("password_again", ""):
        return render_template("me/activate.html", error="mismatch"), 422
    try:
        people.activate(runtime(), form.get("citizen_id", ""), form.get("activation_code", ""), password,
                        client_address())
    except InvalidCitizenId:
        return render_template("me/activate.html", error="bad_id"), 422
    except RateLimited as limited:
        wait = limited.retry_after
        return (render_template("me/activate.html", error="rate_limited", minutes=math.ceil(wait / 60),
                                seconds=wait), 429, {"Retry-After": str(wait)})
    except Unauthenticated:
        return render_template("me/activate.html", error="bad_code"), 401
    tell(_("Your account is active. Log in with your citizen ID and your new password."))
    return redirect(url_for("portal.login_form"))


@bp.get("/login")
def login_form() -> str:
    return render_template("login.html", error=None)


@bp.post("/login")
def login() -> BaseResponse | tuple[str, int] | tuple[str, int, dict[str, str]]:
    citizen_id = request.form.get("citizen_id", "")
    password = request.form.get("password", "")
    try:
        done = people.login(runtime(), citizen_id, password, client_address())
    except RateLimited as limited:
        wait = limited.retry_after
        return (render_template("login.html", error="rate_limited", minutes=math.ceil(wait / 60), seconds=wait),
                429, {"Retry-After": str(wait)})
    except Unauthenticated:
        return render_template("login.html", error="bad_credentials"), 401
    sessions.begin(done)
    return redirect(safe_next(request.args.get("next")) or url_for("portal.me"))


@bp.post("/logout")
def logout() -> BaseResponse:
    sessions.end()
    tell(_("You are logged out."))
    return redirect(url_for("portal.login_form"))


# --- the report ---------------------------------------------------------------------------------------------


@bp.get("/me")
def me() -> str:
    """The person's report: each record in words, what others see and until when, and what can be done."""
    ref = _me()
    rt = runtime()
    page = people.me_page(rt, ref, _request_id())
    pending = [r for r in page.requests if r.status == "pending"]
    return render_template("me/report.html", report=page.report, pending=pending, names=page.institutions,
                           unread=page.unread, freeze=page.freeze, shared=_shared_fields(page.report["records"]),
                           today=today(rt.clock).isoformat())


def _shared_fields(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The fields of each category that a consenting institution may ever receive (by its purpose, fewer)."""
    catalogue = runtime().catalogue
    return {code: [spec.name for spec in catalogue.category(code).fields if spec.third_party]
            for code in {r["category"] for r in records}}


# --- consent ------------------------------------------------------------------------------------------------


@bp.get("/me/consents")
def my_consents() -> str:
    """Pending requests first (each with a link to review it), then the consents given, then past requests."""
    ref = _me()
    uow = runtime().uow
    asked = consents.my_requests(uow, ref)
    given = consents.my_grants(uow, ref)
    names = {**asked.institutions, **given.institutions}
    pending = [r for r in asked.views if r.status == "pending"]
    answered = [r for r in asked.views if r.status != "pending"]
    return render_template("me/consents.html", pending=pending, answered=answered, grants=given.views, names=names)


@dataclass(frozen=True)
class _Choice:
    """What the person chose on the review form: the categories kept and the days of validity."""

    categories: list[str]
    days: int
    narrowed: bool
    shortened: bool


def _pending_request(ref: str, request_id: str) -> tuple[Any, dict[str, Any]]:
    asked = consents.my_requests(runtime().uow, ref)
    for view in asked.views:
        if view.id == request_id:
            return view, asked.institutions[view.institution_id]
    raise RequestNotFound(f"no request {request_id}")


def _fields_by_category(view: Any) -> dict[str, list[str]]:
    """The fields each asked category would release under the request's purpose, in the catalogue's order."""
    purpose = runtime().purposes.purposes.get(view.purpose)
    catalogue = runtime().catalogue
    out: dict[str, list[str]] = {}
    for code in view.categories:
        allowed = purpose.fields.get(code, frozenset()) if purpose is not None else frozenset()
        out[code] = [spec.name for spec in catalogue.category(code).fields if spec.name in allowed]
    return out


def _day_choices(view: Any) -> list[int]:
    longest = max(1, view.valid_for_seconds // 86400)
    return sorted({d for d in (1, 3, 7, 14, 30, 60, 90) if d < longest} | {longest})


def _choice(view: Any) -> _Choice:
    """Read the review form: categories among those asked (at least one), days among the choices offered."""
    kept = [c for c in view.categories if c in request.form.getlist("categories")]
    if not kept:
        raise RequestInvalid("categories", "keep at least one category, or deny the request")
    try:
        days = int(request.form.get("days", ""))
    except ValueError:
        raise RequestInvalid("valid_for", "choose how long the consent lasts") from None
    if days not in _day_choices(view):
        raise RequestInvalid("valid_for", "choose one of the lengths offered")
    longest = _day_choices(view)[-1]
    return _Choice(kept, days, narrowed=len(kept) < len(view.categories), shortened=days < longest)


@bp.get("/me/consent-requests/<string:request_id>")
def review_request(request_id: str) -> str | BaseResponse:
    """Step 1 of approving: what is asked, by whom and why, the fields in words; narrow it or shorten it."""
    ref = _me()
    try:
        view, institution = _pending_request(ref, request_id)
    except RequestNotFound:
        tell(_("No such request."), ERROR)
        return redirect(url_for("portal.my_consents"))
    if view.status != "pending":
        tell(_("This request was already answered or has lapsed."), INFO)
        return redirect(url_for("portal.my_consents"))
    return render_template("me/review.html", r=view, institution=institution, fields=_fields_by_category(view),
                           days=_day_choices(view), chosen=None, error=None)


@bp.post("/me/consent-requests/<string:request_id>/confirm")
def confirm_request(request_id: str) -> str | BaseResponse | tuple[str, int]:
    """Step 2 of approving: say exactly what will be shared and for how long, and ask once more."""
    ref = _me()
    try:
        view, institution = _pending_request(ref, request_id)
    except RequestNotFound:
        tell(_("No such request."), ERROR)
        return redirect(url_for("portal.my_consents"))
    fields = _fields_by_category(view)
    try:
        chosen = _choice(view)
    except RequestInvalid as bad:
        return render_template("me/review.html", r=view, institution=institution, fields=fields,
                               days=_day_choices(view), chosen=None, error=bad.field), 422
    return render_template("me/confirm.html", r=view, institution=institution, fields=fields, chosen=chosen)


@bp.post("/me/consent-requests/<string:request_id>/approve")
def approve_request(request_id: str) -> BaseResponse:
    """Approve, as confirmed: for the categories and days chosen (all of the request if the form names none)."""
    ref = _me()
    categories: list[str] | None = request.form.getlist("categories") or None
    valid_for: Duration | None = None
    if request.form.get("days"):
        try:
            valid_for = parse_days(f"P{int(request.form['days'])}D")
        except ValueError:
            tell(_("Choose how long the consent lasts."), ERROR)
            return redirect(url_for("portal.review_request", request_id=request_id))
    rt = runtime()
    answer = consents.Answer(ref, request_id, categories, valid_for, http_request_id=_request_id())

    def approve() -> None:
        done = consents.approve(rt.uow, rt.vault, rt.policy, answer)
        grant = done.views[0]
        name = done.institutions[grant.institution_id]["name"]
        tell(_("Approved: %(name)s may query your records until %(until)s, for what you chose.",
               name=name, until=bjt(grant.valid_until)))

    return _consent_action(approve)


@bp.post("/me/consent-requests/<string:request_id>/deny")
def deny_request(request_id: str) -> BaseResponse:
    ref = _me()
    answer = consents.Answer(ref, request_id, http_request_id=_request_id())

    def deny() -> None:
        done = consents.deny(runtime().uow, answer)
        tell(_("Denied: %(name)s gets nothing from your file for this request.",
               name=done.institutions[done.views[0].institution_id]["name"]))

    return _consent_action(deny)


@bp.post("/me/consents/<string:consent_id>/revoke")
def revoke_consent(consent_id: str) -> BaseResponse:
    ref = _me()

    def revoke() -> None:
        done = consents.revoke(runtime().uow, ref, consent_id, _request_id())
        tell(_("Revoked: %(name)s can no longer query your records with this consent.",
               name=done.institutions[done.views[0].institution_id]["name"]))

    return _consent_action(revoke)


def _consent_action(action: Callable[[], None]) -> BaseResponse:
    try:
        action()
    except RequestNotPending:
        tell(_("This request was already answered or has lapsed."), INFO)
    except (RequestNotFound, GrantNotFound):
        tell(_("No such request or consent."), ERROR)
    except (CategoriesOutsidePurpose, RequestInvalid):
        tell(_("That choice is not possible for this request. Review it again."), ERROR)
    return redirect(url_for("portal.my_consents"))


# --- who looked ---------------------------------------------------------------------------------------------


@bp.get("/me/access")
def who_looked() -> str:
    """Institutions first (their queries, then every other access by someone else), your own views folded."""
    ref = _me()
    page = people.who_looked_page(runtime(), ref)
    entries = page["log"]["entries"]
    others = [e for e in entries if e["role"] != "person"]
    own = [e for e in entries if e["role"] == "person"]
    return render_template("me/access.html", queries=page["queries"], others=others, own=own,
                           tree_head=page["log"]["tree_head"], head_ok=page["log"]["tree_head_signature_valid"])


# --- objections and repairs ---------------------------------------------------------------------------------


def _own_record(ref: str, record_id: str) -> dict[str, Any]:
    report = people.self_report(runtime(), ref, _request_id())
    for record in report["records"]:
        if record["id"] == record_id:
            return dict(record)
    raise RecordNotFound(f"no record {record_id}")


def _evidence() -> list[Evidence]:
    """The files of the form, checked as the API checks them (name, type); their bytes are checked later."""
    files: list[FileStorage] = [f for f in request.files.getlist("evidence") if f and f.filename]
    if len(files) > MAX_EVIDENCE_FILES:
        raise EvidenceInvalid("evidence", f"at most {MAX_EVIDENCE_FILES} files")
    out: list[Evidence] = []
    for n, file in enumerate(files):
        body = {"filename": file.filename, "content_type": file.mimetype,
                "content_base64": base64.b64encode(file.read()).decode()}
        try:
            out.append(EvidenceIn().load(body))
        except ValidationError:
            raise EvidenceInvalid(f"evidence.{n}", "a PDF, JPEG or PNG file with a plain name") from None
    return out


@bp.get("/me/records/<string:record_id>/object")
def object_form(record_id: str) -> str:
    ref = _me()
    return render_template("me/object.html", record=_own_record(ref, record_id), error=None, reason="")


@bp.post("/me/records/<string:record_id>/object")
def object_to(record_id: str) -> BaseResponse | tuple[str, int]:
    """File an objection (OBJ-1): the reason (sealed under the person's key) and optional evidence."""
    ref = _me()
    reason = request.form.get("reason", "").strip()
    try:
        if not reason:
            raise RequestInvalid("reason", "say why the record is wrong")
        objection_use.file_objection(runtime(), objection_use.FileObjection(
            ref, record_id, reason, tuple(_evidence()), _request_id()))
    except ObjectionOpen:
        tell(_("This record already has an open objection; follow it below."), INFO)
        return redirect(url_for("portal.my_objections"))
    except (RequestInvalid, EvidenceInvalid) as bad:
        return render_template("me/object.html", record=_own_record(ref, record_id), error=bad.field,
                               reason=reason), 422
    tell(_("Objection filed. The agency that produced the record must answer by the dates shown."))
    return redirect(url_for("portal.my_objections"))


@bp.post("/me/listings/<string:listing_id>/objection")
def object_to_listing(listing_id: str) -> BaseResponse:
    """Object to a proposed listing (LIST-, OBJ-1) from the report: it does not take effect while verified."""
    ref = _me()
    reason = request.form.get("reason", "").strip()
    if not reason:
        tell(_("Say why the listing is wrong."), ERROR)
        return redirect(url_for("portal.me") + "#listings")
    try:
        listing_use.object_to(runtime(), listing_use.ObjectToListing(ref, listing_id, reason, (), _request_id()))
    except ListingStepOutOfOrder:
        tell(_("This listing can no longer be objected to, or an objection already waits."), INFO)
        return redirect(url_for("portal.me") + "#listings")
    tell(_("Objection filed. The listing does not take effect while the agency verifies it."))
    return redirect(url_for("portal.my_objections"))


@bp.get("/me/objections")
def my_objections() -> str:
    ref = _me()
    found = objection_use.my_objections(runtime(), ref, None, _request_id())
    return render_template("me/objections.html", objections=found)


@bp.get("/me/records/<string:record_id>/repair")
def repair_form(record_id: str) -> str:
    ref = _me()
    return render_template("me/repair.html", record=_own_record(ref, record_id), methods=_methods(), error=None,
                           form={})


def _methods() -> list[Any]:
    return list(runtime().policy.repairs.methods.values())


@bp.post("/me/records/<string:record_id>/repair")
def apply_for_repair(record_id: str) -> BaseResponse | tuple[str, int]:
    """Apply for credit repair (REP-1, REP-5, REP-7): methods, statement, commitment, optional evidence."""
    ref = _me()
    form = request.form
    statement = form.get("statement", "").strip()
    commitment = form.get("commitment", "").strip()
    try:
        if not statement:
            raise RequestInvalid("statement", "say what you did to correct it")
        if not commitment or form.get("commitment_accepted") != "yes":
            raise RequestInvalid("commitment", "write and accept your credit commitment")
        repair_use.apply(runtime(), repair_use.ApplyForRepair(
            ref, record_id, tuple(form.getlist("methods")), statement, commitment, tuple(_evidence()), _request_id()))
    except RepairOpen:
        tell(_("This record already has an open repair application; follow it below."), INFO)
        return redirect(url_for("portal.my_repairs"))
    except NotRepairable:
        tell(_("This record cannot be repaired."), ERROR)
        return redirect(url_for("portal.me"))
    except RepairTooEarly as early:
        tell(_("Too early: you may apply for repair from %(day)s.", day=day(early.earliest)), ERROR)
        return redirect(url_for("portal.me"))
    except (RequestInvalid, EvidenceInvalid) as bad:
        return render_template("me/repair.html", record=_own_record(ref, record_id), methods=_methods(),
                               error=bad.field, form=form), 422
    tell(_("Repair application filed, free of charge. The agency must decide by the date shown."))
    return redirect(url_for("portal.my_repairs"))


@bp.get("/me/repairs")
def my_repairs() -> str:
    ref = _me()
    found = repair_use.my_repairs(runtime(), ref, None, _request_id())
    rules = runtime().policy.repairs
    return render_template("me/repairs.html", repairs=found, methods=_methods(), decide_days=rules.decide_days)


# --- notifications, settings, freeze ------------------------------------------------------------------------


@bp.get("/me/notifications")
def my_notifications() -> str:
    ref = _me()
    found = notice_use.my_notifications(runtime(), ref, NOTIFICATIONS_PAGE, None, _request_id())
    return render_template("me/notifications.html", notifications=found["notifications"], unread=found["unread"])


@bp.post("/me/notifications/read")
def mark_notifications_read() -> BaseResponse:
    """Mark one notification read (`id`), or all of them; an `id` no notification can have marks none."""
    ref = _me()
    raw = request.form.get("id")
    ids = None if not raw else [int(raw)] if raw.isdecimal() and int(raw) <= _ROW_ID_MAX else []
    done = notice_use.mark_read(runtime(), ref, ids, _request_id())
    tell(_("Marked as read.") if done["marked"] else _("Nothing left to mark."))
    return redirect(url_for("portal.my_notifications"))


@bp.get("/me/settings")
def my_settings() -> str:
    ref = _me()
    return render_template("me/settings.html", freeze=consents.freeze_state(runtime().uow, ref))


@bp.post("/me/freeze")
def freeze_file() -> BaseResponse:
    """Freeze the file; back to the settings saying what happened."""
    ref = _me()
    revoke = request.form.get("revoke_grants") == "yes"
    done = consents.freeze(runtime().uow, ref, revoke, _request_id())
    if done.revoked_grants:
        tell(_("Frozen, and every consent you gave is revoked."))
    else:
        tell(_("Frozen: new consent requests are withheld from you and lapse; institutions see what they see for an "
               "unknown person. Consents you gave still work."))
    return redirect(url_for("portal.my_settings") + "#freeze")


@bp.post("/me/unfreeze")
def unfreeze_file() -> BaseResponse:
    ref = _me()
    consents.unfreeze(runtime().uow, ref, _request_id())
    tell(_("Unfrozen: institutions can ask for your consent again."))
    return redirect(url_for("portal.my_settings") + "#freeze")


# --- apps acting for the person -----------------------------------------------------------------------------


@bp.get("/me/apps")
def my_apps() -> str:
    """The apps acting for the person: what each may see, since when, last used, and a revoke button."""
    ref = _me()
    return render_template("my_apps.html", logins=apps.app_logins(runtime().uow, ref))


@bp.post("/me/apps/<string:client_id>/revoke")
def revoke_app(client_id: str) -> BaseResponse:
    """Revoke an app; back to the list with what happened."""
    ref = _me()
    try:
        apps.revoke_app(runtime().uow, ref, client_id, _request_id())
    except NotFound:
        tell(_("That app can no longer act for you."), ERROR)
        return redirect(url_for("portal.my_apps"))
    tell(_("Revoked: everything the app held stopped working, and it must ask you again."))
    return redirect(url_for("portal.my_apps"))


# --- credit commitments (信用承诺) ----------------------------------------------------------------------------


@bp.get("/me/commitments")
def my_commitments() -> str:
    """The person's commitments, newest first, with their status; and the templates to sign a new one on."""
    ref = _me()
    found = commitment_use.my_commitments(runtime(), ref, None, _request_id())
    return render_template("me/commitments.html", commitments=found,
                           templates=list(runtime().policy.commitments.templates.values()))


def _sign_form(template: Any, bodies: list[dict[str, Any]], values: dict[str, str],
               error: RequestInvalid | None) -> tuple[str, int]:
    page = render_template("me/commitment_sign.html", t=template, bodies=bodies, values=values,
                           error=None if error is None else error.field)
    return page, 200 if error is None else 422


@bp.get("/me/commitments/sign/<string:template>")
def sign_commitment_form(template: str) -> str | BaseResponse | tuple[str, int]:
    """The letter to sign in full, the bodies it may be made to, and the commitment box (COM-1, COM-2)."""
    ref = _me()
    found = runtime().policy.commitments.templates.get(template)
    if found is None:
        tell(_("No such commitment letter."), ERROR)
        return redirect(url_for("portal.my_commitments"))
    return _sign_form(found, commitment_use.bodies(runtime(), ref, template), {}, None)


def _due(text: str) -> date | None:
    """The due date of the form (ISO, as a date input sends it), or None when left empty."""
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise RequestInvalid("due_date", "not a date") from None


@bp.post("/me/commitments/sign/<string:template>")
def sign_commitment(template: str) -> str | BaseResponse | tuple[str, int]:
    """Sign: the body and the box are required; a refusal is shown beside its field, nothing is signed."""
    ref = _me()
    rt = runtime()
    found = rt.policy.commitments.templates.get(template)
    if found is None:
        tell(_("No such commitment letter."), ERROR)
        return redirect(url_for("portal.my_commitments"))
    values = {k: request.form.get(k, "") for k in ("accepting_body", "details", "due_date")}
    bodies = commitment_use.bodies(rt, ref, template)
    try:
        if request.form.get("promise") != "yes":
            raise RequestInvalid("promise", "tick the box to sign")
        if not values["accepting_body"]:
            raise RequestInvalid("accepting_body", "choose whom you make the commitment to")
        signed = commitment_use.sign(rt, commitment_use.SignCommitment(
            subject_ref=ref, template=template, accepting_body=values["accepting_body"],
            details=values["details"].strip() or None, due_date=_due(values["due_date"]),
            request_id=_request_id()))
    except RequestInvalid as refused:
        return _sign_form(found, bodies, values, refused)
    tell(_("Signed: %(body)s can now see your commitment.", body=signed["accepting_body"]["name"]))
    return redirect(url_for("portal.my_commitment", commitment_id=signed["id"]))


@bp.get("/me/commitments/<string:commitment_id>")
def my_commitment(commitment_id: str) -> str | BaseResponse:
    """One commitment: the text signed, to whom, its status and what a breach would do."""
    ref = _me()
    try:
        [found] = commitment_use.my_commitments(runtime(), ref, commitment_id, _request_id())
    except CommitmentNotFound:
        tell(_("No such commitment."), ERROR)
        return redirect(url_for("portal.my_commitments"))
    return render_template("me/commitment.html", c=found)


# --- voluntary registration (自愿注册) ----------------------------------------------------------------------


@bp.get("/me/declarations")
def my_declarations() -> str:
    """The person's declarations with status and verification deadline; the categories open to declaring."""
    ref = _me()
    rules = runtime().policy.declarations
    found = declaration_use.my_declarations(runtime(), ref, None, _request_id())
    return render_template("me/declarations.html", declarations=found, open=list(rules.categories.values()),
                           working_days=rules.verify.days)


def _declare_form(code: str, form: Mapping[str, str], errors: dict[str, str]) -> tuple[str, int]:
    rules = runtime().policy.declarations
    page = render_template("me/declare.html", chosen=runtime().catalogue.category(code),
                           declarable=rules.categories[code], commitment=rules.commitment,
                           authorisation=rules.authorisation, working_days=rules.verify.days, form=form,
                           errors=errors, input_type=input_type)
    return page, 422 if errors else 200


@bp.get("/me/declarations/new/<string:category>")
def declare_form(category: str) -> str | BaseResponse | tuple[str, int]:
    """The category's fields from the catalogue, the truthfulness commitment and the authorisation (VOL-1)."""
    _me()
    if category not in runtime().policy.declarations.categories:
        tell(_("This category is not open to declaring."), ERROR)
        return redirect(url_for("portal.my_declarations"))
    return _declare_form(category, {}, {})


@bp.post("/me/declarations/new/<string:category>")
def declare(category: str) -> str | BaseResponse | tuple[str, int]:
    """Declare: entry-rule refusals are shown beside the field they name; nothing is filed on a refusal."""
    ref = _me()
    rt = runtime()
    rules = rt.policy.declarations
    if category not in rules.categories:
        tell(_("This category is not open to declaring."), ERROR)
        return redirect(url_for("portal.my_declarations"))
    payload, errors = payload_from_form(rt.catalogue.category(category), request.form)
    if request.form.get("promise") != "yes":
        errors["promise"] = _("Tick the box to make the commitment: a declaration is filed only with it.")
    if errors:
        return _declare_form(category, request.form, errors)
    try:
        done = declaration_use.declare(rt, declaration_use.Declare(
            subject_ref=ref, category=category, payload=payload, commitment=rules.commitment.zh,
            request_id=_request_id()))
    except PayloadInvalid as refused:
        return _declare_form(category, request.form, {refused.field: refusal(refused)})
    except DeclarationOpen:
        return _declare_form(category, request.form, {
            "form": _("You already declared this and it waits for verification.")})
    tell(_("Declared: the competent agency verifies it by %(day)s. Until then it is shown to no one.",
           day=day(done["verify_by"])))
    return redirect(url_for("portal.my_declarations") + f"#declaration-{done['id']}")
