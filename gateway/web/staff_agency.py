"""Pages for a source agency's staff: submit a record with a form built from the catalogue (the category's fields
with their labels and types; the entry rules' refusals shown beside the field they name), and the objection and
repair queues with their working-day deadlines. Each runs the API's use case through the member's runtime."""

from __future__ import annotations

import secrets
from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from audit.tx import AccessContext
from consent.catalogue import Category
from consent.errors import (
    ConsentError,
    DeclarationStepOutOfOrder,
    LevelTooLow,
    Listed,
    ListingOpen,
    ListingStepOutOfOrder,
    ObjectionStepOutOfOrder,
)
from gateway.errors import NotFound
from gateway.usecases import clients, declarations, listings, objections, records, repairs, staff
from gateway.usecases.records import ShapeInvalid, record_shape
from gateway.web.catalogue_forms import input_type, payload_from_form
from gateway.web.labels import day
from gateway.web.layout import ERROR, INFO, tell
from gateway.web.refusals import refusal
from gateway.web.staff_portal import Page, acting, bp, current, may_act, member_page
from vault.errors import InvalidCitizenId, ListingNotFound, RecordNotFound, VaultError
from vault.types import Provider

ROLE = "provider"


def _provider() -> Provider:
    try:
        return clients.provider(acting(), current().org_id)
    except clients.ClientInvalid as exc:
        raise NotFound("this agency files nothing any more") from exc


def _access() -> AccessContext:
    return AccessContext(actor=current().org_id, role="provider", request_id=g.get("request_id"))


@bp.get("/agency")
@member_page(ROLE)
def agency_desk() -> str:
    """The agency's queues: open objections and repair applications, oldest deadline first."""
    rt, provider = acting(), _provider()
    return render_template("agency/desk.html",
                           objections=objections.agency_queue(rt, provider, None, g.get("request_id")),
                           repairs=repairs.agency_queue(rt, provider, None, g.get("request_id")),
                           listings=listings.agency_queue(rt, provider, None, g.get("request_id")),
                           declarations=declarations.agency_queue(rt, provider, None, g.get("request_id")),
                           kinds=list(rt.policy.lists.kinds.values()), may_act=may_act())


# --- a new record -----------------------------------------------------------------------------------------


def _categories(provider: Provider) -> list[Category]:
    catalogue = acting().catalogue
    return [catalogue.category(c) for c in sorted(provider.categories) if c in catalogue.categories]


@bp.get("/agency/records/new")
@member_page(ROLE)
def agency_new_record() -> str:
    return _record_page(request.args.get("category"), MultiDict(), {})


def _record_page(code: str | None, form: MultiDict[str, str], errors: dict[str, str]) -> str:
    choices = _categories(_provider())
    chosen = next((c for c in choices if c.code == code), None)
    return render_template("agency/new_record.html", categories=choices, chosen=chosen, form=form, errors=errors,
                           may_act=may_act(), idempotency_key=form.get("idempotency_key") or secrets.token_hex(16),
                           catalogue=acting().catalogue, input_type=input_type)


@bp.post("/agency/records/new")
@member_page(ROLE)
def agency_new_record_post() -> Page:
    staff.require_act(current())
    form = request.form
    provider = _provider()
    category = next((c for c in _categories(provider) if c.code == form.get("category")), None)
    if category is None:
        return _record_page(None, form, {"category": _("Choose one of your agency's categories.")}), 422
    raw, errors = _record_body(category, form)
    if errors:
        return _record_page(category.code, form, errors), 422
    try:
        done = records.submit(acting(), provider, record_shape(raw), form.get("idempotency_key") or None, _access())
    except (ShapeInvalid, InvalidCitizenId, ConsentError, VaultError) as exc:
        return _record_page(category.code, form, {_field(exc): refusal(exc)}), 422
    if done.filed_late:
        tell(_("Record %(id)s filed after its publication deadline: it is kept for the auditors and not shown to "
               "third parties.", id=done.id), INFO)
    else:
        tell(_("Record %(id)s filed: shown from %(start)s.", id=done.id, start=day(done.display_from)))
    return redirect(url_for("staff.agency_new_record", category=category.code))


