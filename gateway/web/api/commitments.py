"""Credit commitments (信用承诺): the person signs on a published template; the accepting body records the outcome."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, g, jsonify

from gateway.errors import InsufficientScope, NotFound, WrongRole
from gateway.usecases import commitments as use
from gateway.web.api.base import BEARER, PERSON, XinyongBlueprint, created, person, problems, provider_of
from gateway.web.context import runtime
from gateway.web.oauth.bearer import Caller, bearer
from gateway.web.schemas import (
    CommitmentListOut,
    CommitmentOut,
    CommitmentOutcomeIn,
    CommitmentQueueQuery,
    SignCommitmentIn,
)

blp = XinyongBlueprint("commitments", __name__, url_prefix="/api/v1",
                       description="Credit commitments (信用承诺) on standard templates, and their fulfilment or "
                                   "breach as recorded by the body they were made to")

_COMMITMENT_ID = re.compile(r"cm_[0-9a-f]{24}")


def _checked(commitment_id: str) -> str:
    if not _COMMITMENT_ID.fullmatch(commitment_id):
        raise NotFound("no such commitment")
    return commitment_id


def _accepting_body() -> Caller:
    """Return the caller as a body commitments are made to: an authority (records:write) or an institution."""
    try:
        return bearer("records:write", ("provider",))
    except (InsufficientScope, WrongRole):
        return bearer("reports:read", ("institution",))


@blp.route("/commitment-templates", methods=["GET"])
@blp.response(200, description="The standard commitment letters per scenario, and what a breach does")
def commitment_templates() -> Response:
    """Return the published templates (COM-1, COM-2): their texts, who may accept each, due dates, and what a
    broken commitment becomes, each with its reason."""
    return jsonify(runtime().policy.commitments.to_public())


@blp.route("/me/commitments", methods=["POST"])
@blp.arguments(SignCommitmentIn)
@blp.response(201, CommitmentOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 422)
def sign(data: dict[str, Any]) -> Response:
    """Sign a credit commitment on a template to an institution or authority that the template allows."""
    ref = person(write=True)
    return created(use.sign(runtime(), use.SignCommitment(
        ref, data["template"], data["accepting_body"], data.get("details"), data.get("due_date"),
        g.get("request_id"))))


@blp.route("/me/commitments", methods=["GET"])
@blp.response(200, CommitmentListOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403)
def my_commitments() -> Response:
    """Return your commitments, newest first, with their status."""
    return jsonify({"commitments": use.my_commitments(runtime(), person(), None, g.get("request_id"))})


@blp.route("/me/commitments/<string:commitment_id>", methods=["GET"])
@blp.response(200, CommitmentOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404)
def my_commitment(commitment_id: str) -> Response:
    """Return one of your commitments."""
    ref = person()
    return jsonify(use.my_commitments(runtime(), ref, _checked(commitment_id), g.get("request_id"))[0])


@blp.route("/commitments", methods=["GET"])
@blp.arguments(CommitmentQueueQuery, location="query")
@blp.response(200, CommitmentListOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 422)
def body_commitments(args: dict[str, Any]) -> Response:
    """Return the commitments made to you (the pending ones by default), the earliest due first."""
    caller = _accepting_body()
    return jsonify({"commitments": use.body_commitments(runtime(), caller.actor, caller.role,
                                                        args.get("status"), g.get("request_id"))})


@blp.route("/commitments/<string:commitment_id>", methods=["GET"])
@blp.response(200, CommitmentOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404)
def body_commitment(commitment_id: str) -> Response:
    """Return a commitment made to you with the text signed and the person's details (an audited release)."""
    caller = _accepting_body()
    return jsonify(use.body_commitment(runtime(), caller.actor, caller.role, _checked(commitment_id),
                                       g.get("request_id")))


@blp.route("/commitments/<string:commitment_id>/outcome", methods=["POST"])
@blp.arguments(CommitmentOutcomeIn)
@blp.response(200, CommitmentOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409, 422)
def outcome(data: dict[str, Any], commitment_id: str) -> Response:
    """Record a commitment made to you fulfilled or breached. A breach of one made to an authority becomes its
    CREDIT_COMMITMENT_BREACH record about the person. 409 names the status of one already closed."""
    caller = _accepting_body()
    provider = provider_of(caller) if caller.role == "provider" else None
    return jsonify(use.record_outcome(runtime(), use.RecordOutcome(
        caller.actor, caller.role, _checked(commitment_id), data["outcome"], data["reason"],
        data.get("breach", "not_fulfilled"), provider, g.get("request_id"))))
