"""Notices to past recipients (OBJ-5): an institution reads what it was told of records it received."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify

from gateway.usecases import notices as use
from gateway.web.api.base import BEARER, XinyongBlueprint, problems
from gateway.web.context import runtime
from gateway.web.oauth.bearer import bearer
from gateway.web.schemas import NoticeListOut, NoticesQuery

blp = XinyongBlueprint("notices", __name__, url_prefix="/api/v1",
                       description="Signed notices that a record an institution received was changed")


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
