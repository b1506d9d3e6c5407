"""The app's authorization codes (RFC 6749 §4.1), with PKCE S256 required (RFC 7636)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from sqlalchemy import delete, update

from gateway.credentials import hash_secret
from gateway.models import AuthorizationCode
from gateway.web.context import db, runtime
from gateway.web.oauth.refresh_tokens import revoke_family

CODE_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class CodeView(AuthorizationCodeMixin):  # type: ignore[misc]  # Authlib ships no type hints
    code_hash: str
    subject_ref: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    family_id: str

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]  # Authlib ships no type hints
    """PKCE, required for every authorization request, with S256 only: "plain" would hand the verifier to
    whoever reads the authorization request (RFC 9700 §2.1.1)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    CODE_CHALLENGE_METHODS: ClassVar[dict[str, Any]] = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE (RFC 7636) is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class AppAuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]  # no type hints
    """Codes for the app: hashed, five minutes, one use, bound to client, redirect URI, person and challenge."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        store, now = db(), runtime().clock.now()
        # Spent and expired codes are kept a day, so a late replay still revokes what the code gave.
        store.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at < now - timedelta(days=1)))
        store.add(AuthorizationCode(
            code_hash=hash_secret(code), client_id=request.client.get_client_id(), subject_ref=request.user,
            redirect_uri=request.payload.redirect_uri, scope=request.scope,
            code_challenge=request.payload.data["code_challenge"], code_challenge_method="S256",
            family_id=secrets.token_hex(16), issued_at=now, expires_at=now + CODE_TTL,
        ))

    def query_authorization_code(self, code: str, client: Any) -> CodeView | None:
        row = db().get(AuthorizationCode, hash_secret(code))
        if row is None or row.client_id != client.get_client_id():
            return None
        if row.used_at is not None:
            revoke_family(row.family_id)  # RFC 6749 §4.1.2: a code used twice revokes what it gave
            return None
        if row.expires_at <= runtime().clock.now():
            return None
        return CodeView(row.code_hash, row.subject_ref, row.redirect_uri, row.scope, row.code_challenge,
                        row.code_challenge_method, row.family_id)

    def validate_token_request(self) -> None:
        super().validate_token_request()  # the code, the redirect URI, then (a hook) the code_verifier
        # Spend the code only now, so a wrong verifier does not burn it; the conditional update makes two
        # concurrent exchanges of one code yield one token.
        code: CodeView = self.request.authorization_code
        spent = db().execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.code_hash == code.code_hash, AuthorizationCode.used_at.is_(None))
            .values(used_at=runtime().clock.now()).execution_options(synchronize_session=False))
        if int(getattr(spent, "rowcount", 0) or 0) != 1:
            raise InvalidGrantError("Invalid 'code' in request.")

    def delete_authorization_code(self, authorization_code: CodeView) -> None:
        pass  # spent in validate_token_request, and kept so that a replay is recognised

    def authenticate_user(self, authorization_code: CodeView) -> str:
        return authorization_code.subject_ref
