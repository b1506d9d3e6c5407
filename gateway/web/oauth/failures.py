"""Failed client authentication: limited per client at an address, per address and per client across addresses
(``client_authentication`` in gateway/data/limits.json), and audited.

Every endpoint that authenticates a client goes through `LimitedAuthorizationServer.authenticate_client`, inside
the request's transaction (`request_tx`), which commits error answers too: the failure row and its audit entry
stick. An address held back is answered 429 with Retry-After (RFC 6585 §4) and error `invalid_client` (RFC 6749
§5.2: the client was not authenticated); the secret is not checked then, and nothing is recorded, so a flood
from one address adds at most its limit of entries to the audit log.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6749.util import extract_basic_authorization

from audit.tags import Outcome, Tag
from gateway.limits import FailureLog, serialise, wait_seconds
from gateway.models import Client, ClientAuthFailure
from gateway.web.api.base import client_address
from gateway.web.context import current_tx, runtime
from gateway.web.oauth.clients import APP_CLIENT_ID

CLIENT_FAILURES = FailureLog(ClientAuthFailure.client_id, ClientAuthFailure.address, ClientAuthFailure.at)


class ClientAuthLimited(InvalidClientError):  # type: ignore[misc]  # Authlib ships no type hints
    """Too many failed client authentications: another try makes sense after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(status_code=429, description="Too many failed client authentications from this address; "
                                                      f"try again in {retry_after} seconds.")
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = super().get_headers()
        return [*headers, ("Retry-After", str(self.retry_after))]


class LimitedAuthorizationServer(AuthorizationServer):  # type: ignore[misc]  # Authlib ships no type hints
    """Authlib's server, with client authentication limited and its failures audited."""

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> Any:
        named, role = _named_client(request)
        address = client_address()
        tx = current_tx()
        # Held until the request's transaction ends, so that the check and the counting of a failure are one step.
        # Not for the people's app: it is a public client with no secret to guess, and one lock for it would make
        # every person's sign-in wait for every other's.
        account = [f"client:account:{named}"] if named and role != "app" else []
        serialise(tx.session, *account, f"client:address:{address}")
        wait = wait_seconds(tx.session, CLIENT_FAILURES, runtime().settings.failure_limits.client_authentication,
                            named, address, tx.now)
        if wait:
            raise ClientAuthLimited(wait)
        try:
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError:
            tx.session.add(ClientAuthFailure(client_id=named, address=address, at=tx.now))
            # Which client was named and how, never what it sent: no secret, no assertion, no unknown name.
            detail: dict[str, Any] = {"client_id": named, "method": _method(request), "endpoint": endpoint}
            if role == "institution":  # so that an auditor's `institution` filter finds it
                detail["institution"] = named
            tx.record(Tag.CLIENT_AUTH_DENIED, outcome=Outcome.DENIED, reason="bad_client_credentials",
                      detail=detail)
            raise


def _named_client(request: Any) -> tuple[str | None, str | None]:
    """Return the registered client the request names (and its role), or (None, None) if it names none."""
    name = _name(request)
    if name == APP_CLIENT_ID:
        return name, "app"
    if not name or "\x00" in name or len(name) > Client.client_id.type.length:
        return None, None
    row = current_tx().session.get(Client, name)
    return (None, None) if row is None else (row.client_id, row.role)


def _name(request: Any) -> str | None:
    basic_id, _ = extract_basic_authorization(request.headers)
    if basic_id:
        return str(basic_id)
    form = request.form
    if form.get("client_id"):
        return str(form["client_id"])
    assertion = form.get("client_assertion")
    if assertion:
        # Unverified: only to know whose count a failure goes to (RFC 7523 §3: sub is the client id).
        try:
            payload = assertion.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            sub = claims.get("sub") if isinstance(claims, dict) else None
        except (IndexError, ValueError):
            return None
        return sub if isinstance(sub, str) else None
    return None


def _method(request: Any) -> str:
    if extract_basic_authorization(request.headers)[0]:
        return "client_secret_basic"
    if request.form.get("client_assertion"):
        return "private_key_jwt"
    if request.form.get("client_secret"):
        return "client_secret_post"
    return "none"
