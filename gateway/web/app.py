"""The application factory."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta
from typing import Any, cast

from flask import Flask, Response, g, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway import logs
from gateway.config import from_environ
from gateway.errors import NotFound
from gateway.runtime import Runtime, build_runtime, check_initialised
from gateway.usecases import consents as consents_use
from gateway.usecases import declarations as declarations_use
from gateway.usecases import listings as listings_use
from gateway.usecases import objections as objections_use
from gateway.usecases import repairs as repairs_use
from gateway.usecases import retention as retention_use
from gateway.usecases.failures import purge_failures
from gateway.web import (
    health,
    i18n,
    labels,
    layout,
    metrics,
    portal,
    printing,
    problems,
    sessions,
    staff_portal,
    wellknown,
)
from gateway.web import verify as verify_page
from gateway.web.api import apps as apps_api
from gateway.web.api import auditors as auditors_api
from gateway.web.api import commitments as commitments_api
from gateway.web.api import consents as consents_api
from gateway.web.api import declarations as declarations_api
from gateway.web.api import ledger as ledger_api
from gateway.web.api import listings as listings_api
from gateway.web.api import notices as notices_api
from gateway.web.api import objections as objections_api
from gateway.web.api import people as people_api
from gateway.web.api import records as records_api
from gateway.web.api import repairs as repairs_api
from gateway.web.api import verification as verification_api
from gateway.web.api.base import XinyongApi, document_revocation_endpoint, document_token_endpoint
from gateway.web.oauth import endpoints as oauth
from gateway.web.periodic import Periodic

REPORT_PURGE_SECONDS = 60.0
OBJECTION_SWEEP_SECONDS = 600.0
FAILURE_PURGE_SECONDS = 600.0
RETENTION_SECONDS = 3600.0
RETENTION_BATCHES = 10  # at most 5,000 tombstones an hour from one worker; `xinyong records expire` clears a backlog
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
csrf = CSRFProtect()


def create_app(test_config: dict[str, Any] | None = None, runtime: Runtime | None = None) -> Flask:
    """Return the Flask app; refuses to start without a keyring or an initialised database."""
    app = Flask(__name__)
    logs.install()
    if runtime is None:
        runtime = build_runtime(from_environ())
        check_initialised(runtime)
    app.extensions["xinyong"] = runtime
    dev = runtime.settings.development
    app.config.update(
        SECRET_KEY=runtime.vault.session_secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not dev,
        SESSION_COOKIE_NAME="xinyong_session",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=30),
        WTF_CSRF_TIME_LIMIT=None,
        API_TITLE="Xinyong",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=1 << 20,
    )
    if runtime.settings.public_url:
        # Behind a proxy the request's Host is not the public name that client assertions are addressed to.
        app.config["XINYONG_TOKEN_ENDPOINT"] = runtime.settings.public_url + "/oauth/token"
    app.config.update(test_config or {})
    _trust_proxies(app, runtime.settings.trusted_proxies)
    app.session_interface = sessions.CookieSessions()
    csrf.init_app(app)
    api = XinyongApi(app, spec_kwargs={
        "info": {"description": "Personal public credit information service (信用)."},
    })
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.spec.components.security_scheme(
        "session", {"type": "apiKey", "in": "cookie", "name": "xinyong_session"})
    api.register_blueprint(records_api.blp)
    api.register_blueprint(people_api.blp)
    api.register_blueprint(consents_api.blp)
    api.register_blueprint(auditors_api.blp)
    api.register_blueprint(ledger_api.blp)
    api.register_blueprint(apps_api.blp)
    api.register_blueprint(objections_api.blp)
    api.register_blueprint(notices_api.blp)
    api.register_blueprint(repairs_api.blp)
    api.register_blueprint(verification_api.blp)
    api.register_blueprint(listings_api.blp)
    api.register_blueprint(declarations_api.blp)
    api.register_blueprint(commitments_api.blp)
    # The JSON API authenticates with bearer tokens or (for /me) checks CSRF itself; forms use CSRFProtect.
    csrf.exempt(records_api.blp)
    csrf.exempt(people_api.blp)
    csrf.exempt(consents_api.blp)
    csrf.exempt(auditors_api.blp)
    csrf.exempt(ledger_api.blp)
    csrf.exempt(apps_api.blp)
    csrf.exempt(objections_api.blp)
    csrf.exempt(notices_api.blp)
    csrf.exempt(repairs_api.blp)
    csrf.exempt(verification_api.blp)
    csrf.exempt(listings_api.blp)
    csrf.exempt(declarations_api.blp)
    csrf.exempt(commitments_api.blp)
    ledger_api.init_app(app, runtime)
    oauth.init_app(app)
    csrf.exempt(oauth.bp)
    document_token_endpoint(app, api)
    document_revocation_endpoint(app, api)
    i18n.init_app(app)
    labels.install(app)
    layout.init_app(app)
    portal.init_app(app)
    staff_portal.init_app(app)
    app.register_blueprint(wellknown.bp)
    verify_page.init_app(app)
    # Verifying changes nothing and needs no session: a visitor without a cookie may paste a report.
    csrf.exempt(verify_page.bp)
    printing.init_app(app)
    app.register_blueprint(health.bp)
    problems.register(app)
    metrics.init_app(app, runtime)
    # Reports past their deadline are purged even if nobody asks for them again.
    Periodic("report purge", REPORT_PURGE_SECONDS, lambda: consents_use.purge_expired_reports(runtime.uow)).install(app)
    # An objection step past its deadline is an audit entry even if no auditor asks for anomalies.
    Periodic("objection deadlines", OBJECTION_SWEEP_SECONDS,
             lambda: objections_use.record_overdue(runtime)).install(app)
    Periodic("repair deadlines", OBJECTION_SWEEP_SECONDS,
             lambda: repairs_use.record_overdue(runtime)).install(app)
    # A proposed listing takes effect once its window has passed, and a listing ends with its period, even if
    # no agency or person asks meanwhile.
    Periodic("listing clocks", OBJECTION_SWEEP_SECONDS, lambda: listings_use.run_clock(runtime)).install(app)
    # The second clock: records past their category's retention period become tombstones even if nobody runs
    # `xinyong records expire`.
    Periodic("retention expiry", RETENTION_SECONDS,
             lambda: retention_use.expire(runtime, max_batches=RETENTION_BATCHES, counted=False)).install(app)
    Periodic("declaration deadlines", OBJECTION_SWEEP_SECONDS,
             lambda: declarations_use.record_overdue(runtime)).install(app)
    Periodic("failure purge", FAILURE_PURGE_SECONDS,
             lambda: purge_failures(runtime.uow, runtime.settings.failure_limits)).install(app)
    _request_hooks(app)
    return app


def _trust_proxies(app: Flask, hops: int) -> None:
    """Behind `hops` reverse proxies, take the client's address, the scheme and the host from what they
    forwarded (X-Forwarded-For, -Proto, -Host): failures are then counted per client, not per proxy, and the
    token endpoint knows a request reached the proxy over https. With 0, forwarded headers are ignored, as
    anyone can send them."""
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def _request_hooks(app: Flask) -> None:
    @app.before_request
    def _keyring() -> None:
        cast(Runtime, app.extensions["xinyong"]).vault.refresh()

    @app.before_request
    def _request_id() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)

    @app.before_request
    def _plain_path_parameters() -> None:
        # An id with a control character names nothing (and PostgreSQL text cannot hold NUL).
        for value in (request.view_args or {}).values():
            if isinstance(value, str) and any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
                raise NotFound("no such resource")

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.path.startswith(("/me", "/api/v1/me", "/login")):
            response.headers["Cache-Control"] = "no-store"
        # Pages carry no script; their stylesheet is ours, a page's own style block is allowed by a nonce, and
        # no page may be framed
        # (clickjacking an Approve button). Over https, browsers are told to stay on https.
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src 'self' 'nonce-{csp_nonce()}'; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if response.status_code >= 500:
            # The path only: a query string can carry a citizen ID (an auditor's `person` filter).
            _responses.error("server error", extra={"request_id": g.get("request_id"), "method": request.method,
                                                    "path": request.path, "status": response.status_code})
        return response

    app.jinja_env.globals["csp_nonce"] = csp_nonce


def csp_nonce() -> str:
    """Return this request's nonce for inline styles, made on first use."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


logging.getLogger("xinyong").addHandler(logging.NullHandler())
_responses = logging.getLogger("xinyong.responses")
