"""Credit repair (信用修复): the person applies and follows it; the agency that produced the record decides."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, g, jsonify, request

from gateway.errors import NotFound
from gateway.usecases import repairs as use
from gateway.web.api.base import BEARER, PERSON, XinyongBlueprint, person, problems, provider_of
from gateway.web.api.objections import OBJECTION_BODY_LIMIT
from gateway.web.context import runtime
from gateway.web.oauth.bearer import bearer
from gateway.web.schemas import RepairDecideIn, RepairIn, RepairListOut, RepairOut, RepairQueueQuery

blp = XinyongBlueprint("repairs", __name__, url_prefix="/api/v1",
                       description="Credit repair (信用修复) of records, free of charge, and the producing agency's "
                                   "decision")

_REPAIR_ID = re.compile(r"rp_[0-9a-f]{24}")


@blp.before_request
def _room_for_evidence() -> None:
    if request.endpoint == "repairs.apply":
        request.max_content_length = OBJECTION_BODY_LIMIT


def _checked(repair_id: str) -> str:
    if not _REPAIR_ID.fullmatch(repair_id):
        raise NotFound("no such repair application")
    return repair_id


@blp.route("/repair-rules", methods=["GET"])
@blp.response(200, description="The repair methods, effects and the decision's period in working days")
def repair_rules() -> Response:
    """Return the ways to repair a record (REP-4, REP-5), what a repair does (REP-8) and the decision's period,
    each with its reason. Repair is free of charge (REP-10)."""
    policy = runtime().policy
    rules = policy.repairs.to_public()
    # COM-5: a credit commitment is a way to repair; it is signed online on its published template.
    signed_on = {t.repair_method: t.code for t in policy.commitments.templates.values() if t.repair_method}
    for method in rules["methods"]:
        if method["code"] in signed_on:
            method["commitment"] = {"template": signed_on[method["code"]], "sign_at": "/api/v1/me/commitments"}
    return jsonify(rules)


@blp.route("/me/repairs", methods=["POST"])
@blp.arguments(RepairIn)
@blp.response(201, RepairOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404, 409, 422)
def apply(data: dict[str, Any]) -> Response:
    """Apply for the repair of one of your negative records, free of charge: the agency that produced it decides.

    422 not_repairable (citing the basis) or too_early (with the earliest date); one open application per record
    (409 repair_open). The statement, commitment and files are stored encrypted.
    """
    ref = person(write=True)
    found = use.apply(runtime(), use.ApplyForRepair(
        ref, data["record_id"], tuple(data["methods"]), data["statement"], data["commitment"]["text"],
        tuple(data["evidence"]), g.get("request_id")))
    response = jsonify(found)
    response.status_code = 201
    return response


@blp.route("/me/repairs", methods=["GET"])
@blp.response(200, RepairListOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403)
def my_repairs() -> Response:
    """Return your repair applications, newest first, with the decision, its reason and what would qualify."""
    return jsonify({"repairs": use.my_repairs(runtime(), person(), None, g.get("request_id"))})


@blp.route("/me/repairs/<string:repair_id>", methods=["GET"])
@blp.response(200, RepairOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404)
def my_repair(repair_id: str) -> Response:
    """Return one of your repair applications."""
    ref = person()
    return jsonify(use.my_repairs(runtime(), ref, _checked(repair_id), g.get("request_id"))[0])


@blp.route("/repairs", methods=["GET"])
@blp.arguments(RepairQueueQuery, location="query")
@blp.response(200, RepairListOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 422)
def agency_queue(args: dict[str, Any]) -> Response:
    """Return the repair applications for your records (the open ones by default), the oldest deadline first."""
    caller = bearer("records:write", ("provider",))
    return jsonify({"repairs": use.agency_queue(runtime(), provider_of(caller), args.get("status"),
                                                g.get("request_id"))})


@blp.route("/repairs/<string:repair_id>", methods=["GET"])
@blp.response(200, RepairOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404)
def agency_repair(repair_id: str) -> Response:
    """Return a repair application for one of your records with its statement and evidence (an audited release)."""
    caller = bearer("records:write", ("provider",))
    return jsonify(use.agency_repair(runtime(), provider_of(caller), _checked(repair_id), g.get("request_id")))


@blp.route("/repairs/<string:repair_id>/decide", methods=["POST"])
@blp.arguments(RepairDecideIn)
@blp.response(200, RepairOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409, 422)
def decide(data: dict[str, Any], repair_id: str) -> Response:
    """Decide an open application: repaired (with its effect; no third party receives the record any more) or
    refused (the person is told why). 409 names the status of one already decided."""
    caller = bearer("records:write", ("provider",))
    return jsonify(use.decide(runtime(), use.DecideRepair(
        provider_of(caller), _checked(repair_id), data["outcome"], data["reason"], data.get("effect"),
        g.get("request_id"))))
