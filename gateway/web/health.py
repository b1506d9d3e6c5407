"""GET /healthz (the process answers) and GET /readyz (it can serve: database, schema, keyring)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gateway.usecases import health
from gateway.web.context import runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Return 200 while the process runs; it checks nothing else, so a restart is the only cure it asks for."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Return 200 when the service can serve, else 503 with each check's reason (send no traffic until 200)."""
    found = health.readiness(runtime())
    response = jsonify({"status": "ready" if found.ready else "not ready", "checks": found.checks})
    response.status_code = 200 if found.ready else 503
    if not found.ready:
        response.headers["Retry-After"] = "5"
    return response