def _record_body(category: Category, form: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the API's body for the form, and the errors of fields that are not even of their type."""
    body: dict[str, Any] = {"citizen_id": form.get("citizen_id", ""), "category": category.code,
                            "decided_at": form.get("decided_at", "")}
    if form.get("name", "").strip():
        body["name"] = form.get("name", "").strip()
    document = {k: form.get(f"document.{k}", "").strip() for k in ("type", "number", "authority", "effective_at")}
    if any(document.values()):
        body["document"] = document
    payload, errors = payload_from_form(category, form)
    body["payload"] = payload
    return body, errors


def _field(exc: Exception) -> str:
    return str(getattr(exc, "field", None) or "form")


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "reason", None) or getattr(exc, "message", None) or exc)


# --- objections ---------------------------------------------------------------------------------------------


@bp.get("/agency/objections/<string:objection_id>")
@member_page(ROLE)
def agency_objection(objection_id: str) -> str:
    """One objection with the person's reason and evidence: an audited release (officers only)."""
    staff.require_act(current())
    found = objections.agency_objection(acting(), _provider(), objection_id, g.get("request_id"))
    return render_template("agency/objection.html", o=found)


@bp.post("/agency/objections/<string:objection_id>/<any(accept, refuse, decide):step>")
@member_page(ROLE)
def agency_objection_step(objection_id: str, step: str) -> BaseResponse:
    staff.require_act(current())
    reason = request.form.get("reason", "").strip() or None
    outcome = request.form.get("outcome") if step == "decide" else None
    back = url_for("staff.agency_objection", objection_id=objection_id)
    if step != "accept" and reason is None:
        tell(_("Give your reason: the person reads it."), ERROR)
        return redirect(back)
    if step == "decide" and outcome not in ("revoked", "upheld"):
        tell(_("Choose a decision."), ERROR)
        return redirect(back)
    try:
        objections.agency_step(acting(), objections.AgencyStep(
            _provider(), objection_id, step, reason=reason, outcome=outcome, request_id=g.get("request_id")))
    except ObjectionStepOutOfOrder as exc:
        tell(_("Not done: the objection is already %(status)s.", status=_status(exc)), ERROR)
        return redirect(back)
    tell({"accept": _("Accepted: verify and decide before the deadline."),
          "refuse": _("Refused: the person is told why."),
          "decide": _("Decided: the person is told.")}[step])
    return redirect(url_for("staff.agency_desk") + "#objections")


def _status(exc: Exception) -> str:
    from gateway.web.labels import label

    return label("statuses", str(getattr(exc, "status", "")))


# --- repairs --------------------------------------------------------------------------------------------------


@bp.get("/agency/repairs/<string:repair_id>")
@member_page(ROLE)
def agency_repair(repair_id: str) -> str:
    """One repair application with its statement, commitment and evidence: an audited release (officers only)."""
    staff.require_act(current())
    found = repairs.agency_repair(acting(), _provider(), repair_id, g.get("request_id"))
    return render_template("agency/repair.html", r=found, rules=acting().policy.repairs)


@bp.post("/agency/repairs/<string:repair_id>/decide")
@member_page(ROLE)
def agency_repair_decide(repair_id: str) -> BaseResponse:
    staff.require_act(current())
    outcome = request.form.get("outcome", "")
    reason = request.form.get("reason", "").strip()
    effect = request.form.get("effect") or None if outcome == "repaired" else None
    back = url_for("staff.agency_repair", repair_id=repair_id)
    if outcome not in ("repaired", "refused") or not reason:
        tell(_("Choose a decision and give your reason: the person reads it."), ERROR)
        return redirect(back)
    try:
        repairs.decide(acting(), repairs.DecideRepair(_provider(), repair_id, outcome, reason, effect,
                                                     g.get("request_id")))
    except ConsentError as exc:
        tell(_("Not done: %(why)s", why=_reason(exc)), ERROR)
        return redirect(back)
    tell(_("Decided: the person is told."))
    return redirect(url_for("staff.agency_desk") + "#repairs")


# --- listings (名单) -----------------------------------------------------------------------------------------

