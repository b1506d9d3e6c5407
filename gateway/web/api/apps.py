"""The apps acting for a person: list them, revoke one."""

from __future__ import annotations

from flask import Response, g, jsonify

from audit.clock import isoformat_z
from gateway.usecases import apps
from gateway.web.api.base import PERSON, XinyongBlueprint, person, problems
from gateway.web.context import runtime
from gateway.web.schemas import AppLoginOut, AppRevokedOut

blp = XinyongBlueprint("apps", __name__, url_prefix="/api/v1", description="Apps acting for a person")


def _login_out(login: apps.AppLogin) -> dict[str, object]:
    return {
        "client_id": login.client_id, "name": {"zh": login.name.zh, "en": login.name.en}, "scope": login.scope,
        "may": [{"zh": m.zh, "en": m.en} for m in login.may], "since": isoformat_z(login.since),
        "last_used_at": isoformat_z(login.last_used_at) if login.last_used_at else None, "logins": login.logins,
    }


@blp.route("/me/apps", methods=["GET"])
@blp.response(200, AppLoginOut(many=True))
@blp.doc(security=PERSON)
@problems(blp, 401, 403)
def my_apps() -> Response:
    """Return the apps that may act for you: what each may see, since when, and when it last used the API."""
    return jsonify([_login_out(a) for a in apps.app_logins(runtime().uow, person())])


@blp.route("/me/apps/<string:client_id>", methods=["DELETE"])
@blp.response(200, AppRevokedOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404)
def revoke_app(client_id: str) -> Response:
    """Revoke an app: every token it holds for you stops working at once, and it must ask your consent again."""
    count = apps.revoke_app(runtime().uow, person(write=True), client_id, g.get("request_id"))
    return jsonify({"client_id": client_id, "tokens_revoked": count})
