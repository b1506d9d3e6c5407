"""The baseline server: a bare Flask endpoint returning constant JSON (gunicorn "bench.constant_app:create_app()")."""

from __future__ import annotations

from flask import Flask, Response, jsonify


def create_app() -> Flask:
    """Return an app whose every GET / answers the same small JSON document."""
    app = Flask(__name__)

    @app.get("/")
    def constant() -> Response:
        return jsonify({"status": "ok"})

    return app
