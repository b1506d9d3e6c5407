"""OAuth 2.0 with Authlib: the token endpoint (client_credentials, client_secret_basic) and bearer checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Blueprint, Flask, Response, g
from sqlalchemy import select

from gateway.context import db, runtime
from gateway.errors import Forbidden, Unauthenticated
from gateway.models import Client, Token

ROLE_SCOPES = {
    "provider": "records:write",
    "institution": "consent:request reports:read",
    "auditor": "audit:read",
}


def hash_secret(secret: str) -> str:
    """Return the stored form of a client secret or token (they are 256-bit random, so SHA-256 suffices)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """Return a fresh random secret."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ClientView(ClientMixin):  # type: ignore[misc]  # Authlib ships no type hints
    """What Authlib needs to know of a client."""

    client_id: str
    secret_hash: str
    role: str
    scope: str

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
        return hmac.compare_digest(hash_secret(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


@dataclass(frozen=True)
class Caller:
    """Who is calling: an OAuth client (with its role) or a person (with their blind index)."""

    actor: str
    role: str
    scope: frozenset[str]
    client_id: str | None = None
    kind: str | None = None
    categories: frozenset[str] = frozenset()
    subject_ref: str | None = None


@dataclass(frozen=True)
class TokenView(TokenMixin):  # type: ignore[misc]  # Authlib ships no type hints
    caller: Caller
    expired: bool
    revoked: bool

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.caller.client_id)

    def get_scope(self) -> str:
        return " ".join(sorted(self.caller.scope))

    def get_expires_in(self) -> int:
        return 0

    def is_expired(self) -> bool:
        return self.expired

    def is_revoked(self) -> bool:
        return self.revoked


def _query_client(client_id: str) -> ClientView | None:
    row = db().get(Client, client_id)
    if row is None or row.disabled_at is not None:
        return None
    return ClientView(row.client_id, row.secret_hash, row.role, row.scope)


def _save_token(token: dict[str, Any], request: Any) -> None:
    now = runtime().clock.now()
    db().add(
        Token(
            token_hash=hash_secret(token["access_token"]),
            client_id=request.client.get_client_id(),
            scope=token.get("scope", ""),
            issued_at=now,
            expires_at=now + timedelta(seconds=int(token["expires_in"])),
            revoked=False,
        )
    )


class _Validator(BearerTokenValidator):  # type: ignore[misc]  # Authlib ships no type hints
    def authenticate_token(self, token_string: str) -> TokenView | None:
        session = db()
        with session.begin():
            found = session.execute(
                select(Token, Client)
                .join(Client, Client.client_id == Token.client_id)
                .where(Token.token_hash == hash_secret(token_string))
            ).one_or_none()
        if found is None:
            return None
        token, client = found
        caller = Caller(
            actor=client.client_id,
            role=client.role,
            scope=frozenset(token.scope.split()),
            client_id=client.client_id,
            kind=client.kind,
            categories=frozenset(client.categories),
            subject_ref=token.subject_ref,
        )
        expired = token.expires_at <= runtime().clock.now()
        return TokenView(caller, expired, token.revoked or client.disabled_at is not None)


server = AuthorizationServer()
protector = ResourceProtector()
protector.register_token_validator(_Validator())
bp = Blueprint("oauth", __name__)


@bp.post("/oauth/token")
def issue_token() -> Response:
    """Issue a bearer token (RFC 6749 §4.4); errors follow RFC 6749 §5.2, as OAuth clients expect."""
    with db().begin():
        response: Response = server.create_token_response()
    return response


def init_app(app: Flask) -> None:
    """Install the token endpoint."""
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"client_credentials": runtime_ttl(app)})
    server.init_app(app, query_client=_query_client, save_token=_save_token)
    server.register_grant(grants.ClientCredentialsGrant)
    app.register_blueprint(bp)


def runtime_ttl(app: Flask) -> int:
    """Return the access-token lifetime in seconds from the runtime settings."""
    return int(app.extensions["xinyong"].settings.token_ttl_seconds)


def bearer(scope: str, roles: tuple[str, ...]) -> Caller:
    """Return the caller of a bearer token with `scope` and one of `roles`, or raise 401/403."""
    try:
        token = protector.acquire_token([scope])
    except OAuth2Error as exc:
        if exc.error == "insufficient_scope":
            raise Forbidden(f"this token lacks the scope {scope!r}", code="insufficient_scope") from None
        raise Unauthenticated("a valid bearer token is required") from None
    caller: Caller = token.caller
    if caller.role not in roles:
        raise Forbidden(f"the {caller.role} role may not do this", code="wrong_role")
    g.caller = caller
    return caller