# Refusals of a listing step, by their problem code in labels.json (refusals): words, never the raw class.
_LISTING_REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (LevelTooLow, "level_too_low"), (Listed, "listed"), (ListingOpen, "listing_open"),
    (ListingStepOutOfOrder, "listing_step_out_of_order"), (RecordNotFound, "record_not_found"),
    (ListingNotFound, "listing_not_found"))


def _listing_refusal(exc: Exception) -> str:
    from gateway.web.labels import label

    for kind, code in _LISTING_REFUSALS:
        if isinstance(exc, kind):
            return label("refusals", code)
    return _reason(exc)


@bp.post("/agency/listings")
@member_page(ROLE)
def agency_listing_propose() -> BaseResponse:
    """Propose a black or red listing on one of the agency's own records (LIST-4, LIST-6, LIST-12): the person
    is told at once and, for a list with prior notice, may object before it takes effect."""
    staff.require_act(current())
    form = request.form
    reason, basis = form.get("reason", "").strip(), form.get("basis", "").strip()
    back = url_for("staff.agency_desk") + "#listings"
    if not form.get("record_id", "").strip() or not reason or not basis:
        tell(_("Give the record, the reason and the basis: the person reads them."), ERROR)
        return redirect(back)
    try:
        made = listings.propose(acting(), listings.ProposeListing(
            _provider(), form.get("record_id", "").strip(), form.get("list", ""), reason, basis,
            tuple(form.getlist("measures")), g.get("request_id")))
    except (ConsentError, VaultError) as exc:
        tell(_("Not proposed: %(why)s", why=_listing_refusal(exc)), ERROR)
        return redirect(back)
    tell(_("Listing %(id)s proposed: the person is told.", id=made["id"]))
    return redirect(back)


@bp.post("/agency/listings/<string:listing_id>/end")
@member_page(ROLE)
def agency_listing_end(listing_id: str) -> BaseResponse:
    """Withdraw a proposal or remove a listing in effect, with the reason the person reads."""
    staff.require_act(current())
    reason = request.form.get("reason", "").strip()
    back = url_for("staff.agency_desk") + "#listings"
    if not reason:
        tell(_("Give your reason: the person reads it."), ERROR)
        return redirect(back)
    try:
        listings.end(acting(), listings.EndListing(_provider(), listing_id, reason, g.get("request_id")))
    except (ConsentError, VaultError) as exc:
        tell(_("Not ended: %(why)s", why=_listing_refusal(exc)), ERROR)
        return redirect(back)
    tell(_("Listing %(id)s ended: the person is told.", id=listing_id))
    return redirect(back)


# --- declarations (自愿注册) ------------------------------------------------------------------------------


@bp.get("/agency/declarations/<string:declaration_id>")
@member_page(ROLE)
def agency_declaration(declaration_id: str) -> str:
    """One declaration with what was declared, the commitment and the evidence: an audited release (VOL-1)."""
    staff.require_act(current())
    found = declarations.agency_declaration(acting(), _provider(), declaration_id, g.get("request_id"))
    return render_template("agency/declaration.html", d=found)


@bp.post("/agency/declarations/<string:declaration_id>/verify")
@member_page(ROLE)
def agency_declaration_verify(declaration_id: str) -> BaseResponse:
    """Find a declaration verified (it becomes a record) or false (a broken-commitment record), with a reason."""
    staff.require_act(current())
    outcome, reason = request.form.get("outcome", ""), request.form.get("reason", "").strip()
    back = url_for("staff.agency_declaration", declaration_id=declaration_id)
    if outcome not in ("verified", "false") or not reason:
        tell(_("Choose a finding and give your reason: the person reads it."), ERROR)
        return redirect(back)
    try:
        declarations.verify(acting(), declarations.VerifyDeclaration(_provider(), declaration_id, outcome, reason,
                                                                     g.get("request_id")))
    except DeclarationStepOutOfOrder:
        from gateway.web.labels import label

        tell(_("Not done: %(why)s", why=label("refusals", "declaration_step_out_of_order")), ERROR)
        return redirect(back)
    except (ConsentError, VaultError) as exc:
        tell(_("Not done: %(why)s", why=_reason(exc)), ERROR)
        return redirect(back)
    tell(_("Decided: the person is told."))
    return redirect(url_for("staff.agency_desk") + "#declarations")
