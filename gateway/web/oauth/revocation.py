"""Token revocation (RFC 7009): a client ends a token it holds, access or refresh, authenticated as at the
token endpoint (client_secret_basic, private_key_jwt, or nothing but its client_id for the public app).

An app's token of either kind ends its whole login, the family descended from one authorization code (§2.1:
revoking a refresh token SHOULD end the access tokens of the same grant; an app's access token is stored in
the row of the refresh token issued with it). A client-credentials token ends alone. An unknown token is
answered 200 like a known one (§2.2): the client's aim, that the token be worthless, holds either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from sqlalchemy import select

from audit.tags import Tag
from audit.tx import AccessContext
from gateway.credentials import hash_secret
from gateway.models import Token
from gateway.usecases import apps
from gateway.web.context import current_tx, db
from gateway.web.oauth.bearer import CLIENT_TOKENS
from gateway.web.oauth.private_key_jwt import PrivateKeyJWT

_KINDS = ("access_token", "refresh_token")


class UnsupportedTokenType(OAuth2Error):  # type: ignore[misc]  # Authlib ships no type hints
    """RFC 7009 §2.2.1, answered 400 as RFC 6749 §5.2 says (Authlib's own class answers 401)."""

    error = "unsupported_token_type"
    status_code = 400


@dataclass(frozen=True)
class RevocableToken(TokenMixin):  # type: ignore[misc]  # Authlib ships no type hints
    token_hash: str
    client_id: str
    subject_ref: str | None
    family_id: str | None
    kind: str  # which of the row's two tokens was presented: "access_token" or "refresh_token"

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)


class TokenRevocation(RevocationEndpoint):  # type: ignore[misc]  # Authlib ships no type hints
    """POST /oauth/revoke: hashes looked up as at issue, revocation marked (never deleted) and audited."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", PrivateKeyJWT.CLIENT_AUTH_METHOD, "none"]

    def check_params(self, request: Any, client: Any) -> None:
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' in request.")
        if request.form.get("token_type_hint") not in (None, *_KINDS):
            raise UnsupportedTokenType("token_type_hint must be access_token or refresh_token.")

    def authenticate_token(self, request: Any, client: Any) -> RevocableToken | None:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if token is not None and not token.check_client(client):
            # §2.1: refused. The caller holds the token already, so saying so reveals nothing to it.
            raise InvalidGrantError("The token was not issued to this client.")
        return token

    def query_token(self, token_string: str, token_type_hint: str | None) -> RevocableToken | None:
        # §2.1: the hint only says where to look first; a token of the other kind is still found.
        key = hash_secret(token_string)
        order = _KINDS[::-1] if token_type_hint == _KINDS[1] else _KINDS
        for kind in order:
            row = (db().get(Token, key) if kind == "access_token"
                   else db().scalar(select(Token).where(Token.refresh_token_hash == key)))
            if row is not None:
                return RevocableToken(row.token_hash, row.client_id, row.subject_ref, row.family_id, kind)
        return None

    def revoke_token(self, token: RevocableToken, request: Any) -> None:
        whole_login = Token.family_id == token.family_id if token.family_id else Token.token_hash == token.token_hash
        count = apps.revoke_all(db(), whole_login)
        # This worker stops honouring a cached client token at once; others within the cache's time (30 s).
        CLIENT_TOKENS.forget(token.token_hash)
        if count:
            role = getattr(request.client, "role", "app")  # the public app has no registered role
            client = AccessContext(actor=token.client_id, role=role, request_id=current_tx().access.request_id)
            current_tx().acting_as(client).record(
                Tag.TOKEN_REVOKED, subject_ref=token.subject_ref,
                detail={"client_id": token.client_id, "token_type": token.kind, "tokens_revoked": count})
