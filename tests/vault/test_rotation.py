"""KEK rotation: data keys are re-wrapped in batches, payloads are untouched, and a half-done rotation reads."""

from __future__ import annotations

import copy
from datetime import date

import pytest
from sqlalchemy import select
from vault.keyring import Keyring

from audit.tx import AccessContext
from consent import entry
from gateway.runtime import Runtime
from tests.conftest import People, penalty
from vault import crypto, records, rotation, subjects
from vault.errors import KeyringError
from vault.models import Record, Subject
from vault.types import Document, NewRecord, Provider

PROVIDER = Provider("prov_a", frozenset({"ADMINISTRATIVE_PENALTY_GENERAL"}))
READER = AccessContext(actor="person", role="person")


def _ingest(rt: Runtime, people: People, count: int) -> list[str]:
    citizen_ids = [people.new() for _ in range(count)]
    batch = []
    for citizen_id in citizen_ids:
        body = penalty(citizen_id)
        doc = body["document"]
        record = NewRecord(citizen_id, body["name"], body["category"], date(2026, 10, 1),
                           Document(doc["type"], doc["number"], doc["authority"], date(2026, 10, 1)), body["payload"])
        batch.append(entry.prepare(rt.catalogue, rt.keyring, PROVIDER, record, rt.clock.now().date()))
    with rt.sessions() as session, session.begin():
        records.ingest(session, rt.keyring, rt.clock, PROVIDER, batch, AccessContext(actor="prov_a", role="provider"))
    return citizen_ids


def _rotated(rt: Runtime) -> Keyring:
    """A copy of the test keyring with a new KEK (the shared one must stay as it is)."""
    ring = copy.deepcopy(rt.keyring)
    ring.add_kek()
    return ring


def _versions(rt: Runtime) -> list[int | None]:
    with rt.sessions() as session, session.begin():
        return list(session.execute(select(Subject.kek_version).order_by(Subject.id)).scalars())


def _sealed(rt: Runtime) -> dict[str, bytes]:
    with rt.sessions() as session, session.begin():
        return dict(session.execute(select(Record.id, Record.sealed)).all())


def _read_all(rt: Runtime, ring: Keyring, citizen_ids: list[str]) -> dict[str, str]:
    """Return {record id: violation} for everyone, decrypting with `ring`."""
    found = {}
    with rt.sessions() as session, session.begin():
        for citizen_id in citizen_ids:
            ref = crypto.blind_index(ring, citizen_id)
            for view in records.read_own(session, ring, rt.clock, ref, READER)[1]:
                found[view.id] = view.payload["violation"]
    return found


def _rewrap(rt: Runtime, ring: Keyring, limit: int) -> int:
    with rt.sessions() as session, session.begin():
        return rotation.rewrap_batch(session, ring, limit)


def _pending(rt: Runtime, ring: Keyring) -> int:
    with rt.sessions() as session, session.begin():
        return rotation.pending_count(session, ring)


def test_nothing_is_pending_under_the_kek_that_wrapped_everything(rt: Runtime, people: People) -> None:
    _ingest(rt, people, 3)
    assert _pending(rt, rt.keyring) == 0
    assert _rewrap(rt, rt.keyring, 10) == 0


def test_a_new_kek_makes_every_data_key_pending(rt: Runtime, people: People) -> None:
    _ingest(rt, people, 3)
    assert _pending(rt, _rotated(rt)) == 3


def test_rewrapping_in_batches_moves_every_subject_to_the_new_version(rt: Runtime, people: People) -> None:
    citizen_ids = _ingest(rt, people, 5)
    before = _read_all(rt, rt.keyring, citizen_ids)
    ring = _rotated(rt)
    assert [_rewrap(rt, ring, 2) for _ in range(4)] == [2, 2, 1, 0]
    assert _versions(rt) == [2] * 5
    assert _pending(rt, ring) == 0
    assert _read_all(rt, ring, citizen_ids) == before


def test_rewrapping_changes_only_the_wrapped_keys_never_a_payload(rt: Runtime, people: People) -> None:
    _ingest(rt, people, 2)
    sealed = _sealed(rt)
    with rt.sessions() as session, session.begin():
        wrapped = dict(session.execute(select(Subject.id, Subject.wrapped_dek)).all())
    _rewrap(rt, _rotated(rt), 10)
    assert _sealed(rt) == sealed
    with rt.sessions() as session, session.begin():
        after = dict(session.execute(select(Subject.id, Subject.wrapped_dek)).all())
    assert after.keys() == wrapped.keys()
    assert all(after[k] != wrapped[k] for k in wrapped)


def test_a_rotation_stopped_half_way_leaves_every_record_readable(rt: Runtime, people: People) -> None:
    citizen_ids = _ingest(rt, people, 4)
    before = _read_all(rt, rt.keyring, citizen_ids)
    ring = _rotated(rt)
    assert _rewrap(rt, ring, 2) == 2
    assert sorted(_versions(rt)) == [1, 1, 2, 2]
    assert _read_all(rt, ring, citizen_ids) == before
    assert _pending(rt, ring) == 2


def test_a_rewrapped_data_key_no_longer_opens_under_the_old_kek_alone(rt: Runtime, people: People) -> None:
    [citizen_id] = _ingest(rt, people, 1)
    ring = _rotated(rt)
    _rewrap(rt, ring, 10)
    with rt.sessions() as session, session.begin():
        subject = session.execute(select(Subject)).scalar_one()
        assert subject.kek_version == 2
        assert subject.wrapped_dek is not None
        without_new = copy.deepcopy(ring)
        del without_new.keks[2]
        with pytest.raises(KeyringError):
            subjects.data_key(without_new, subject)
        assert subjects.reveal_identity(ring, subject).citizen_id == citizen_id


def test_a_shredded_subject_is_not_rewrapped_and_stays_shredded(rt: Runtime, people: People) -> None:
    alice, _ = _ingest(rt, people, 2)
    with rt.sessions() as session, session.begin():
        subjects.shred(session, rt.clock, rt.vault.subject_ref(alice), READER)
    ring = _rotated(rt)
    assert _pending(rt, ring) == 1
    assert _rewrap(rt, ring, 10) == 1
    with rt.sessions() as session, session.begin():
        shredded = session.execute(
            select(Subject).where(Subject.subject_ref == rt.vault.subject_ref(alice))
        ).scalar_one()
        assert (shredded.kek_version, shredded.wrapped_dek) == (None, None)


def test_people_first_seen_after_a_rotation_are_wrapped_under_the_new_kek(rt: Runtime, people: People) -> None:
    ring = _rotated(rt)
    with rt.sessions() as session, session.begin():
        subjects.ensure_subjects(session, ring, rt.clock, [(people.new(), None)])
    assert _versions(rt) == [2]
