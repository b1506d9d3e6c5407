"""The catalogue's rules where records enter: a submitted record is checked and prepared for the vault.

A record is stored only if its provider is registered for its category, its payload holds the
category's fields and nothing else (CAT-6), and a negative record rests on a legally effective
document (DET-1). Its display period (DP-1) is fixed here, from the catalogue version it was
checked against.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

from consent.catalogue import Catalogue, Category
from consent.errors import CategoryNotAllowed, PayloadInvalid
from vault.types import Document, NewRecord, Prepared, Provider

__all__ = ["prepare"]


def prepare(
    catalogue: Catalogue, fingerprint: Callable[[bytes], str], provider: Provider, record: NewRecord, today: date
) -> Prepared:
    """Check a record against the catalogue; raise a CatalogueError or CategoryNotAllowed."""
    category = catalogue.category(record.category)
    if record.category not in provider.categories:
        raise CategoryNotAllowed(record.category)
    payload = category.validate_payload(record.payload)
    if record.decided_at > today:
        raise PayloadInvalid("decided_at", "is in the future")
    if record.document is None:
        if category.document_required:
            raise PayloadInvalid(
                "document",
                "a negative record must rest on a legally effective document "
                "(type, number, authority, effective_at)",
            )
    else:
        _check_document(catalogue, category, record.document, today)
    return Prepared(
        record=record,
        catalogue_version=catalogue.version,
        payload=payload,
        display_from=record.decided_at,
        display_until=category.display_until(record.decided_at),
        fingerprint=fingerprint(_canonical(provider, record, payload).encode()),
    )


def _check_document(catalogue: Catalogue, category: Category, document: Document, today: date) -> None:
    if document.type not in catalogue.document_type_codes:
        raise PayloadInvalid("document.type", f"{document.type!r} is not a document type of the catalogue")
    if category.document_types and document.type not in category.document_types:
        allowed = ", ".join(category.document_types)
        raise PayloadInvalid("document.type", f"a {category.code} record rests on one of: {allowed}")
    if document.effective_at > today:
        raise PayloadInvalid("document.effective_at", "is in the future: the document is not yet effective")


def _canonical(provider: Provider, record: NewRecord, payload: dict[str, object]) -> str:
    # The vault compares this fingerprint to tell a retry from a reused idempotency key, also for
    # records stored by earlier versions: the text must stay byte for byte what it has been.
    document = None if record.document is None else {
        "type": record.document.type,
        "number": record.document.number,
        "authority": record.document.authority,
        "effective_at": record.document.effective_at.isoformat(),
    }
    return json.dumps(
        [provider.client_id, record.citizen_id, record.name, record.category, record.decided_at.isoformat(),
         document, payload],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
