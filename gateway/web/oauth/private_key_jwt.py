"""private_key_jwt (RFC 7523 §2.2): a client authenticates with a JWT signed by a key of its registered JWK Set.

Each assertion's jti is accepted once per client: it is kept until the assertion expires, so a replayed
assertion is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from gateway.credentials import hash_secret
from gateway.models import UsedAssertion
from gateway.web.context import db, runtime

# Asymmetric algorithms only: a JWK Set holds public keys, so HS* could never verify. "EdDSA" is refused,
# as RFC 9864 deprecates it: an Ed25519 key signs with alg "Ed25519".
ASSERTION_ALGORITHMS = ["ES256", "Ed25519", "PS256", "RS256"]
ASSERTION_LEEWAY = 60
# The jti of every accepted assertion is kept until it expires, so the lifetime is capped to keep that small.
ASSERTION_MAX_LIFETIME = timedelta(hours=1)


class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]  # Authlib ships no type hints
    """Client authentication with a JWT signed by a key of the client's registered JWK Set (RFC 7523 §2.2).

    With more than one key in the set, the assertion's header names its key by `kid` (as registered, or the
    RFC 7638 thumbprint of a key registered without one). Times are checked against the runtime clock.
    """

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=ASSERTION_LEEWAY)

    def __call__(self, query_client: Any, request: Any) -> Any:
        try:
            return super().__call__(query_client, request)
        except InvalidClientError as error:
            error.status_code = 401  # as for a wrong secret: one answer to every failed client authentication
            raise

    def get_audiences(self) -> list[str]:
        # No configured URL in production: no audience is right, so every assertion is refused rather than
        # one minted for another server being taken because of the Host it was sent with.
        url = token_endpoint_url()
        if url is None:
            raise InvalidClientError(description="This service takes no client assertion until its public URL "
                                                 "is configured.", status_code=401)
        return [url]

    def resolve_client_public_key(self, client: Any) -> KeySet:
        if not client.jwks:
            raise InvalidClientError(description="The client has no registered keys.")
        return KeySet.import_key_set(client.jwks)

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except JoseError as exc:
            raise InvalidClientError(description="The client assertion could not be verified.") from exc
        claims: dict[str, Any] = dict(token.claims)
        self.verify_claims(claims)
        return claims

    def verify_claims(self, claims: Any) -> None:
        now = runtime().clock.now()
        registry = jwt.JWTClaimsRegistry(
            now=int(now.timestamp()), leeway=self.leeway,
            iss={"essential": True}, sub={"essential": True}, exp={"essential": True}, jti={"essential": True},
            aud={"essential": True, "values": self.get_audiences()},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidClientError(description=f"The client assertion is not valid: {exc.error}.") from exc
        if claims["sub"] != claims["iss"]:
            raise InvalidClientError(description="Issuer and Subject MUST match.")
        if claims["exp"] - now.timestamp() > ASSERTION_MAX_LIFETIME.total_seconds() + self.leeway:
            raise InvalidClientError(description="The client assertion must expire within an hour.")
        if not self.validate_jti(claims, claims["jti"]):
            raise InvalidClientError(description="JWT ID is used before.")

    def validate_jti(self, claims: Any, jti: Any) -> bool:
        """Record the jti; return False if this client already used it (a replayed assertion)."""
        store, now = db(), runtime().clock.now()
        store.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now))
        # Kept until the assertion could no longer pass the exp check; then exp refuses a replay by itself.
        until = datetime.fromtimestamp(claims["exp"], UTC) + timedelta(seconds=self.leeway)
        try:
            with store.begin_nested():
                store.add(UsedAssertion(client_id=claims["sub"], jti_hash=hash_secret(str(jti)), expires_at=until))
        except IntegrityError:
            return False
        return True


def token_endpoint_url() -> str | None:
    """Return the URL a client assertion's `aud` must name: XINYONG_PUBLIC_URL + /oauth/token; in development
    without it, the token endpoint as the request reached it; in production without it, None (none is right)."""
    configured = current_app.config.get("XINYONG_TOKEN_ENDPOINT")
    if configured:
        return str(configured)
    if runtime().settings.development:
        return str(url_for("oauth.issue_token", _external=True))
    return None
