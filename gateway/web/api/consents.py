"""Consent requests, grants, queries and reports."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, g, jsonify, request
from flask.blueprints import BlueprintSetupState

from audit.clock import isoformat_z
from consent.freezes import FreezeState
from consent.grants import GrantView, RequestView
from gateway.usecases import consents as use
from gateway.web import printing
from gateway.web.api.base import BEARER, PERSON, XinyongBlueprint, person, problems
from gateway.web.context import runtime
from gateway.web.oauth.bearer import bearer
from gateway.web.schemas import (
    PDF_RESPONSE,
    ApproveIn,
    ConsentRequestCreatedOut,
    ConsentRequestIn,
    ConsentRequestOut,
    FreezeIn,
    FreezeOut,
    GrantOut,
    PdfQuery,
    QueryIn,
    ReceiptOut,
    SignedReportOut,
)

blp = XinyongBlueprint("consents", __name__, url_prefix="/api/v1", description="Consent and authorised queries")


def _request_out(view: RequestView, institution: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": view.id, "status": view.status, "purpose": view.purpose, "categories": view.categories,
        "reason": view.reason, "valid_for": f"P{view.valid_for_seconds // 86400}D", "max_uses": view.max_uses,
        "created_at": isoformat_z(view.created_at), "lapses_at": isoformat_z(view.lapses_at),
        "consent_id": view.grant_id,
    }
    if view.occupational_group is not None:
        out["occupational_group"] = view.occupational_group
    if institution is not None:
        out["institution"] = institution
    return out


def _grant_out(view: GrantView, institution: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": view.id, "request_id": view.request_id, "institution": institution, "purpose": view.purpose,
        "categories": sorted(view.fields), "fields": view.fields, "valid_from": isoformat_z(view.valid_from),
        "valid_until": isoformat_z(view.valid_until), "max_uses": view.max_uses, "uses": view.uses,
        "status": view.status, "receipt": view.receipt,
        **({} if view.occupational_group is None else {"occupational_group": view.occupational_group}),
    }


@blp.route("/purposes", methods=["GET"])
@blp.response(200, description="The registered purposes and their minimal-use matrix")
def get_purposes() -> Response:
    """Return every purpose: who may use it, which categories and fields, and its ceilings."""
    return jsonify(runtime().purposes.to_public())


@blp.route("/evaluation-rules", methods=["GET"])
@blp.response(200, description="The rules of the integrity evaluation, for incentive purposes only")
def get_evaluation_rules() -> Response:
    """Return the evaluation's rules with their version and reasons: the three-year attribute (EVAL-7), the
    categories it weighs and the positive records that count. It is released for incentives only (EVAL-1)."""
    return jsonify(runtime().policy.evaluation.to_public())


@blp.route("/consent-requests", methods=["POST"])
@blp.arguments(ConsentRequestIn)
@blp.response(201, ConsentRequestCreatedOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 422)
def create_consent_request(data: dict[str, Any]) -> Response:
    """Ask a person for consent to query their records for one purpose (scope consent:request).

    The answer is the same whether or not the person is known to the service.
    """
    caller = bearer("consent:request", ("institution",))
    rt = runtime()
    view = use.request_consent(rt.uow, rt.vault, rt.policy, use.RequestConsent(
        institution_id=caller.actor, kind=caller.kind, citizen_id=data["citizen_id"], purpose=data["purpose"],
        categories=data.get("categories"), reason=data["reason"], valid_for=data["valid_for"],
        max_uses=data.get("max_uses"), request_id=g.get("request_id"),
        occupational_group=data.get("occupational_group")))
    response = jsonify({"id": view.id, "status": view.status})
    response.status_code = 201
    return response


@blp.route("/consent-requests/<string:request_id>", methods=["GET"])
@blp.response(200, ConsentRequestOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404)
def get_consent_request(request_id: str) -> Response:
    """Return the status of your request and, once approved, its consent_id."""
    caller = bearer("consent:request", ("institution",))
    return jsonify(_request_out(use.institution_request(runtime().uow, caller.actor, request_id)))


@blp.route("/consents/<string:consent_id>/receipt", methods=["GET"])
@blp.response(200, ReceiptOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404)
def get_receipt(consent_id: str) -> Response:
    """Return the signed consent receipt of a grant given to you."""
    caller = bearer("consent:request", ("institution",))
    view = use.institution_grant(runtime().uow, caller.actor, consent_id)
    return jsonify({"consent_id": view.id, "receipt": view.receipt})


@blp.route("/queries", methods=["POST"])
@blp.arguments(QueryIn)
@blp.response(201, SignedReportOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 422, 503)
def create_query(data: dict[str, Any]) -> Response:
    """Query a person's records under a consent: spends one use and returns the signed report."""
    return _query(data)


