"""The OAuth blueprint: the token endpoint (RFC 6749 §3.2), the app's authorization endpoint (§3.1) with its
consent screen, and token revocation (RFC 7009)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from flask import Blueprint, Flask, Response, jsonify, make_response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, ValidationError, validate_csrf
from werkzeug.wrappers import Response as BaseResponse

from gateway.usecases import apps
from gateway.web import sessions
from gateway.web.context import request_tx
from gateway.web.oauth import server as oauth_server
from gateway.web.oauth.revocation import TokenRevocation
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
        return _https_only()
    return response


def _https_only() -> Response:
    refused = jsonify({"error": "invalid_request",
                       "error_description": "The token endpoint is served over https only."})
    refused.status_code = 400
    refused.headers["Cache-Control"] = "no-store"
    return refused


@bp.post("/oauth/revoke")
def revoke_token() -> Response:
    """Revoke an access or refresh token (RFC 7009); 200 for an unknown one, errors as at the token endpoint."""
    try:
        with request_tx("oauth", "oauth"):
            response: Response = authorization_server().create_endpoint_response(TokenRevocation.ENDPOINT_NAME)
    except InsecureTransportError:
        return _https_only()
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> BaseResponse | tuple[str, int]:
    """Send the person to log in if needed; the first time an app asks, show the consent screen (GET) and
    take the answer (POST); then back to the app's loopback redirect URI with a code, or access_denied."""
    server = authorization_server()
    if _UNSAFE_URI.search(request.args.get("redirect_uri", "")) or _UNSAFE_TEXT.search(
            request.args.get("response_type", "")):
        # Line breaks would split a Location header, and browsers read a backslash as a slash: no such URI
        # is a loopback callback, and Authlib would fail to even word the error (as for a response_type it
        # cannot quote in an error description: RFC 6749 §5.2 allows only printable ASCII but '"' and '\\').
        return render_template("oauth_error.html", error="invalid_request",
                               description=_AUTHORIZE_PAGE_TEXT["invalid_request"]), 400
    if request.method == "POST":
        check_csrf()  # the blueprint is exempt from CSRFProtect (the token endpoint); this form is not
    with request_tx("oauth", "oauth") as tx:
        try:
            grant = server.get_consent_grant()  # client, redirect URI, response type, scope, PKCE
        except OAuth2Error as error:
            return _authorize_error(server, error)
        ref = sessions.person()
        if ref is None:
            return redirect(url_for("portal.login_form", next=_authorize_path()))
        client_id, scope = grant.client.get_client_id(), grant.request.scope or ""
        if request.method == "POST":
            allow = request.form.get("decision") == "allow"
            apps.decide_consent(tx, ref, client_id, scope, allow)
        elif apps.has_consent(tx, ref, client_id, scope):
            allow = True
        else:
            page = render_template("app_consent.html", app=apps.app_name(client_id), may=apps.scope_text(scope),
                                   action=_authorize_path())
            return _no_store(make_response(page))
        # grant_user None: Authlib redirects with error=access_denied and the state (RFC 6749 §4.1.2.1).
        response: BaseResponse = server.create_authorization_response(grant=grant, grant_user=ref if allow else None)
    return _no_store(response)


def _authorize_path() -> str:
    # The authorization request travels in the query string, on the consent form's action too (re-encoded as
    # UTF-8, whatever bytes it came in, and with any repeated parameter still repeated for Authlib to refuse).
    return f"{request.path}?{urlencode(list(request.args.items(multi=True)))}"


def _no_store(response: BaseResponse) -> BaseResponse:
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
_UNSAFE_TEXT = re.compile(r'[^\x20-\x21\x23-\x5b\x5d-\x7e]')
_AUTHORIZE_PAGE_TEXT = {
    "invalid_client": "The client_id is missing or names no app that may use this endpoint.",
    "invalid_request": "The redirect_uri is missing or is not http://127.0.0.1:<port>/callback or "
                       "http://[::1]:<port>/callback, or a parameter is repeated.",
}


def check_csrf() -> None:
    """Raise CSRFError, as CSRFProtect does for the portal's forms, unless the form carries the session's token."""
    try:
        validate_csrf(request.form.get("csrf_token", ""))
    except ValidationError as exc:
        raise CSRFError(exc.args[0] if exc.args else "The CSRF token is missing.") from None


def init_app(app: Flask) -> None:
    """Install the authorization and token endpoints, with an authorization server of this app's own."""
    oauth_server.init_app(app)
    app.register_blueprint(bp)
