"""OAuth 2.0 with Authlib: the authorization and token endpoints, and bearer checks.

Who gets a token, and how:

- registered clients (providers, institutions, auditors): client_credentials (RFC 6749 §4.4), authenticated
  with client_secret_basic, or with private_key_jwt (RFC 7523 §2.2) when registered with a JWK Set;
- the built-in first-party app `xinyong-app`, a public client on the person's own device: authorization_code
  with PKCE S256 (RFC 7636) to loopback redirect URIs (RFC 8252 §7.3), then refresh_token, which rotates.

Errors follow RFC 6749: JSON {error, error_description} at the token endpoint; at the authorization endpoint a
redirect with `error=` to a redirect URI already checked against the client, else a 400 page that links nowhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from flask import Blueprint, Flask, Response, current_app, g, redirect, render_template, request, session, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response as BaseResponse

from audit import entries as audit_entries
from audit.tags import Outcome, Tag
from gateway.errors import Forbidden, Unauthenticated
from gateway.models import AuthorizationCode, Client, Token, UsedAssertion
from gateway.web.context import db, runtime

ROLE_SCOPES = {
    "provider": "records:write",
    "institution": "consent:request reports:read",
    "auditor": "audit:read",
}
APP_CLIENT_ID = "xinyong-app"
PERSON_SCOPE = "me"
CODE_TTL = timedelta(minutes=5)
REFRESH_TTL = timedelta(days=30)
# Asymmetric algorithms only: a JWK Set holds public keys, so HS* could never verify. "EdDSA" is refused,
# as RFC 9864 deprecates it: an Ed25519 key signs with alg "Ed25519".
ASSERTION_ALGORITHMS = ["ES256", "Ed25519", "PS256", "RS256"]
ASSERTION_LEEWAY = 60
# The jti of every accepted assertion is kept until it expires, so the lifetime is capped to keep that small.
ASSERTION_MAX_LIFETIME = timedelta(hours=1)
# RFC 8252 §7.3: any port, fixed path; `localhost` is not accepted (§8.3: it may resolve off the machine).
_LOOPBACK_CALLBACK = re.compile(r"http://(?:127\.0\.0\.1|\[::1\]):([1-9][0-9]{0,4})/callback")
_EXTENSION = "xinyong.oauth"


def hash_secret(secret: str) -> str:
    """Return the stored form of a client secret or token (they are 256-bit random, so SHA-256 suffices)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """Return a fresh random secret."""
    return secrets.token_urlsafe(32)


def is_loopback_callback(uri: str) -> bool:
    """Return whether `uri` is exactly http://127.0.0.1:<port>/callback or http://[::1]:<port>/callback."""
    found = _LOOPBACK_CALLBACK.fullmatch(uri)
    return found is not None and int(found.group(1)) <= 65535


# --- clients ------------------------------------------------------------------------------------


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
        # A client registered with keys has no secret: one credential, the stronger one.
        if endpoint != "token":
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
        return endpoint == "token" and method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


APP = AppClient()


def _query_client(client_id: str) -> ClientView | AppClient | None:
    if client_id == APP_CLIENT_ID:
        return APP
    row = db().get(Client, client_id)
    if row is None or row.disabled_at is not None:
        return None
    return ClientView(row.client_id, row.secret_hash, row.role, row.scope, row.jwks)


# --- bearer tokens ------------------------------------------------------------------------------


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


def _revoke_family(family_id: str) -> None:
    """Revoke every token descended from one authorization code: a spent code or refresh token came back,
    so someone holds a copy, and it cannot be told which holder is the rightful one (RFC 9700 §4.14.2)."""
    session = db()
    subject_ref = session.execute(
        select(Token.subject_ref).where(Token.family_id == family_id).limit(1)).scalar_one_or_none()
    session.execute(update(Token).where(Token.family_id == family_id).values(revoked=True)
                    .execution_options(synchronize_session=False))
    # The person should see that their app's login was cut off, and auditors why.
    audit_entries.append(session, runtime().clock, audit_entries.EntryDraft(
        actor=APP_CLIENT_ID, role="app", action=Tag.TOKEN_FAMILY_REVOKED, outcome=Outcome.DENIED,
        subject_ref=subject_ref, reason="reused_credential", detail={"family": family_id[:12]}))


