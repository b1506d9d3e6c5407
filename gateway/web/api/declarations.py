"""Voluntary registration (自愿注册): the person declares, the competent agency verifies."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, g, jsonify, request

from gateway.errors import NotFound
from gateway.usecases import declarations as use
from gateway.web.api.base import BEARER, PERSON, XinyongBlueprint, created, person, problems, provider_of
from gateway.web.api.objections import OBJECTION_BODY_LIMIT
from gateway.web.context import runtime
from gateway.web.oauth.bearer import bearer
from gateway.web.schemas import (
    DeclarationIn,
    DeclarationListOut,
    DeclarationOut,
    DeclarationQueueQuery,
    DeclarationVerifyIn,
)

blp = XinyongBlueprint("declarations", __name__, url_prefix="/api/v1",
                       description="Voluntary registration (自愿注册) of positive information, and its verification "
                                   "by the competent agency")

_DECLARATION_ID = re.compile(r"dc_[0-9a-f]{24}")


@blp.before_request
def _room_for_evidence() -> None:
    if request.endpoint == "declarations.declare":
        request.max_content_length = OBJECTION_BODY_LIMIT


def _checked(declaration_id: str) -> str:
    if not _DECLARATION_ID.fullmatch(declaration_id):
        raise NotFound("no such declaration")
    return declaration_id


@blp.route("/declaration-rules", methods=["GET"])
@blp.response(200, description="The categories open to voluntary registration, the verification's period and "
                               "the texts accepted")
def declaration_rules() -> Response:
    """Return what may be declared (VOL-1, DATA-7), by when it is verified, the commitment and authorisation a
    declaration carries (AUTH-5) and what a false one becomes, each with its reason."""
    return jsonify(runtime().policy.declarations.to_public())


@blp.route("/me/declarations", methods=["POST"])
@blp.arguments(DeclarationIn)
@blp.response(201, DeclarationOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404, 409, 422)
def declare(data: dict[str, Any]) -> Response:
    """Declare positive information in a category open to it, with a commitment that it is true.

    It stays unverified, and is released to no one, until the competent agency verifies it. 422 not_declarable
    names the categories open; the same item may wait once (409 declaration_open).
    """
    ref = person(write=True)
    return created(use.declare(runtime(), use.Declare(
        ref, data["category"], data["payload"], data["commitment"]["text"], tuple(data["evidence"]),
        g.get("request_id"))))


@blp.route("/me/declarations", methods=["GET"])
@blp.response(200, DeclarationListOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403)
def my_declarations() -> Response:
    """Return your declarations, newest first, with their status and what each became."""
    return jsonify({"declarations": use.my_declarations(runtime(), person(), None, g.get("request_id"))})


@blp.route("/me/declarations/<string:declaration_id>", methods=["GET"])
@blp.response(200, DeclarationOut)
@blp.doc(security=PERSON)
@problems(blp, 401, 403, 404)
def my_declaration(declaration_id: str) -> Response:
    """Return one of your declarations."""
    ref = person()
    return jsonify(use.my_declarations(runtime(), ref, _checked(declaration_id), g.get("request_id"))[0])


@blp.route("/declarations", methods=["GET"])
@blp.arguments(DeclarationQueueQuery, location="query")
@blp.response(200, DeclarationListOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 422)
def agency_queue(args: dict[str, Any]) -> Response:
    """Return the declarations in the categories you may verify (those waiting by default), oldest deadline first."""
    caller = bearer("records:write", ("provider",))
    return jsonify({"declarations": use.agency_queue(runtime(), provider_of(caller), args.get("status"),
                                                     g.get("request_id"))})


@blp.route("/declarations/<string:declaration_id>", methods=["GET"])
@blp.response(200, DeclarationOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404)
def agency_declaration(declaration_id: str) -> Response:
    """Return a declaration you may verify with what was declared and its evidence (an audited release)."""
    caller = bearer("records:write", ("provider",))
    return jsonify(use.agency_declaration(runtime(), provider_of(caller), _checked(declaration_id),
                                          g.get("request_id")))


@blp.route("/declarations/<string:declaration_id>/verify", methods=["POST"])
@blp.arguments(DeclarationVerifyIn)
@blp.response(200, DeclarationOut)
@blp.doc(security=BEARER)
@problems(blp, 401, 403, 404, 409, 422)
def verify(data: dict[str, Any], declaration_id: str) -> Response:
    """Verify a waiting declaration: verified, it becomes your record of its category; false, a broken-commitment
    record (CREDIT_COMMITMENT_BREACH) about the person. 409 names the status of one already decided."""
    caller = bearer("records:write", ("provider",))
    return jsonify(use.verify(runtime(), use.VerifyDeclaration(
        provider_of(caller), _checked(declaration_id), data["outcome"], data["reason"], g.get("request_id"))))
