"""The vault's listing methods: each writes its entry in the caller's transaction, texts sealed.

Counted as tests/vault/test_vault.py counts the others (tests/test_layers.py lists them all).
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from audit.entries import canonical_json, stored_document
from audit.tags import Tag
from audit.tx import AccessContext
from gateway.runtime import Runtime
from tests.conftest import People
from tests.vault.test_vault import AS_PROVIDER, _about, _ingest, _new_record, entries_written
from vault.errors import ListingNotFound
from vault.models import Listing, ListingVersion

REASON = "拒不履行行政处罚决定, 情节严重"
BASIS = "《严重违法失信名单管理办法》第二条"
WORDS = "当事人已纠正, 提前移出"
WINDOW = date(2026, 11, 30)


def _proposed(rt: Runtime, citizen_id: str) -> tuple[str, str]:
    [record] = _ingest(rt, _new_record(citizen_id))
    ref = rt.vault.subject_ref(citizen_id)
    holder: list[str] = []
    entries_written(rt, lambda tx: holder.append(rt.vault.propose_listing(
        tx, ref, record.id, "prov_a", "black", "proposed", ["restrict_flights"], REASON, BASIS, WINDOW, None)),
        by=AS_PROVIDER)
    return holder[0], record.id


def test_proposing_a_listing_writes_one_entry_and_seals_the_texts(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    [record] = _ingest(rt, _new_record(citizen_id))
    ref = rt.vault.subject_ref(citizen_id)
    [written] = entries_written(rt, lambda tx: rt.vault.propose_listing(
        tx, ref, record.id, "prov_a", "black", "proposed", ["restrict_flights", "closer_supervision"], REASON,
        BASIS, WINDOW, None), by=AS_PROVIDER)
    assert written.action == Tag.LISTING_PROPOSED
    assert _about(rt, written, citizen_id)
    assert written.record_ids == [record.id]
    document = canonical_json(stored_document(written)).decode()
    assert REASON not in document
    assert BASIS not in document
    with rt.sessions() as session, session.begin():
        row = session.execute(select(Listing).where(Listing.record_id == record.id)).scalar_one()
        assert (row.status, row.version, row.objection_until) == ("proposed", 1, WINDOW)
        assert REASON.encode() not in row.texts_ct
        assert BASIS.encode() not in row.texts_ct
        [first] = session.execute(select(ListingVersion).where(ListingVersion.listing_id == row.id)).scalars()
        assert (first.version, first.status, first.cause) == (1, "proposed", "proposed")


def test_a_second_live_listing_of_a_kind_on_a_record_is_refused_by_the_database(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    _, record_id = _proposed(rt, citizen_id)
    ref = rt.vault.subject_ref(citizen_id)
    with pytest.raises(IntegrityError), rt.uow.begin(AS_PROVIDER) as tx:
        rt.vault.propose_listing(tx, ref, record_id, "prov_a", "black", "proposed", ["restrict_flights"], REASON,
                                 BASIS, WINDOW, None)


def test_sealing_an_agencys_words_on_a_listing_writes_one_entry(rt: Runtime, people: People) -> None:
    listing_id, _ = _proposed(rt, people.new())
    [written] = entries_written(rt, lambda tx: rt.vault.seal_listing_words(tx, listing_id, 1, WORDS), by=AS_PROVIDER)
    assert written.action == Tag.LISTING_WORDS_SEALED
    assert WORDS not in canonical_json(stored_document(written)).decode()
    with rt.sessions() as session, session.begin():
        sealed = session.execute(select(ListingVersion.words_ct).where(
            ListingVersion.listing_id == listing_id)).scalar_one()
        assert sealed is not None
        assert WORDS.encode() not in sealed
    with pytest.raises(ListingNotFound), rt.uow.begin(AS_PROVIDER) as tx:
        rt.vault.seal_listing_words(tx, "ls_" + "0" * 24, 1, WORDS)


def test_reading_ones_listings_writes_one_entry(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    listing_id, _ = _proposed(rt, citizen_id)
    entries_written(rt, lambda tx: rt.vault.seal_listing_words(tx, listing_id, 1, WORDS), by=AS_PROVIDER)
    ref = rt.vault.subject_ref(citizen_id)
    found = {}
    [written] = entries_written(rt, lambda tx: found.update(rt.vault.read_listings(tx, ref, [listing_id])),
                                by=AccessContext(actor=ref, role="person"))
    assert written.action == Tag.LISTING_READ
    assert (found[listing_id].reason, found[listing_id].basis, dict(found[listing_id].words)) == (
        REASON, BASIS, {1: WORDS})
    stranger = people.new()
    _ingest(rt, _new_record(stranger))
    theirs = rt.vault.subject_ref(stranger)
    with rt.uow.begin(AccessContext(actor=theirs, role="person")) as tx:
        assert rt.vault.read_listings(tx, theirs, [listing_id]) == {}  # another person's listing stays closed