def _query(data: dict[str, Any]) -> Response:
    caller = bearer("reports:read", ("institution",))
    rt = runtime()
    signed = use.serve_query(rt.uow, rt.vault, rt.policy, use.Query(caller.actor, data["consent_id"],
                                                                    g.get("request_id")))
    response = jsonify({"report": signed.report, "jws": signed.jws})
    response.status_code = 201
    return response


_CONSENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,60}")  # as QueryIn's, anchored at both ends


def _plain_query_body() -> dict[str, Any] | None:
    """Return a query body that QueryIn would load unchanged ({"consent_id": "..."}, UTF-8 JSON), or None.

    Anything else (another media type or charset, other members, an id QueryIn refuses, a body that is
    not JSON) is left to the full view, so its answers, errors included, are QueryIn's own.
    """
    if request.mimetype != "application/json" or request.mimetype_params:
        return None
    try:
        found = json.loads(request.get_data(cache=True).decode())
    except (ValueError, RecursionError):
        return None
    if type(found) is not dict or len(found) != 1:
        return None
    consent_id = found.get("consent_id")
    return found if type(consent_id) is str and _CONSENT_ID.fullmatch(consent_id) else None


def _plain_query_view(full: Callable[..., Any]) -> Callable[..., Any]:
    """Return the view of POST /queries: the hot path without flask-smorest's and webargs' wrapping for a
    well-formed body, `full` (the documented view, schema and all) for any other."""

    @wraps(full)
    def view() -> Any:
        data = _plain_query_body()
        return full() if data is None else _query(data)

    return view


@blp.record_once
def _install_plain_query_view(state: BlueprintSetupState) -> None:
    # The documented view stays registered with flask-smorest (the OpenAPI document is made from it); Flask
    # dispatches to the plain one, which falls back to it.
    endpoint = f"{blp.name}.{create_query.__name__}"
    state.app.view_functions[endpoint] = _plain_query_view(state.app.view_functions[endpoint])


@blp.route("/reports/<string:report_id>", methods=["GET"])
@blp.response(200, SignedReportOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 410)
def get_report(report_id: str) -> Response:
    """Retrieve a report you received, until its deadline (410 after)."""
    caller = bearer("reports:read", ("institution",))
    rt = runtime()
    signed = use.get_report(rt.uow, rt.vault, caller.actor, report_id, g.get("request_id"))
    return jsonify({"report": signed.report, "jws": signed.jws})


@blp.route("/reports/<string:report_id>/pdf", methods=["GET"])
@blp.arguments(PdfQuery, location="query")
@blp.doc(security=BEARER, responses=PDF_RESPONSE)
@problems(blp, 401, 403, 404, 410, 422)
def get_report_pdf(args: dict[str, Any], report_id: str) -> Response:
    """Retrieve a report you received as a PDF, until its deadline (the same audited retrieval as its JSON)."""
    caller = bearer("reports:read", ("institution",))
    return printing.institution_pdf(caller.actor, report_id, args.get("lang"))


