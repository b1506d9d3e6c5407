"""Lists (名单): an agency proposes and ends listings; the person reads theirs, with its remedies, and objects."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, g, jsonify, request

from gateway.errors import NotFound
from gateway.usecases import listings as use
from gateway.web.api.base import BEARER, PERSON, XinyongBlueprint, person, problems, provider_of
from gateway.web.api.objections import OBJECTION_BODY_LIMIT
from gateway.web.context import runtime
from gateway.web.oauth.bearer import bearer
from gateway.web.schemas import (
    ListingEndIn,
    ListingIn,
    ListingListOut,
    ListingObjectionIn,
    ListingOut,
    ListingQueueQuery,
)

blp = XinyongBlueprint("listings", __name__, url_prefix="/api/v1",
                       description="Lists (名单): serious-dishonesty listings with prior notice and an objection "
                                   "window, and commendation (red) listings")

_LISTING_ID = re.compile(r"ls_[0-9a-f]{24}")


@blp.before_request
def _room_for_evidence() -> None:
    if request.endpoint == "listings.object_to":
        request.max_content_length = OBJECTION_BODY_LIMIT


def _checked(listing_id: str) -> str:
    if not _LISTING_ID.fullmatch(listing_id):
        raise NotFound("no such listing")
    return listing_id


@blp.route("/list-rules", methods=["GET"])
@blp.response(200, description="The lists, who may propose them, their windows, measures, exits and remedies")
def list_rules() -> Response:
    """Return the lists (black and red): the lowest agency level, the objection window in working days, the
    period, the measures, the removal conditions, the monitoring after exit and the remedies, each with its
    reason (LIST-4 to LIST-10)."""
    return jsonify(runtime().policy.lists.to_public())


@blp.route("/listings", methods=["POST"])
@blp.arguments(ListingIn)
@blp.response(201, ListingOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409, 422)
def propose(data: dict[str, Any]) -> Response:
    """Propose a listing resting on one of your records. A black listing is proposed (the person is told at once
    and may object until it takes effect, after the window); a red one takes effect at once.

    403 level_too_low below the list's lowest level (county for black, LIST-6); 409 listed for a red listing of
    a person on the black list (LIST-10); 409 listing_open if the record already rests one of that list.
    """
    caller = bearer("records:write", ("provider",))
    found = use.propose(runtime(), use.ProposeListing(
        provider_of(caller), data["record_id"], data["list_"], data["reason"], data["basis"],
        tuple(data["measures"]), g.get("request_id")))
    response = jsonify(found)
    response.status_code = 201
    return response


@blp.route("/listings", methods=["GET"])
@blp.arguments(ListingQueueQuery, location="query")
@blp.response(200, ListingListOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 422)
def agency_queue(args: dict[str, Any]) -> Response:
    """Return your listings (those not ended by default) with their clocks, the nearest first; no texts."""
    caller = bearer("records:write", ("provider",))
    return jsonify({"listings": use.agency_queue(runtime(), provider_of(caller), args.get("status"),
                                                 g.get("request_id"))})


@blp.route("/listings/<string:listing_id>/end", methods=["POST"])
@blp.arguments(ListingEndIn)
@blp.response(200, ListingOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409, 422)
def end(data: dict[str, Any], listing_id: str) -> Response:
    """Withdraw your proposal (dropped) or remove your listing (ended) with your reason, as a new version.
    409 names the status of one already ended."""
    caller = bearer("records:write", ("provider",))
    return jsonify(use.end(runtime(), use.EndListing(provider_of(caller), _checked(listing_id), data["reason"],
                                                     g.get("request_id"))))


@blp.route("/me/listings", methods=["GET"])
@blp.response(200, ListingListOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403)
def my_listings() -> Response:
    """Return your listings, proposed, in effect and ended, with the reason, basis, measures, removal conditions,
    your rights and remedies, the dates and every version."""
    return jsonify({"listings": use.my_listings(runtime(), person(), None, g.get("request_id"))})


@blp.route("/me/listings/<string:listing_id>", methods=["GET"])
@blp.response(200, ListingOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404)
def my_listing(listing_id: str) -> Response:
    """Return one of your listings."""
    ref = person()
    return jsonify(use.my_listings(runtime(), ref, _checked(listing_id), g.get("request_id"))[0])


@blp.route("/me/listings/<string:listing_id>/objection", methods=["POST"])
@blp.arguments(ListingObjectionIn)
@blp.response(201, ListingOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404, 409, 422)
def object_to(data: dict[str, Any], listing_id: str) -> Response:
    """Object to a proposed listing, with your reason and evidence: it does not take effect while the agency
    verifies it. An objection of the objection mechanism (follow it at /api/v1/me/objections); 409
    listing_step_out_of_order once the listing is in effect or an objection already waits."""
    ref = person(write=True)
    found = use.object_to(runtime(), use.ObjectToListing(ref, _checked(listing_id), data["reason"],
                                                         tuple(data["evidence"]), g.get("request_id")))
    response = jsonify(found)
    response.status_code = 201
    return response
