"""Bearer tokens on API requests: who is calling, with a short-lived cache of client tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import g, request

from audit.tx import AccessContext
from gateway.credentials import hash_secret
from gateway.errors import InsufficientScope, Unauthenticated, WrongRole
from gateway.models import Client, Token
from gateway.usecases import apps
from gateway.web.context import runtime
from gateway.web.oauth.clients import APP_CLIENT_ID


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
    agency: str | None = None
    agency_level: str | None = None


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

    def forget(self, key: str) -> None:
        """Stop honouring one token in this process (it was revoked here)."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget every token (tests that move the clock backwards, or disable a client)."""
        self._entries.clear()


CLIENT_TOKENS = ClientTokenCache()


class _Validator(BearerTokenValidator):  # type: ignore[misc]  # Authlib ships no type hints
    def authenticate_token(self, token_string: str) -> TokenView | None:
        key = hash_secret(token_string)
        now = runtime().clock.now()
        cached = CLIENT_TOKENS.get(key, now)
        if cached is not None:
            caller, expires_at = cached
            return TokenView(caller, expires_at <= now, False)
        with runtime().uow.begin(AccessContext(actor="bearer", role="oauth"), readonly=True) as tx:
            token = tx.session.get(Token, key)
            client = None if token is None or token.client_id == APP_CLIENT_ID else tx.session.get(Client,
                                                                                                token.client_id)
        if token is None:
            return None
        expired = token.expires_at <= now
        if token.client_id == APP_CLIENT_ID:
            if token.subject_ref is None:
                return None
            person = Caller(actor=token.subject_ref, role="person", scope=frozenset(token.scope.split()),
                            client_id=APP_CLIENT_ID, subject_ref=token.subject_ref)
            if not token.revoked and not expired:  # shown to the person in their list of app logins
                apps.note_use(runtime().uow, key, token.last_used_at, now)
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
            agency=client.agency,
            agency_level=client.agency_level,
        )
        revoked = token.revoked or client.disabled_at is not None
        if not revoked and not expired:
            CLIENT_TOKENS.put(key, caller, token.expires_at, now)
        return TokenView(caller, expired, revoked)


protector = ResourceProtector()
protector.register_token_validator(_Validator())


def bearer(scope: str, roles: tuple[str, ...]) -> Caller:
    """Return the caller of a bearer token with `scope` and one of `roles`, or raise 401/403."""
    caller = _cached_caller(scope)
    if caller is None:
        try:
            token = protector.acquire_token([scope])
        except OAuth2Error as exc:
            if exc.error == "insufficient_scope":
                raise InsufficientScope(f"this token lacks the scope {scope!r}") from None
            raise Unauthenticated("a valid bearer token is required") from None
        caller = token.caller
    if caller.role not in roles:
        raise WrongRole(f"the {caller.role} role may not do this")
    g.caller = caller
    return caller


def _cached_caller(scope: str) -> Caller | None:
    """Return the caller of a cached, unexpired client token with `scope`, read as Authlib reads the header.

    None sends the request the whole way through Authlib, which then answers as it always does (a
    cached token is one Authlib accepted, so this only skips its request wrapping on the hot path).
    """
    parts = request.headers.get("Authorization", "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    now = runtime().clock.now()
    cached = CLIENT_TOKENS.get(hash_secret(parts[1]), now)
    if cached is None or cached[1] <= now or scope not in cached[0].scope:
        return None
    return cached[0]
