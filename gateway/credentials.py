"""Client secrets and bearer tokens as stored, and the scopes each client role is registered with.

Plain Python: client registration (a use case) and the OAuth server (in gateway/web) both need it.
"""

from __future__ import annotations

import hashlib
import secrets

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
