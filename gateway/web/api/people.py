"""Catalogue, activation and the person's own report."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify

from gateway.errors import Unauthenticated
from gateway.usecases import people
from gateway.usecases.access_log import access_log
from gateway.web import printing, sessions
from gateway.web.api.base import (
    NOT_LOGGED_IN,
    PERSON,
    XinyongBlueprint,
    client_address,
    person,
    portal_token,
    problems,
)
from gateway.web.context import runtime
from gateway.web.schemas import (
    PDF_RESPONSE,
    AccessLogOut,
    AccessLogQuery,
    ActivateIn,
    ActivateOut,
    CatalogueOut,
    PdfQuery,
    SelfReportOut,
    SignedReportOut,
)

blp = XinyongBlueprint("people", __name__, url_prefix="/api/v1", description="Catalogue and people")


@blp.route("/catalogue", methods=["GET"])
@blp.response(200, CatalogueOut, description="The credit information catalogue in force (目录)")
@problems(blp)
def get_catalogue() -> Response:
    """Return the catalogue: every category, its display period, share scope and fields."""
    return jsonify(runtime().catalogue.to_public())


@blp.route("/subjects/activate", methods=["POST"])
@blp.arguments(ActivateIn)
@blp.response(200, ActivateOut)
@problems(blp, 401, 422, 429)
def activate(data: dict[str, Any]) -> Response:
    """Set a password with the one-time activation code given at a service counter."""
    people.activate(runtime(), data["citizen_id"], data["activation_code"], data["password"], client_address())
    return jsonify({"status": "active"})


@blp.route("/me/report", methods=["GET"])
@blp.response(200, SelfReportOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404, 410)
def my_report() -> Response:
    """Return every record about you, and who queried them."""
    token = portal_token()
    if token is None:
        return jsonify(people.self_report(runtime(), person(), g.get("request_id")))
    # A portal session is checked in the report's own transaction: one transaction for the request.
    found = people.session_self_report(runtime(), token, g.get("request_id"))
    sessions.checked(None if found is None else found[0])
    if found is None:
        raise Unauthenticated(NOT_LOGGED_IN)
    return jsonify(found[1])


@blp.route("/me/report/signed", methods=["GET"])
@blp.response(200, SignedReportOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404, 410)
def my_signed_report() -> Response:
    """Return your own report as a JWS (EdDSA), verifiable with /.well-known/jwks.json."""
    signed = people.signed_self_report(runtime(), person(), g.get("request_id"))
    return jsonify({"report": signed.report, "jws": signed.jws})


@blp.route("/me/report/pdf", methods=["GET"])
@blp.arguments(PdfQuery, location="query")
@blp.doc(security=PERSON, responses=PDF_RESPONSE)
@problems(blp, 401, 403, 404, 410, 422)
def my_report_pdf(args: dict[str, Any]) -> Response:
    """Return your own report, signed, as a PDF (the same audited read as /me/report/signed)."""
    return printing.person_pdf(person(), args.get("lang"))


@blp.route("/me/access-log", methods=["GET"])
@blp.arguments(AccessLogQuery, location="query")
@blp.response(200, AccessLogOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 422)
def my_access_log(args: dict[str, Any]) -> Response:
    """Return every access to your data, newest first, each with its inclusion proof against the signed tree head."""
    return jsonify(access_log(runtime(), person(), args.get("before"), args["limit"]))
