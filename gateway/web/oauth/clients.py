"""The clients as Authlib sees them: registered (confidential) clients, and the first-party app.

A registered client authenticates with client_secret_basic, or with private_key_jwt when it has a JWK Set;
the app is public and authenticates with nothing but PKCE.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin

from gateway.credentials import hash_secret
from gateway.models import Client
from gateway.web.context import db
from gateway.web.oauth.private_key_jwt import PrivateKeyJWT

APP_CLIENT_ID = "xinyong-app"
PERSON_SCOPE = "me"
# RFC 8252 §7.3: any port, fixed path; `localhost` is not accepted (§8.3: it may resolve off the machine).
# Where clients authenticate: the token endpoint, and the revocation endpoint (gateway/web/oauth/revocation.py).
_CLIENT_ENDPOINTS = ("token", "revocation")
_LOOPBACK_CALLBACK = re.compile(r"http://(?:127\.0\.0\.1|\[::1\]):([1-9][0-9]{0,4})/callback")


def is_loopback_callback(uri: str) -> bool:
    """Return whether `uri` is exactly http://127.0.0.1:<port>/callback or http://[::1]:<port>/callback."""
    found = _LOOPBACK_CALLBACK.fullmatch(uri)
    return found is not None and int(found.group(1)) <= 65535


@dataclass(frozen=True)
class ClientView(ClientMixin):  # type: ignore[misc]  # Authlib ships no type hints
    """What Authlib needs to know of a registered (confidential) client."""

    client_id: str
    secret_hash: str | None
    role: str
    scope: str
    jwks: dict[str, Any] | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.scope.split())
        if not scope:
            return self.scope
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None:
            return False
        return hmac.compare_digest(hash_secret(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # A client registered with keys has no secret: one credential, the stronger one. It authenticates
        # the same way to revoke a token (RFC 7009 §2.1) as to get one.
        if endpoint not in _CLIENT_ENDPOINTS:
            return False
        if method == "client_secret_basic":
            return self.secret_hash is not None
        return method == PrivateKeyJWT.CLIENT_AUTH_METHOD and self.jwks is not None

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


@dataclass(frozen=True)
class AppClient(ClientMixin):  # type: ignore[misc]  # Authlib ships no type hints
    """The built-in first-party app: a public client (it can keep no secret), acting for one person."""

    client_id: str = APP_CLIENT_ID
    jwks: None = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str | None:
        if not scope or set(scope.split()) <= {PERSON_SCOPE}:
            return PERSON_SCOPE
        return None  # Authlib answers invalid_scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return is_loopback_callback(redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint in _CLIENT_ENDPOINTS and method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


APP = AppClient()


def query_client(client_id: str) -> ClientView | AppClient | None:
    """Return the client Authlib asked for: the app, or an enabled registered client; None if there is none."""
    if client_id == APP_CLIENT_ID:
        return APP
    if not client_id or "\x00" in client_id or len(client_id) > Client.client_id.type.length:
        return None  # no registered client has such an id (and PostgreSQL's text refuses a NUL)
    row = db().get(Client, client_id)
    if row is None or row.disabled_at is not None:
        return None
    return ClientView(row.client_id, row.secret_hash, row.role, row.scope, row.jwks)
