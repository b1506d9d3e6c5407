"""Registering OAuth clients: source agencies, institutions and auditors."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from audit.tags import Tag
from audit.tx import AccessContext
from consent.catalogue import LEGACY_AGENCY, Catalogue
from gateway.credentials import ROLE_SCOPES, hash_secret, new_secret
from gateway.models import Client, Token
from gateway.runtime import Runtime
from vault.types import Provider

INSTITUTION_KINDS = ("employer", "landlord", "lender", "agency")
_PREFIX = {"provider": "prov", "institution": "inst", "auditor": "aud"}
# Members that only a private (or symmetric) key has (RFC 7517 §9.2, RFC 7518 §6): a server holding any of
# them could sign as the client, so such a file is refused rather than trimmed.
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_SIGNING_KEY_TYPES = ("EC", "OKP", "RSA")


class ClientInvalid(ValueError):
    """Raised when a client's registration breaks a rule (unknown category, missing kind)."""


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str | None
    role: str
    name: str
    scope: str
    kind: str | None
    categories: list[str]
    auth_method: str = "client_secret_basic"
    agency: str | None = None
    level: str | None = None

    def as_dict(self) -> dict[str, object]:
        """Return the printable form, secret included (shown once)."""
        return asdict(self)


def public_jwks(document: Any) -> dict[str, Any]:
    """Return a JWK Set of public signing keys, as stored for private_key_jwt; raises ClientInvalid if it
    is not one, or if any key carries private material."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise ClientInvalid('the JWK Set must be a JSON object {"keys": [...]} with at least one key')
    for n, key in enumerate(keys):
        private = sorted(m for m in _PRIVATE_MEMBERS if m in key)
        if private:
            raise ClientInvalid(f"key {n} holds private key material ({', '.join(private)}): "
                                "register the public keys only, and keep the private key with the client")
        if key.get("kty") not in _SIGNING_KEY_TYPES:
            raise ClientInvalid(f"key {n}: kty must be one of {', '.join(_SIGNING_KEY_TYPES)}")
        if key.get("use", "sig") != "sig":
            raise ClientInvalid(f"key {n}: use must be 'sig'")
    try:
        parsed = KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError) as exc:
        raise ClientInvalid(f"not a valid JWK Set: {exc}") from None
    return dict(parsed.as_dict(private=False))


def check_agency(catalogue: Catalogue, categories: list[str], agency: str | None, level: str | None) -> None:
    """Check that an agency of this role and level may file every one of `categories` (谁主管、谁认定、谁负责,
    DET-4; lists need county level or above, LIST-6); raise ClientInvalid naming each category refused."""
    if not categories:
        raise ClientInvalid("a provider needs --categories: the catalogue categories it may submit")
    unknown = [c for c in categories if c not in catalogue.categories]
    if unknown:
        raise ClientInvalid(f"not in the catalogue: {', '.join(unknown)}")
    if agency is None or catalogue.role(agency) is None:
        given = "a provider needs --agency" if agency is None else f"{agency!r} is not an agency role"
        raise ClientInvalid(f"{given}: one of {', '.join(catalogue.role_codes)} (the catalogue's provider_roles)")
    if level is not None and level not in catalogue.level_codes:
        raise ClientInvalid(f"{level!r} is not an administrative level: one of {', '.join(catalogue.level_codes)}")
    refused = [refusal for c in categories if (refusal := catalogue.filing_refusal(c, agency, level)) is not None]
    if refused:
        raise ClientInvalid("; ".join(refused) + (" (give --level)" if level is None and any(
            catalogue.categories[c].min_provider_level for c in categories) else ""))


def add_client(
    rt: Runtime, *, role: str, name: str, categories: list[str], kind: str | None, jwks: Any = None,
    agency: str | None = None, level: str | None = None,
) -> NewClient:
    """Register a client and return it with its secret, or, given a JWK Set (institutions), with none:
    it then authenticates with private_key_jwt only. A provider names its agency role and, where a category
    needs one, its administrative level. Raises ClientInvalid."""
    if role == "provider":
        check_agency(rt.catalogue, categories, agency, level)
    elif categories:
        raise ClientInvalid("only providers are registered for categories")
    elif agency is not None or level is not None:
        raise ClientInvalid("only providers are registered with an agency role and level")
    if role == "institution" and kind not in INSTITUTION_KINDS:
        raise ClientInvalid(f"an institution needs --kind, one of {', '.join(INSTITUTION_KINDS)}")
    if jwks is not None and role != "institution":
        raise ClientInvalid("only institutions are registered with a JWK Set (private_key_jwt)")
    keys = None if jwks is None else public_jwks(jwks)
    secret = new_secret() if keys is None else None
    client = NewClient(
        client_id=f"{_PREFIX[role]}_{secrets.token_hex(8)}",
        client_secret=secret,
        role=role,
        name=name,
        scope=ROLE_SCOPES[role],
        kind=kind,
        categories=sorted(set(categories)),
        auth_method="client_secret_basic" if keys is None else "private_key_jwt",
        agency=agency,
        level=level,
    )
    with rt.uow.begin(AccessContext(actor="operator", role="operator")) as tx:
        tx.session.add(Client(
            client_id=client.client_id, secret_hash=None if secret is None else hash_secret(secret), name=name,
            role=role, kind=kind, categories=client.categories, scope=client.scope, jwks=keys,
            created_at=tx.now, agency=agency, agency_level=level,
        ))
        tx.record(Tag.CLIENT_ADDED, detail={"client_id": client.client_id, "role": role,
                                            "categories": client.categories, "auth_method": client.auth_method,
                                            **({"agency": agency, "level": level} if role == "provider" else {})})
    return client


def disable_client(rt: Runtime, client_id: str) -> int:
    """Disable a registered client and revoke its tokens; return how many tokens were live. Raises ClientInvalid.

    A worker that cached one of its tokens honours it for up to its cache time (30 s) longer.
    """
    with rt.uow.begin(AccessContext(actor="operator", role="operator")) as tx:
        row = tx.session.get(Client, client_id, with_for_update=True)
        if row is None:
            raise ClientInvalid(f"{client_id} is not a registered client")
        if row.disabled_at is None:
            row.disabled_at = tx.now
        revoked = tx.session.execute(update(Token).where(Token.client_id == client_id, Token.revoked.is_(False))
                                     .values(revoked=True).execution_options(synchronize_session=False))
        count = int(getattr(revoked, "rowcount", 0) or 0)
        tx.record(Tag.CLIENT_DISABLED, detail={"client_id": client_id, "tokens_revoked": count})
    return count


def provider(rt: Runtime, client_id: str) -> Provider:
    """Return a registered, enabled provider, or raise ClientInvalid."""
    with rt.uow.begin(AccessContext(actor="operator", role="operator"), readonly=True) as tx:
        row = tx.session.get(Client, client_id)
        if row is None or row.role != "provider" or row.disabled_at is not None or row.agency is None:
            raise ClientInvalid(f"{client_id} is not an enabled provider")
        return Provider(client_id=row.client_id, categories=frozenset(row.categories), agency=row.agency,
                        level=row.agency_level)


def set_agency(rt: Runtime, client_id: str, agency: str, level: str | None) -> ClientView:
    """Give a provider an agency role and level that may file all of its categories (audited), for one
    migrated as 'legacy' or whose role changed; return it. Raises ClientInvalid."""
    with rt.uow.begin(AccessContext(actor="operator", role="operator")) as tx:
        row = tx.session.get(Client, client_id, with_for_update=True)
        if row is None or row.role != "provider":
            raise ClientInvalid(f"{client_id} is not a registered provider")
        check_agency(rt.catalogue, list(row.categories), agency, level)
        before = {"agency": row.agency, "level": row.agency_level, "migrated": row.agency_migrated}
        row.agency, row.agency_level, row.agency_migrated = agency, level, False
        tx.record(Tag.CLIENT_AGENCY_SET, detail={"client_id": client_id, "agency": agency, "level": level,
                                                 "before": before})
        return _view(row)


@dataclass(frozen=True)
class ClientView:
    """A registered client as an operator sees it (no secret, no keys)."""

    client_id: str
    name: str
    role: str
    kind: str | None
    categories: list[str]
    agency: str | None
    level: str | None
    migrated: bool
    disabled: bool

    @property
    def legacy(self) -> bool:
        """Return whether this provider files its registered categories unchecked by role and level."""
        return self.agency == LEGACY_AGENCY

    def as_dict(self) -> dict[str, object]:
        """Return the printable form."""
        return {**asdict(self), "legacy": self.legacy}


def _view(row: Client) -> ClientView:
    return ClientView(client_id=row.client_id, name=row.name, role=row.role, kind=row.kind,
                      categories=list(row.categories), agency=row.agency, level=row.agency_level,
                      migrated=bool(row.agency_migrated), disabled=row.disabled_at is not None)


def list_clients(rt: Runtime, role: str | None = None) -> list[ClientView]:
    """Return the registered clients (of one role, if given), oldest first."""
    query = select(Client).order_by(Client.created_at, Client.client_id)
    if role is not None:
        query = query.where(Client.role == role)
    with rt.uow.begin(AccessContext(actor="operator", role="operator"), readonly=True) as tx:
        return [_view(row) for row in tx.session.scalars(query)]