@blp.route("/me/consent-requests", methods=["GET"])
@blp.response(200, ConsentRequestOut(many=True))
@blp.doc(security=PERSON)
@problems(blp, 401)
def my_consent_requests() -> Response:
    """Return the consent requests made to you, newest first."""
    found = use.my_requests(runtime().uow, person())
    return jsonify([_request_out(v, found.institutions[v.institution_id]) for v in found.views])


@blp.route("/me/consent-requests/<string:request_id>/approve", methods=["POST"])
@blp.arguments(ApproveIn, required=False)  # the narrowing is optional, and so is the body that holds it
@blp.response(201, GrantOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404, 409, 422)
def approve_request(data: dict[str, Any], request_id: str) -> Response:
    """Approve a request, optionally for fewer categories or a shorter time: creates a grant."""
    rt = runtime()
    answer = use.Answer(person(write=True), request_id, data.get("categories"), data.get("valid_for"),
                        g.get("request_id"))
    found = use.approve(rt.uow, rt.vault, rt.policy, answer)
    response = jsonify(_grants_out(found)[0])
    response.status_code = 201
    return response


@blp.route("/me/consent-requests/<string:request_id>/deny", methods=["POST"])
@blp.response(200, ConsentRequestOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404, 409)
def deny_request(request_id: str) -> Response:
    """Deny a request."""
    found = use.deny(runtime().uow, use.Answer(person(write=True), request_id, http_request_id=g.get("request_id")))
    view = found.views[0]
    return jsonify(_request_out(view, found.institutions[view.institution_id]))


@blp.route("/me/consents", methods=["GET"])
@blp.response(200, GrantOut(many=True))
@blp.doc(security=PERSON)
@problems(blp, 401)
def my_consents() -> Response:
    """Return your grants with their status and receipts."""
    return jsonify(_grants_out(use.my_grants(runtime().uow, person())))


@blp.route("/me/consents/<string:consent_id>", methods=["GET"])
@blp.response(200, GrantOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 404)
def my_consent(consent_id: str) -> Response:
    """Return one of your grants with its signed receipt."""
    return jsonify(_grants_out(use.my_grants(runtime().uow, person(), consent_id))[0])


@blp.route("/me/consents/<string:consent_id>", methods=["DELETE"])
@blp.response(200, GrantOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404)
def revoke_consent(consent_id: str) -> Response:
    """Revoke a grant at once."""
    return jsonify(_grants_out(use.revoke(runtime().uow, person(write=True), consent_id, g.get("request_id")))[0])


@blp.route("/me/freeze", methods=["GET"])
@blp.response(200, FreezeOut)
@blp.doc(security=PERSON)
@problems(blp, 401)
def my_freeze() -> Response:
    """Return whether your file is frozen."""
    return jsonify(_freeze_out(use.freeze_state(runtime().uow, person())))


@blp.route("/me/freeze", methods=["PUT"])
@blp.arguments(FreezeIn, required=False)  # revoke_grants is optional, and so is the body that holds it
@blp.response(200, FreezeOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 422)
def freeze_file(data: dict[str, Any]) -> Response:
    """Freeze your file at once: new consent requests are withheld from you and lapse, and institutions are
    answered as for a person the service does not know. Consents you gave keep working unless you set
    revoke_grants."""
    ref = person(write=True)
    return jsonify(_freeze_out(use.freeze(runtime().uow, ref, data.get("revoke_grants", False), g.get("request_id"))))


@blp.route("/me/freeze", methods=["DELETE"])
@blp.response(200, FreezeOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403)
def unfreeze_file() -> Response:
    """Lift the freeze at once; requests withheld meanwhile stay lapsed."""
    return jsonify(_freeze_out(use.unfreeze(runtime().uow, person(write=True), g.get("request_id"))))


def _freeze_out(found: FreezeState) -> dict[str, Any]:
    return {"frozen": found.frozen, "since": isoformat_z(found.since) if found.since else None,
            "revoked_grants": found.revoked_grants}


def _grants_out(found: use.Grants) -> list[dict[str, Any]]:
    return [_grant_out(v, found.institutions[v.institution_id]) for v in found.views]
