"""Listings (名单): the agency's reason and basis and its words on each change, sealed under the person's key.

The consent context owns the statuses, the clocks and the cross-checks; this module stores and opens the
texts, each time with its audit entry in the caller's transaction. A ciphertext's associated data names the
listing, the person and what it is, so it cannot be moved to another row.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import insert, select, update

from audit.tags import Tag
from audit.tx import Tx
from vault import _crypto
from vault._keyring import Keyring
from vault._subjects import data_key, get_sealed
from vault.errors import ListingNotFound
from vault.models import Listing, ListingVersion, Subject
from vault.types import ListingTexts


def new_listing_id() -> str:
    """Return an unguessable listing id."""
    return "ls_" + secrets.token_hex(12)


def _aad(listing_id: str, subject_ref: str, what: str) -> bytes:
    return f"xinyong:listing:v1|{listing_id}|{subject_ref}|{what}".encode()


def propose(tx: Tx, ring: Keyring, subject_ref: str, record_id: str, provider_id: str, kind: str, status: str,
            measures: Sequence[str], reason: str, basis: str, objection_until: date | None,
            until: date | None) -> str:
    """Store a new listing with its reason and basis sealed, as its first version; return its id.

    The caller has checked the agency, the record and the cross-checks. A second live listing of the kind on
    the record fails on the partial unique index (IntegrityError) at the flush.
    """
    subject = get_sealed(tx, subject_ref)
    listing_id = new_listing_id()
    texts = json.dumps({"reason": reason, "basis": basis}, ensure_ascii=False)
    effective: datetime | None = tx.now if status == "in_effect" else None
    tx.session.execute(insert(Listing).values(
        id=listing_id, subject_id=subject.id, record_id=record_id, provider_id=provider_id, kind=kind,
        status=status, version=1, measures=",".join(measures), proposed_at=tx.now, objection_until=objection_until,
        objection_open=False, effective_at=effective, until=until,
        texts_ct=_crypto.seal(data_key(ring, subject), texts.encode(), _aad(listing_id, subject_ref, "texts"))))
    tx.session.execute(insert(ListingVersion).values(
        listing_id=listing_id, version=1, status=status, cause="proposed" if status == "proposed" else "listed",
        actor=provider_id, at=tx.now))
    tx.session.flush()
    tx.record(Tag.LISTING_PROPOSED, subject_ref=subject_ref, record_ids=[record_id], detail={
        "listing_id": listing_id, "kind": kind, "institution": provider_id, "status": status,
        "measures": list(measures),
        "objection_until": None if objection_until is None else objection_until.isoformat()})
    return listing_id


def seal_words(tx: Tx, ring: Keyring, listing_id: str, version: int, words: str) -> None:
    """Seal the agency's words on one version of a listing under the person's key, recorded."""
    row = tx.session.execute(select(Listing.record_id, Subject.subject_ref)
                             .join(Subject, Subject.id == Listing.subject_id)
                             .where(Listing.id == listing_id)).one_or_none()
    if row is None:
        raise ListingNotFound(listing_id)
    dek = data_key(ring, get_sealed(tx, row.subject_ref))
    sealed = _crypto.seal(dek, words.encode(), _aad(listing_id, row.subject_ref, f"words:{version}"))
    tx.session.execute(update(ListingVersion).where(ListingVersion.listing_id == listing_id,
                                                    ListingVersion.version == version)
                       .values(words_ct=sealed).execution_options(synchronize_session=False))
    tx.record(Tag.LISTING_WORDS_SEALED, subject_ref=row.subject_ref, record_ids=[row.record_id],
              detail={"listing_id": listing_id, "version": version})


def read_own(tx: Tx, ring: Keyring, subject_ref: str, ids: Sequence[str]) -> dict[str, ListingTexts]:
    """Return the texts of the person's listings named, recorded as their read."""
    subject = get_sealed(tx, subject_ref)
    dek = data_key(ring, subject)
    rows = tx.session.execute(select(Listing.id, Listing.texts_ct).where(
        Listing.subject_id == subject.id, Listing.id.in_(list(ids)))).all()
    words: dict[str, dict[int, str]] = {}
    for v in tx.session.execute(select(ListingVersion.listing_id, ListingVersion.version, ListingVersion.words_ct)
                                .where(ListingVersion.listing_id.in_([r.id for r in rows]),
                                       ListingVersion.words_ct.is_not(None))):
        words.setdefault(v.listing_id, {})[v.version] = _crypto.unseal(
            dek, v.words_ct, _aad(v.listing_id, subject_ref, f"words:{v.version}"), f"listing {v.listing_id}").decode()
    found = {}
    for row in rows:
        texts = json.loads(_crypto.unseal(dek, row.texts_ct, _aad(row.id, subject_ref, "texts"), f"listing {row.id}"))
        found[row.id] = ListingTexts(row.id, texts["reason"], texts["basis"], words.get(row.id, {}))
    tx.record(Tag.LISTING_READ, subject_ref=subject_ref, detail={"listings": sorted(found)})
    return found
