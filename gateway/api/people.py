"""Catalogue, activation and the person's own report."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, session
from flask_smorest import Blueprint

from gateway.api.base import SESSION, client_address, problems
from gateway.context import db, runtime
from gateway.errors import Unauthenticated
from gateway.schemas import ActivateIn, ActivateOut, SelfReportOut
from gateway.usecases import people

blp = Blueprint("people", __name__, url_prefix="/api/v1", description="Catalogue and people")


@blp.route("/catalogue", methods=["GET"])
@blp.response(200, description="The credit information catalogue in force (目录)")
def get_catalogue() -> Response:
    """Return the catalogue: every category, its display period, share scope and fields."""
    return jsonify(runtime().catalogue.to_public())


@blp.route("/subjects/activate", methods=["POST"])
@blp.arguments(ActivateIn)
@blp.response(200, ActivateOut)
@problems(blp, 401, 422, 429)
def activate(data: dict[str, Any]) -> Response:
    """Set a password with the one-time activation code given at a service counter."""
    people.activate(db(), runtime(), data["citizen_id"], data["activation_code"], data["password"],
                    client_address())
    return jsonify({"status": "active"})


def current_person() -> str:
    """Return the blind index of the logged-in person, or raise 401."""
    ref = session.get("subject_ref")
    if not isinstance(ref, str):
        raise Unauthenticated("log in at /login first")
    return ref


@blp.route("/me/report", methods=["GET"])
@blp.response(200, SelfReportOut)
@blp.doc(security=SESSION)
@problems(blp, 401, 410)
def my_report() -> Response:
    """Return every record about you, and who queried them."""
    report = people.self_report(db(), runtime(), current_person(), g.get("request_id"))
    return jsonify(report)
