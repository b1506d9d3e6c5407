"""Notices to past recipients (OBJ-5): an institution reads what it was told of records it received."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify

from gateway.usecases import notices as use
from gateway.web.api.base import BEARER, PERSON, XinyongBlueprint, person, problems
from gateway.web.context import runtime
from gateway.web.oauth.bearer import bearer
from gateway.web.schemas import (
    MarkedOut,
    MarkReadIn,
    NoticeListOut,
    NoticesQuery,
    NotificationListOut,
    NotificationsQuery,
)

blp = XinyongBlueprint("notices", __name__, url_prefix="/api/v1",
                       description="Notices to institutions that a record they received changed; notifications")


@blp.route("/notices", methods=["GET"])
@blp.arguments(NoticesQuery, location="query")
@blp.response(200, NoticeListOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 422)
def list_notices(query: dict[str, Any]) -> Response:
    """Your notices, newest first: a record you received in a report was corrected, revoked or withdrawn
    from display. Each names the report and the record's place in it, signed (verify with the JWKS)."""
    caller = bearer("reports:read", ("institution",))
    items, next_before = use.institution_notices(runtime(), caller.actor, query["limit"], query.get("before"),
                                                 g.get("request_id"))
    return jsonify({"notices": items, "next_before": next_before})


@blp.route("/me/notifications", methods=["GET"])
@blp.arguments(NotificationsQuery, location="query")
@blp.response(200, NotificationListOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 422)
def my_notifications(query: dict[str, Any]) -> Response:
    """Your notifications, newest first, with how many are unread: consent requests, objection steps,
    changes to your records and the notices sent to institutions on your behalf."""
    return jsonify(use.my_notifications(runtime(), person(), query["limit"], query.get("before"),
                                        g.get("request_id")))


@blp.route("/me/notifications/read", methods=["POST"])
@blp.arguments(MarkReadIn, required=False)  # "all of them" needs no body
@blp.response(200, MarkedOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 422)
def mark_read(data: dict[str, Any]) -> Response:
    """Mark your notifications read: those listed in `ids`, or all of them."""
    return jsonify(use.mark_read(runtime(), person(write=True), data.get("ids"), g.get("request_id")))
