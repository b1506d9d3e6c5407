"""Registering OAuth clients: source agencies, institutions and auditors."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass

from audit import entries as audit
from audit.tags import Tag
from gateway.models import Client
from gateway.oauth import ROLE_SCOPES, hash_secret, new_secret
from gateway.runtime import Runtime
from vault.records import Provider

INSTITUTION_KINDS = ("employer", "landlord", "lender", "agency")
_PREFIX = {"provider": "prov", "institution": "inst", "auditor": "aud"}


class ClientInvalid(ValueError):
    """Raised when a client's registration breaks a rule (unknown category, missing kind)."""


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str
    role: str
    name: str
    scope: str
    kind: str | None
    categories: list[str]

    def as_dict(self) -> dict[str, object]:
        """Return the printable form, secret included (shown once)."""
        return asdict(self)


def add_client(rt: Runtime, *, role: str, name: str, categories: list[str], kind: str | None) -> NewClient:
    """Register a client and return it with its secret; raises ClientInvalid."""
    if role == "provider":
        if not categories:
            raise ClientInvalid("a provider needs --categories: the catalogue categories it may submit")
        unknown = [c for c in categories if c not in rt.catalogue.categories]
        if unknown:
            raise ClientInvalid(f"not in the catalogue: {', '.join(unknown)}")
    elif categories:
        raise ClientInvalid("only providers are registered for categories")
    if role == "institution" and kind not in INSTITUTION_KINDS:
        raise ClientInvalid(f"an institution needs --kind, one of {', '.join(INSTITUTION_KINDS)}")
    client = NewClient(
        client_id=f"{_PREFIX[role]}_{secrets.token_hex(8)}",
        client_secret=new_secret(),
        role=role,
        name=name,
        scope=ROLE_SCOPES[role],
        kind=kind,
        categories=sorted(set(categories)),
    )
    with rt.sessions() as session, session.begin():
        session.add(Client(
            client_id=client.client_id, secret_hash=hash_secret(client.client_secret), name=name, role=role,
            kind=kind, categories=client.categories, scope=client.scope, created_at=rt.clock.now(),
        ))
        audit.append(session, rt.clock, audit.EntryDraft(
            actor="operator", role="operator", action=Tag.CLIENT_ADDED,
            detail={"client_id": client.client_id, "role": role, "categories": client.categories}))
    return client


def provider(rt: Runtime, client_id: str) -> Provider:
    """Return a registered, enabled provider, or raise ClientInvalid."""
    with rt.sessions() as session, session.begin():
        row = session.get(Client, client_id)
        if row is None or row.role != "provider" or row.disabled_at is not None:
            raise ClientInvalid(f"{client_id} is not an enabled provider")
        return Provider(client_id=row.client_id, categories=frozenset(row.categories))
