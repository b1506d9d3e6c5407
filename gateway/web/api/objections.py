"""Objections (异议): the person files and follows them; the agency that produced the record answers."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, g, jsonify, request

from gateway.errors import NotFound
from gateway.usecases import objections as use
from gateway.web.api.base import BEARER, PERSON, XinyongBlueprint, person, problems, provider_of
from gateway.web.context import runtime
from gateway.web.oauth.bearer import bearer
from gateway.web.schemas import (
    DecideIn,
    ObjectionIn,
    ObjectionListOut,
    ObjectionOut,
    ObjectionQueueQuery,
    RefuseIn,
)

blp = XinyongBlueprint("objections", __name__, url_prefix="/api/v1",
                       description="Objections (异议) to records, and the producing agency's answers")

# Evidence travels in base64 in the JSON body: 10 MB of files in all is about 13.4 MB of text.
OBJECTION_BODY_LIMIT = 14 << 20
_OBJECTION_ID = re.compile(r"ob_[0-9a-f]{24}")


@blp.before_request
def _room_for_evidence() -> None:
    if request.endpoint == "objections.file_objection":
        request.max_content_length = OBJECTION_BODY_LIMIT


def _checked(objection_id: str) -> str:
    if not _OBJECTION_ID.fullmatch(objection_id):
        raise NotFound("no such objection")
    return objection_id


@blp.route("/objection-rules", methods=["GET"])
@blp.response(200, description="The objection steps' periods in working days, and what is withheld while disputed")
def objection_rules() -> Response:
    """Return the deadlines table: each step's period in working days with its reason, the categories withheld
    from third parties while an objection is verified, and the evidence allowed."""
    return jsonify(runtime().policy.objections.to_public())


@blp.route("/me/objections", methods=["POST"])
@blp.arguments(ObjectionIn)
@blp.response(201, ObjectionOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404, 409, 422)
def file_objection(data: dict[str, Any]) -> Response:
    """Object to one of your records, with your reason and evidence: the agency that produced it must answer.

    One open objection per record (409 objection_open). The reason and the files are stored encrypted.
    """
    ref = person(write=True)
    found = use.file_objection(runtime(), use.FileObjection(ref, data["record_id"], data["reason"],
                                                            tuple(data["evidence"]), g.get("request_id")))
    response = jsonify(found)
    response.status_code = 201
    return response


@blp.route("/me/objections", methods=["GET"])
@blp.response(200, ObjectionListOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403)
def my_objections() -> Response:
    """Return your objections, newest first: each step, its date, its deadline and the agency's words."""
    return jsonify({"objections": use.my_objections(runtime(), person(), None, g.get("request_id"))})


@blp.route("/me/objections/<string:objection_id>", methods=["GET"])
@blp.response(200, ObjectionOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404)
def my_objection(objection_id: str) -> Response:
    """Return one of your objections."""
    ref = person()
    return jsonify(use.my_objections(runtime(), ref, _checked(objection_id), g.get("request_id"))[0])


@blp.route("/objections", methods=["GET"])
@blp.arguments(ObjectionQueueQuery, location="query")
@blp.response(200, ObjectionListOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 422)
def agency_queue(args: dict[str, Any]) -> Response:
    """Return the objections to your records (the open ones by default), the oldest deadline first."""
    caller = bearer("records:write", ("provider",))
    return jsonify({"objections": use.agency_queue(runtime(), provider_of(caller), args.get("status"),
                                                   g.get("request_id"))})


@blp.route("/objections/<string:objection_id>", methods=["GET"])
@blp.response(200, ObjectionOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404)
def agency_objection(objection_id: str) -> Response:
    """Return an objection to one of your records with its reason and evidence (an audited release)."""
    caller = bearer("records:write", ("provider",))
    return jsonify(use.agency_objection(runtime(), provider_of(caller), _checked(objection_id), g.get("request_id")))


def _step(objection_id: str, step: str, **given: Any) -> Response:
    caller = bearer("records:write", ("provider",))
    return jsonify(use.agency_step(runtime(), use.AgencyStep(provider_of(caller), _checked(objection_id), step,
                                                             request_id=g.get("request_id"), **given)))


@blp.route("/objections/<string:objection_id>/accept", methods=["POST"])
@blp.response(200, ObjectionOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409)
def accept(objection_id: str) -> Response:
    """Accept a submitted objection: the decision is then due within its period (409 names the current status)."""
    return _step(objection_id, "accept")


@blp.route("/objections/<string:objection_id>/refuse", methods=["POST"])
@blp.arguments(RefuseIn)
@blp.response(200, ObjectionOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409, 422)
def refuse(data: dict[str, Any], objection_id: str) -> Response:
    """Refuse a submitted objection with the reason the person is told."""
    return _step(objection_id, "refuse", reason=data["reason"])


@blp.route("/objections/<string:objection_id>/decide", methods=["POST"])
@blp.arguments(DecideIn)
@blp.response(200, ObjectionOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409, 422)
def decide(data: dict[str, Any], objection_id: str) -> Response:
    """Decide an accepted objection: corrected (with the corrected payload), revoked, or upheld."""
    return _step(objection_id, "decide", reason=data["reason"], outcome=data["outcome"],
                 correction=data.get("correction"))
