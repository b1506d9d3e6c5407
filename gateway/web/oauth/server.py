"""The Authlib authorization server: token lifetimes, client authentication methods, grants, and storing
the tokens it issues (hashed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from flask import Flask, current_app

from gateway.credentials import hash_secret
from gateway.models import Token
from gateway.web.context import db, runtime
from gateway.web.oauth.authorization_code import AppAuthorizationCodeGrant, S256CodeChallenge
from gateway.web.oauth.clients import query_client
from gateway.web.oauth.failures import LimitedAuthorizationServer
from gateway.web.oauth.private_key_jwt import PrivateKeyJWT
from gateway.web.oauth.refresh_tokens import REFRESH_TTL, RotatingRefreshTokenGrant
from gateway.web.oauth.revocation import TokenRevocation

_EXTENSION = "xinyong.oauth"


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]  # no type hints
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "private_key_jwt"]


def _save_token(token: dict[str, Any], request: Any) -> None:
    now = runtime().clock.now()
    row = Token(
        token_hash=hash_secret(token["access_token"]),
        client_id=request.client.get_client_id(),
        scope=token.get("scope", ""),
        issued_at=now,
        expires_at=now + timedelta(seconds=int(token["expires_in"])),
        revoked=False,
    )
    if request.user is not None:  # the app's grants: the token acts for the person who logged in
        origin = request.refresh_token or request.authorization_code
        row.subject_ref = request.user
        row.family_id = origin.family_id
    if "refresh_token" in token:
        row.refresh_token_hash = hash_secret(token["refresh_token"])
        row.refresh_expires_at = now + REFRESH_TTL
    db().add(row)


def init_app(app: Flask) -> None:
    """Give `app` an authorization server of its own, with the grants and client authentication methods."""
    ttl = runtime_ttl(app)
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN",
                          {"client_credentials": ttl, "authorization_code": ttl, "refresh_token": ttl})
    app.config.setdefault("OAUTH2_REFRESH_TOKEN_GENERATOR", True)
    server = LimitedAuthorizationServer(query_client=query_client, save_token=_save_token)
    server.init_app(app)
    server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(AppAuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    server.register_grant(RotatingRefreshTokenGrant)
    server.register_endpoint(TokenRevocation)
    app.extensions[_EXTENSION] = server


def authorization_server() -> AuthorizationServer:
    """Return the current app's authorization server."""
    server: AuthorizationServer = current_app.extensions[_EXTENSION]
    return server


def runtime_ttl(app: Flask) -> int:
    """Return the access-token lifetime in seconds from the runtime settings."""
    return int(app.extensions["xinyong"].settings.token_ttl_seconds)
