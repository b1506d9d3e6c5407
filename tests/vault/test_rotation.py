"""KEK rotation: data keys are re-wrapped in batches, payloads are untouched, and a half-done rotation reads."""

from __future__ import annotations

import copy
from datetime import date

import pytest
from sqlalchemy import select

from audit.tx import AccessContext
from consent import entry
from gateway.runtime import Runtime
from tests.conftest import People, penalty
from vault import _crypto as crypto
from vault import _records as records
from vault import _rotation as rotation
from vault import _subjects as subjects
from vault._keyring import Keyring
from vault.errors import KeyringError
from vault.models import Record, Subject
from vault.types import Document, NewRecord, Provider
from vault.vault import Vault

PROVIDER = Provider("prov_a", frozenset({"ADMINISTRATIVE_PENALTY_GENERAL"}), "any_competent_authority")
READER = AccessContext(actor="person", role="person")
OPERATOR = AccessContext(actor="operator", role="operator")


@pytest.fixture
def ring() -> Keyring:
    """The keyring of this module's vault: each test rotates a copy of it."""
    return Keyring.generate()


@pytest.fixture
def vault(ring: Keyring) -> Vault:
    return Vault(ring)


def _ingest(rt: Runtime, people: People, count: int) -> list[str]:
    citizen_ids = [people.new() for _ in range(count)]
    batch = []
    for citizen_id in citizen_ids:
        body = penalty(citizen_id)
        doc = body["document"]
        record = NewRecord(citizen_id, body["name"], body["category"], date(2026, 10, 1),
                           Document(doc["type"], doc["number"], doc["authority"], date(2026, 10, 1)), body["payload"])
        batch.append(entry.prepare(rt.catalogue, rt.vault.fingerprint, PROVIDER, record, rt.clock.now().date()))
    with rt.uow.begin(AccessContext(actor="prov_a", role="provider")) as tx:
        rt.vault.ingest(tx, PROVIDER, batch)
    return citizen_ids


def _rotated(ring: Keyring) -> Keyring:
    """A copy of the test keyring with a new KEK (the vault's own must stay as it is)."""
    rotated = copy.deepcopy(ring)
    rotated.add_kek()
    return rotated


def _versions(rt: Runtime) -> list[int | None]:
    with rt.sessions() as session, session.begin():
        return list(session.execute(select(Subject.kek_version).order_by(Subject.id)).scalars())


def _sealed(rt: Runtime) -> dict[str, bytes]:
    with rt.sessions() as session, session.begin():
        return dict(session.execute(select(Record.id, Record.sealed)).all())


def _read_all(rt: Runtime, ring: Keyring, citizen_ids: list[str]) -> dict[str, str]:
    """Return {record id: violation} for everyone, decrypting with `ring`."""
    found = {}
    with rt.uow.begin(READER) as tx:
        for citizen_id in citizen_ids:
            ref = crypto.blind_index(ring, citizen_id)
            for view in records.read_own(tx, ring, ref).records:
                found[view.id] = view.payload["violation"]
    return found


def _rewrap(rt: Runtime, ring: Keyring, limit: int) -> int:
    with rt.uow.begin(OPERATOR) as tx:
        return rotation.rewrap_batch(tx.session, ring, limit)


def _pending(rt: Runtime, ring: Keyring) -> int:
    with rt.uow.begin(OPERATOR, readonly=True) as tx:
        return rotation.pending_count(tx.session, ring)


def test_nothing_is_pending_under_the_kek_that_wrapped_everything(rt: Runtime, ring: Keyring, people: People) -> None:
    _ingest(rt, people, 3)
    assert _pending(rt, ring) == 0
    assert _rewrap(rt, ring, 10) == 0


def test_a_new_kek_makes_every_data_key_pending(rt: Runtime, ring: Keyring, people: People) -> None:
    _ingest(rt, people, 3)
    assert _pending(rt, _rotated(ring)) == 3


def test_rewrapping_in_batches_moves_every_subject_to_the_new_version(
    rt: Runtime, ring: Keyring, people: People
) -> None:
    citizen_ids = _ingest(rt, people, 5)
    before = _read_all(rt, ring, citizen_ids)
    rotated = _rotated(ring)
    assert [_rewrap(rt, rotated, 2) for _ in range(4)] == [2, 2, 1, 0]
    assert _versions(rt) == [2] * 5
    assert _pending(rt, rotated) == 0
    assert _read_all(rt, rotated, citizen_ids) == before


def test_rewrapping_changes_only_the_wrapped_keys_never_a_payload(rt: Runtime, ring: Keyring, people: People) -> None:
    _ingest(rt, people, 2)
    sealed = _sealed(rt)
    with rt.sessions() as session, session.begin():
        wrapped = dict(session.execute(select(Subject.id, Subject.wrapped_dek)).all())
    _rewrap(rt, _rotated(ring), 10)
    assert _sealed(rt) == sealed
    with rt.sessions() as session, session.begin():
        after = dict(session.execute(select(Subject.id, Subject.wrapped_dek)).all())
    assert after.keys() == wrapped.keys()
    assert all(after[k] != wrapped[k] for k in wrapped)


def test_a_rotation_stopped_half_way_leaves_every_record_readable(rt: Runtime, ring: Keyring, people: People) -> None:
    citizen_ids = _ingest(rt, people, 4)
    before = _read_all(rt, ring, citizen_ids)
    rotated = _rotated(ring)
    assert _rewrap(rt, rotated, 2) == 2
    assert sorted(_versions(rt)) == [1, 1, 2, 2]
    assert _read_all(rt, rotated, citizen_ids) == before
    assert _pending(rt, rotated) == 2


def test_a_rewrapped_data_key_no_longer_opens_under_the_old_kek_alone(
    rt: Runtime, ring: Keyring, people: People
) -> None:
    [citizen_id] = _ingest(rt, people, 1)
    rotated = _rotated(ring)
    _rewrap(rt, rotated, 10)
    with rt.sessions() as session, session.begin():
        subject = session.execute(select(Subject)).scalar_one()
        assert subject.kek_version == 2
        assert subject.wrapped_dek is not None
        without_new = copy.deepcopy(rotated)
        del without_new.keks[2]
        with pytest.raises(KeyringError):
            subjects.data_key(without_new, subject)
        assert subjects.reveal_identity(subjects.data_key(rotated, subject), subject).citizen_id == citizen_id


def test_a_shredded_subject_is_not_rewrapped_and_stays_shredded(rt: Runtime, ring: Keyring, people: People) -> None:
    alice, _ = _ingest(rt, people, 2)
    with rt.uow.begin(READER) as tx:
        subjects.shred(tx, rt.vault.subject_ref(alice))
    rotated = _rotated(ring)
    assert _pending(rt, rotated) == 1
    assert _rewrap(rt, rotated, 10) == 1
    with rt.sessions() as session, session.begin():
        shredded = session.execute(
            select(Subject).where(Subject.subject_ref == rt.vault.subject_ref(alice))
        ).scalar_one()
        assert (shredded.kek_version, shredded.wrapped_dek) == (None, None)


def test_people_first_seen_after_a_rotation_are_wrapped_under_the_new_kek(
    rt: Runtime, ring: Keyring, people: People
) -> None:
    rotated = _rotated(ring)
    with rt.uow.begin(OPERATOR) as tx:
        subjects.ensure_subjects(tx.session, rotated, tx.clock, [(people.new(), None)])
    assert _versions(rt) == [2]
