"""The access context: who reads, in which role, why, and under which grant or legal basis."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AccessContext:
    """Passed to every vault function that releases plaintext; it becomes the audit entry."""

    actor: str
    role: str
    purpose: str | None = None
    basis: str | None = None
    request_id: str | None = None