class _Validator(BearerTokenValidator):  # type: ignore[misc]  # Authlib ships no type hints
    def authenticate_token(self, token_string: str) -> TokenView | None:
        key = hash_secret(token_string)
        now = runtime().clock.now()
        cached = CLIENT_TOKENS.get(key, now)
        if cached is not None:
            caller, expires_at = cached
            return TokenView(caller, expires_at <= now, False)
        store = db()
        with store.begin():
            token = store.get(Token, key)
            client = None if token is None or token.client_id == APP_CLIENT_ID else store.get(Client, token.client_id)
        if token is None:
            return None
        expired = token.expires_at <= now
        if token.client_id == APP_CLIENT_ID:
            if token.subject_ref is None:
                return None
            person = Caller(actor=token.subject_ref, role="person", scope=frozenset(token.scope.split()),
                            client_id=APP_CLIENT_ID, subject_ref=token.subject_ref)
            return TokenView(person, expired, token.revoked)
        if client is None:
            return None
        caller = Caller(
            actor=client.client_id,
            role=client.role,
            scope=frozenset(token.scope.split()),
            client_id=client.client_id,
            kind=client.kind,
            categories=frozenset(client.categories),
            subject_ref=token.subject_ref,
        )
        revoked = token.revoked or client.disabled_at is not None
        if not revoked and not expired:
            CLIENT_TOKENS.put(key, caller, token.expires_at, now)
        return TokenView(caller, expired, revoked)


class ClientTokenCache:
    """Valid client-credential tokens seen recently, so most requests skip the token lookup.

    Only agencies', institutions' and auditors' tokens are cached, for at most `ttl` seconds: disabling a
    client takes that long to reach every worker. A person's app tokens are never cached, because a
    reused refresh token must cut off its whole chain at once.
    """

    def __init__(self, ttl: float = 30.0, size: int = 10_000) -> None:
        self.ttl = timedelta(seconds=ttl)
        self.size = size
        self._entries: dict[str, tuple[Caller, datetime, datetime]] = {}

    def get(self, key: str, now: datetime) -> tuple[Caller, datetime] | None:
        """Return (caller, token expiry) if cached and fresh."""
        entry = self._entries.get(key)
        if entry is None or entry[2] <= now or now < entry[2] - self.ttl:
            return None
        return entry[0], entry[1]

    def put(self, key: str, caller: Caller, expires_at: datetime, now: datetime) -> None:
        """Remember a valid token until the earlier of its expiry and `ttl` from now."""
        if len(self._entries) >= self.size:
            self._entries.clear()  # simple bound; a refill costs one lookup per token
        self._entries[key] = (caller, expires_at, min(expires_at, now + self.ttl))

    def clear(self) -> None:
        """Forget every token (tests that move the clock backwards, or disable a client)."""
        self._entries.clear()


CLIENT_TOKENS = ClientTokenCache()


# --- grants -------------------------------------------------------------------------------------


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]  # no type hints
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "private_key_jwt"]


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
            _revoke_family(row.family_id)  # RFC 6749 §4.1.2: a code used twice revokes what it gave
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


@dataclass(frozen=True)
class RefreshView(TokenMixin):  # type: ignore[misc]  # Authlib ships no type hints
    token_hash: str
    client_id: str
    subject_ref: str
    scope: str
    family_id: str

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope


# One answer for unknown, expired, revoked and spent: which one it was helps only a thief.
_REFRESH_REFUSED = "The refresh token is not valid: log in again."


class RotatingRefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]  # no type hints
    """Each refresh token works once and is replaced; a spent one coming back revokes its whole family."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshView:
        row = db().scalar(select(Token).where(Token.refresh_token_hash == hash_secret(refresh_token)))
        if row is None or row.client_id != self.request.client.get_client_id():
            raise InvalidGrantError(_REFRESH_REFUSED)
        if row.family_id is None or row.subject_ref is None or row.refresh_expires_at is None:
            raise InvalidGrantError(_REFRESH_REFUSED)
        if row.refresh_used_at is not None:
            _revoke_family(row.family_id)
            raise InvalidGrantError(_REFRESH_REFUSED)
        if row.revoked or row.refresh_expires_at <= runtime().clock.now():
            raise InvalidGrantError(_REFRESH_REFUSED)
        return RefreshView(row.token_hash, row.client_id, row.subject_ref, row.scope, row.family_id)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        old: RefreshView = self.request.refresh_token
        spent = db().execute(
            update(Token)
            .where(Token.token_hash == old.token_hash, Token.refresh_used_at.is_(None), Token.revoked.is_(False))
            .values(refresh_used_at=runtime().clock.now()).execution_options(synchronize_session=False))
        if int(getattr(spent, "rowcount", 0) or 0) != 1:
            # Another request spent it a moment ago: the same token is in two hands.
            _revoke_family(old.family_id)
            raise InvalidGrantError(_REFRESH_REFUSED)

    def authenticate_user(self, refresh_token: RefreshView) -> str:
        return refresh_token.subject_ref

    def revoke_old_credential(self, refresh_token: RefreshView) -> None:
        pass  # spent in validate_token_request, before the new token was made


# --- private_key_jwt ----------------------------------------------------------------------------


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
        return [token_endpoint_url()]

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


def token_endpoint_url() -> str:
    """Return the URL a client assertion's `aud` must name: XINYONG_TOKEN_ENDPOINT if configured (do so
    behind a proxy), else this server's token endpoint as the request reached it."""
    configured = current_app.config.get("XINYONG_TOKEN_ENDPOINT")
    return str(configured or url_for("oauth.issue_token", _external=True))


# --- endpoints ----------------------------------------------------------------------------------


protector = ResourceProtector()
protector.register_token_validator(_Validator())
bp = Blueprint("oauth", __name__)


def _server() -> AuthorizationServer:
    server: AuthorizationServer = current_app.extensions[_EXTENSION]
    return server


@bp.post("/oauth/token")
def issue_token() -> Response:
    """Issue a bearer token (RFC 6749 §4.1.3, §4.4, §6); errors follow RFC 6749 §5.2, as OAuth clients expect."""
    # An error answer commits too: a spent jti or a revoked token family must stick.
    with db().begin():
        response: Response = _server().create_token_response()
    return response


@bp.get("/oauth/authorize")
def authorize() -> BaseResponse | tuple[str, int]:
    """Send the person to log in if needed, then back to the app's loopback redirect URI with a code."""
    server = _server()
    with db().begin():
        try:
            grant = server.get_consent_grant()  # client, redirect URI, response type, scope, PKCE
        except OAuth2Error as error:
            return _authorize_error(server, error)
        ref = session.get("subject_ref")
        if not isinstance(ref, str):
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


_AUTHORIZE_PAGE_TEXT = {
    "invalid_client": "The client_id is missing or names no app that may use this endpoint.",
    "invalid_request": "The redirect_uri is missing or is not http://127.0.0.1:<port>/callback or "
                       "http://[::1]:<port>/callback, or a parameter is repeated.",
}


def init_app(app: Flask) -> None:
    """Install the authorization and token endpoints, with an authorization server of this app's own."""
    ttl = runtime_ttl(app)
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN",
                          {"client_credentials": ttl, "authorization_code": ttl, "refresh_token": ttl})
    app.config.setdefault("OAUTH2_REFRESH_TOKEN_GENERATOR", True)
    server = AuthorizationServer(query_client=_query_client, save_token=_save_token)
    server.init_app(app)
    server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(AppAuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    server.register_grant(RotatingRefreshTokenGrant)
    app.extensions[_EXTENSION] = server
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
