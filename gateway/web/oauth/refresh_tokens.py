"""The app's refresh tokens: each works once and is replaced; a spent credential coming back revokes its family.

A token family is every token descended from one authorization code, through any number of refreshes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import TokenMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from sqlalchemy import select, update

from audit.tags import Outcome, Tag
from audit.tx import AccessContext
from gateway.credentials import hash_secret
from gateway.models import Token
from gateway.usecases import apps
from gateway.web.context import current_tx, db, runtime
from gateway.web.oauth.clients import APP_CLIENT_ID

REFRESH_TTL = timedelta(days=30)
# One answer for unknown, expired, revoked and spent: which one it was helps only a thief.
_REFRESH_REFUSED = "The refresh token is not valid: log in again."


def revoke_family(family_id: str) -> None:
    """Revoke every token descended from one authorization code: a spent code or refresh token came back,
    so someone holds a copy, and it cannot be told which holder is the rightful one (RFC 9700 §4.14.2)."""
    session = db()
    subject_ref = session.execute(
        select(Token.subject_ref).where(Token.family_id == family_id).limit(1)).scalar_one_or_none()
    # Repeated until nothing is left, as when an app is revoked: a refresh of this family in flight holds its
    # old row, and on PostgreSQL one UPDATE that waited for it would miss the token the refresh made.
    apps.revoke_all(session, Token.family_id == family_id)
    # The person should see that their app's login was cut off, and auditors why.
    app = AccessContext(actor=APP_CLIENT_ID, role="app", request_id=current_tx().access.request_id)
    current_tx().acting_as(app).record(Tag.TOKEN_FAMILY_REVOKED, outcome=Outcome.DENIED, subject_ref=subject_ref,
                                       reason="reused_credential", detail={"family": family_id[:12]})


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
            revoke_family(row.family_id)
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
            revoke_family(old.family_id)
            raise InvalidGrantError(_REFRESH_REFUSED)

    def authenticate_user(self, refresh_token: RefreshView) -> str:
        return refresh_token.subject_ref

    def revoke_old_credential(self, refresh_token: RefreshView) -> None:
        pass  # spent in validate_token_request, before the new token was made
