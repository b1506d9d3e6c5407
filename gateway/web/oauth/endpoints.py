"""The OAuth blueprint: the token endpoint (RFC 6749 §3.2) and the app's authorization endpoint (§3.1)."""

from __future__ import annotations

import re

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from flask import Blueprint, Flask, Response, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from gateway.web import sessions
from gateway.web.context import request_tx
from gateway.web.oauth import server as oauth_server
from gateway.web.oauth.server import authorization_server

bp = Blueprint("oauth", __name__)


@bp.post("/oauth/token")
def issue_token() -> Response:
    """Issue a bearer token (RFC 6749 §4.1.3, §4.4, §6); errors follow RFC 6749 §5.2, as OAuth clients expect."""
    # An error answer commits too: a spent jti or a revoked token family must stick.
    try:
        with request_tx("oauth", "oauth"):
            response: Response = authorization_server().create_token_response()
    except InsecureTransportError:
        # Plain http to another host than this machine. (Behind a TLS-terminating proxy, XINYONG_TRUSTED_PROXIES
        # lets the app take the scheme the proxy was reached with.)
        refused = jsonify({"error": "invalid_request",
                           "error_description": "The token endpoint is served over https only."})
        refused.status_code = 400
        refused.headers["Cache-Control"] = "no-store"
        return refused
    return response


@bp.get("/oauth/authorize")
def authorize() -> BaseResponse | tuple[str, int]:
    """Send the person to log in if needed, then back to the app's loopback redirect URI with a code."""
    server = authorization_server()
    if _UNSAFE_URI.search(request.args.get("redirect_uri", "")):
        # Line breaks would split a Location header, and browsers read a backslash as a slash: no such URI
        # is a loopback callback, and Authlib would fail to even word the error.
        return render_template("oauth_error.html", error="invalid_request",
                               description=_AUTHORIZE_PAGE_TEXT["invalid_request"]), 400
    with request_tx("oauth", "oauth"):
        try:
            grant = server.get_consent_grant()  # client, redirect URI, response type, scope, PKCE
        except OAuth2Error as error:
            return _authorize_error(server, error)
        ref = sessions.person()
        if ref is None:
            return redirect(url_for("portal.login_form", next=request.full_path))
        # The app is first-party and asks only for the person's own data (scope `me`): logging in is the
        # consent, so there is no consent screen.
        response: BaseResponse = server.create_authorization_response(grant=grant, grant_user=ref)
    response.headers["Cache-Control"] = "no-store"
    return response


def _authorize_error(server: AuthorizationServer, error: OAuth2Error) -> BaseResponse | tuple[str, int]:
    if error.redirect_uri:  # set by Authlib only once the redirect URI was checked against the client
        response: BaseResponse = server.handle_error_response(None, error)
        response.headers["Cache-Control"] = "no-store"
        return response
    # A fixed text, not Authlib's description: that would echo the attacker's URI on this site's page.
    explanation = _AUTHORIZE_PAGE_TEXT.get(error.error, "The request is not a valid authorization request.")
    return render_template("oauth_error.html", error=error.error, description=explanation), 400


_UNSAFE_URI = re.compile(r"[\x00-\x1f\x7f\\]")
_AUTHORIZE_PAGE_TEXT = {
    "invalid_client": "The client_id is missing or names no app that may use this endpoint.",
    "invalid_request": "The redirect_uri is missing or is not http://127.0.0.1:<port>/callback or "
                       "http://[::1]:<port>/callback, or a parameter is repeated.",
}


def init_app(app: Flask) -> None:
    """Install the authorization and token endpoints, with an authorization server of this app's own."""
    oauth_server.init_app(app)
    app.register_blueprint(bp)
