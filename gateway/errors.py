"""Errors raised by the gateway's use cases and request checks; gateway/web/problems.py says how each is answered.

    GatewayError
    ├── Unauthenticated         no valid credentials: no token, or a wrong password or activation code
    │   └── LoginRanOut         a staff login waited too long for its TOTP code: start again with the password
    ├── Forbidden               authenticated, but not allowed
    │   ├── InsufficientScope   the token lacks the scope the operation needs
    │   ├── WrongRole           the caller's role may not do this
    │   └── CsrfFailed          a session request that changes something came without its CSRF token
    ├── NotFound                nothing there the caller may know about
    ├── Conflict                a concurrent request holds the same Idempotency-Key
    ├── Gone                    it existed and is gone
    ├── RateLimited             too many attempts; `retry_after` seconds until trying again makes sense
    ├── DatabaseReadOnly        the database refuses writes (a read-only file, a replica): nothing was done
    └── InvalidInput            a field failed a check (field, reason)
        └── ExportTooLarge      an audit export would hold more entries than one export may
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class of every gateway error; `detail` is written for the caller and safe to show them."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthenticated(GatewayError):
    """Raised when a request carries no valid credentials, or a login or activation does not match."""


class LoginRanOut(Unauthenticated):
    """Raised when a staff login's second step comes after its half login ended (ran out, used, or disabled)."""


class Forbidden(GatewayError):
    """Raised when the caller is known but may not do this."""


class InsufficientScope(Forbidden):
    """Raised when a bearer token lacks the scope an operation needs."""


class WrongRole(Forbidden):
    """Raised when a bearer token has the scope, but its client's role may not do this."""


class CsrfFailed(Forbidden):
    """Raised when a portal session request that changes something lacks a valid X-CSRF-Token."""


class NotFound(GatewayError):
    """Raised when there is nothing the caller may know about at that name."""


class Conflict(GatewayError):
    """Raised when a concurrent request with the same Idempotency-Key is still being processed."""


class Gone(GatewayError):
    """Raised when something existed and has been removed."""


class RateLimited(GatewayError):
    """Raised after too many failed attempts; another try makes sense after `retry_after` seconds."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class DatabaseReadOnly(GatewayError):
    """Raised when the database refuses a write: a read-only file, a read-only replica or transaction.

    The request's work is rolled back, its audit entry with it: an access that cannot be recorded does not
    happen. Trying again makes sense after `retry_after` seconds, once an operator has made it writable.
    """

    def __init__(self, detail: str, *, retry_after: int = 30) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class InvalidInput(GatewayError):
    """Raised when a field fails a check that its schema could not make; names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ExportTooLarge(InvalidInput):
    """Raised when an audit export would hold more entries than one export may."""
