"""Envelope encryption: sealed data opens only with its own key and its own associated data."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from audit.entries import AuditEntry
from audit.tags import Tag
from audit.tx import AccessContext
from consent import entry
from gateway.runtime import Runtime
from tests.conftest import People, penalty
from vault import _crypto as crypto
from vault import _subjects as subjects
from vault._keyring import Keyring
from vault.errors import DecryptionFailed, KeyringError, SubjectShredded, UnknownKeyVersion
from vault.models import Record, Subject
from vault.types import Document, NewRecord, Provider, RecordView
from vault.vault import Vault

CITIZEN_ID = "11010519491231002X"
PROVIDER_ACCESS = AccessContext(actor="prov_a", role="provider")
PERSON_ACCESS = AccessContext(actor="person", role="person", purpose="self_report")

keys = st.binary(min_size=32, max_size=32)


@settings(max_examples=100)
@given(keys, st.binary(max_size=2048), st.binary(max_size=256))
def test_sealed_bytes_unseal_to_the_same_plaintext(key: bytes, plaintext: bytes, aad: bytes) -> None:
    blob = crypto.seal(key, plaintext, aad)
    assert crypto.unseal(key, blob, aad, "test") == plaintext


@settings(max_examples=50)
@given(keys, st.binary(min_size=1, max_size=256))
def test_sealing_twice_gives_different_ciphertexts(key: bytes, plaintext: bytes) -> None:
    assert crypto.seal(key, plaintext, b"aad") != crypto.seal(key, plaintext, b"aad")


@settings(max_examples=50)
@given(keys, st.binary(max_size=256), st.binary(max_size=64), st.data())
def test_any_flipped_bit_of_the_ciphertext_fails_to_decrypt(
    key: bytes, plaintext: bytes, aad: bytes, data: st.DataObject
) -> None:
    blob = bytearray(crypto.seal(key, plaintext, aad))
    position = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    blob[position] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    with pytest.raises(DecryptionFailed):
        crypto.unseal(key, bytes(blob), aad, "test")


@settings(max_examples=50)
@given(keys, st.binary(max_size=256), st.binary(max_size=64), st.binary(max_size=64))
def test_other_associated_data_fails_to_decrypt(key: bytes, plaintext: bytes, aad: bytes, other: bytes) -> None:
    assume(other != aad)
    blob = crypto.seal(key, plaintext, aad)
    with pytest.raises(DecryptionFailed):
        crypto.unseal(key, blob, other, "test")


@settings(max_examples=50)
@given(keys, keys, st.binary(max_size=256))
def test_another_key_fails_to_decrypt(key: bytes, other: bytes, plaintext: bytes) -> None:
    assume(other != key)
    blob = crypto.seal(key, plaintext, b"aad")
    with pytest.raises(DecryptionFailed):
        crypto.unseal(other, blob, b"aad", "test")


@pytest.mark.parametrize("blob", [b"", b"short", bytes(12), bytes(27)])
def test_a_truncated_blob_fails_to_decrypt(blob: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        crypto.unseal(bytes(32), blob, b"aad", "test")


def test_a_decryption_failure_names_what_failed_and_keeps_its_cause() -> None:
    blob = crypto.seal(bytes(32), b"x", b"aad")
    with pytest.raises(DecryptionFailed, match="record rec_1") as caught:
        crypto.unseal(bytes(32), blob, b"other", "record rec_1")
    assert caught.value.__cause__ is not None


def test_a_wrapped_data_key_unwraps_for_its_own_subject_and_version() -> None:
    ring = Keyring.generate()
    dek = crypto.new_data_key()
    version, wrapped = crypto.wrap_data_key(ring, dek, "ref-a")
    assert version == ring.current_kek == 1
    assert dek not in wrapped
    assert crypto.unwrap_data_key(ring, version, wrapped, "ref-a") == dek


def test_a_wrapped_data_key_does_not_unwrap_for_another_subject() -> None:
    ring = Keyring.generate()
    version, wrapped = crypto.wrap_data_key(ring, crypto.new_data_key(), "ref-a")
    with pytest.raises(DecryptionFailed):
        crypto.unwrap_data_key(ring, version, wrapped, "ref-b")


def test_a_wrapped_data_key_does_not_unwrap_when_labelled_with_another_kek_version() -> None:
    ring = Keyring.generate()
    version, wrapped = crypto.wrap_data_key(ring, crypto.new_data_key(), "ref-a")
    ring.keks[2] = ring.keks[version]  # even under the very same key bytes, the version is bound
    with pytest.raises(DecryptionFailed):
        crypto.unwrap_data_key(ring, 2, wrapped, "ref-a")


def test_a_data_key_wraps_under_the_newest_kek_and_old_wraps_still_open() -> None:
    ring = Keyring.generate()
    dek = crypto.new_data_key()
    old_version, old_wrapped = crypto.wrap_data_key(ring, dek, "ref-a")
    new = ring.add_kek()
    version, wrapped = crypto.wrap_data_key(ring, dek, "ref-a")
    assert (old_version, version) == (1, new) == (1, 2)
    assert crypto.unwrap_data_key(ring, 1, old_wrapped, "ref-a") == dek
    assert crypto.unwrap_data_key(ring, 2, wrapped, "ref-a") == dek
    with pytest.raises(DecryptionFailed):
        crypto.unseal(ring.kek(1), wrapped, b"xinyong:dek:v1|ref-a|2", "data key")


def test_a_data_key_wrapped_under_a_version_the_keyring_lacks_raises_keyring_error() -> None:
    ring = Keyring.generate()
    _, wrapped = crypto.wrap_data_key(ring, crypto.new_data_key(), "ref-a")
    with pytest.raises(KeyringError, match="version 7") as caught:
        crypto.unwrap_data_key(ring, 7, wrapped, "ref-a")
    assert isinstance(caught.value, UnknownKeyVersion)  # what makes the Vault reload its keyring file


def test_a_data_key_wrapped_by_another_keyring_does_not_unwrap() -> None:
    version, wrapped = crypto.wrap_data_key(Keyring.generate(), crypto.new_data_key(), "ref-a")
    with pytest.raises(DecryptionFailed):
        crypto.unwrap_data_key(Keyring.generate(), version, wrapped, "ref-a")


def test_the_blind_index_is_the_same_every_time_under_one_keyring() -> None:
    ring = Keyring.generate()
    assert crypto.blind_index(ring, CITIZEN_ID) == crypto.blind_index(ring, CITIZEN_ID)


def test_the_blind_index_differs_between_keyrings() -> None:
    assert crypto.blind_index(Keyring.generate(), CITIZEN_ID) != crypto.blind_index(Keyring.generate(), CITIZEN_ID)


def test_the_blind_index_differs_between_people() -> None:
    ring = Keyring.generate()
    assert crypto.blind_index(ring, CITIZEN_ID) != crypto.blind_index(ring, "110105194912310010")


def test_the_blind_index_is_not_the_id_nor_a_plain_hash_of_it() -> None:
    ref = crypto.blind_index(Keyring.generate(), CITIZEN_ID)
    assert len(ref) == 64
    assert CITIZEN_ID not in ref
    assert CITIZEN_ID.lower() not in ref
    assert ref not in {hashlib.sha256(CITIZEN_ID.encode()).hexdigest(),
                       hashlib.sha256(b"xinyong:bi:v1|" + CITIZEN_ID.encode()).hexdigest()}


def test_the_blind_index_does_not_depend_on_the_kek() -> None:
    ring = Keyring.generate()
    before = crypto.blind_index(ring, CITIZEN_ID)
    ring.add_kek()
    assert crypto.blind_index(ring, CITIZEN_ID) == before


def test_record_and_subject_associated_data_name_every_binding() -> None:
    assert crypto.record_aad("rec_1", "ref", "CAT") != crypto.record_aad("rec_2", "ref", "CAT")
    assert crypto.record_aad("rec_1", "ref", "CAT") != crypto.record_aad("rec_1", "other", "CAT")
    assert crypto.record_aad("rec_1", "ref", "CAT") != crypto.record_aad("rec_1", "ref", "OTHER")
    assert crypto.subject_aad("ref", "name") != crypto.subject_aad("ref", "citizen_id")
    assert crypto.subject_aad("ref", "name") != crypto.subject_aad("other", "name")


# --- ciphertexts in the database: bound to their row, and gone with their person's key --------------


@pytest.fixture
def ring() -> Keyring:
    """The keyring of this module's vault, so that a test can try every key in it."""
    return Keyring.generate()


@pytest.fixture
def vault(ring: Keyring) -> Vault:
    return Vault(ring)


def _ingest(rt: Runtime, *bodies: dict[str, Any]) -> list[str]:
    provider = Provider("prov_a", frozenset(rt.catalogue.categories), "any_competent_authority")
    prepared = [entry.prepare(rt.catalogue, rt.vault.fingerprint, provider, _new_record(body), rt.clock.now().date())
                for body in bodies]
    with rt.uow.begin(PROVIDER_ACCESS) as tx:
        results = rt.vault.ingest(tx, provider, prepared)
    return [r.id for r in results]


def _new_record(body: dict[str, Any]) -> NewRecord:
    doc = body["document"]
    return NewRecord(
        citizen_id=body["citizen_id"], name=body["name"], category=body["category"],
        decided_at=date.fromisoformat(body["decided_at"]),
        document=Document(doc["type"], doc["number"], doc["authority"], date.fromisoformat(doc["effective_at"])),
        payload=body["payload"],
    )


def _read_own(rt: Runtime, citizen_id: str) -> list[RecordView]:
    with rt.uow.begin(PERSON_ACCESS) as tx:
        return rt.vault.read_own(tx, rt.vault.subject_ref(citizen_id)).records


def _sealed(rt: Runtime, record_id: str) -> bytes:
    with rt.sessions() as session, session.begin():
        return session.execute(select(Record.sealed).where(Record.id == record_id)).scalar_one()


def _update(rt: Runtime, record_id: str, **values: Any) -> None:
    with rt.sessions() as session, session.begin():
        session.execute(update(Record).where(Record.id == record_id).values(**values))


def test_a_ciphertext_copied_to_another_persons_record_fails_to_decrypt(rt: Runtime, people: People) -> None:
    alice, bob = people.new(), people.new()
    record_a, record_b = _ingest(rt, penalty(alice), penalty(bob))
    assert [v.id for v in _read_own(rt, bob)] == [record_b]
    _update(rt, record_b, sealed=_sealed(rt, record_a))
    with pytest.raises(DecryptionFailed, match=record_b):
        _read_own(rt, bob)
    assert [v.id for v in _read_own(rt, alice)] == [record_a]


def test_a_ciphertext_copied_to_the_same_persons_record_of_another_category_fails_to_decrypt(
    rt: Runtime, people: People
) -> None:
    alice = people.new()
    general, minor = _ingest(rt, penalty(alice), penalty(alice, category="ADMINISTRATIVE_PENALTY_MINOR"))
    _update(rt, minor, sealed=_sealed(rt, general))
    with pytest.raises(DecryptionFailed, match=minor):
        _read_own(rt, alice)


def test_a_record_relabelled_to_another_category_fails_to_decrypt(rt: Runtime, people: People) -> None:
    # Downgrading a serious record to a minor one in the database must not go unnoticed.
    alice = people.new()
    [record_id] = _ingest(rt, penalty(alice, category="ADMINISTRATIVE_PENALTY_SERIOUS"))
    _update(rt, record_id, category="ADMINISTRATIVE_PENALTY_MINOR")
    with pytest.raises(DecryptionFailed):
        _read_own(rt, alice)


def test_a_record_moved_to_another_person_fails_to_decrypt(rt: Runtime, people: People) -> None:
    alice, bob = people.new(), people.new()
    record_a, _ = _ingest(rt, penalty(alice), penalty(bob))
    with rt.sessions() as session, session.begin():
        bob_subject = session.execute(
            select(Subject.id).where(Subject.subject_ref == rt.vault.subject_ref(bob))
        ).scalar_one()
    _update(rt, record_a, subject_id=bob_subject)
    with pytest.raises(DecryptionFailed, match=record_a):
        _read_own(rt, bob)


def test_a_tampered_record_ciphertext_fails_to_decrypt(rt: Runtime, people: People) -> None:
    alice = people.new()
    [record_id] = _ingest(rt, penalty(alice))
    sealed = bytearray(_sealed(rt, record_id))
    sealed[-1] ^= 0x01
    _update(rt, record_id, sealed=bytes(sealed))
    with pytest.raises(DecryptionFailed):
        _read_own(rt, alice)


def _subject(session: Session, rt: Runtime, citizen_id: str) -> Subject:
    return session.execute(
        select(Subject).where(Subject.subject_ref == rt.vault.subject_ref(citizen_id))
    ).scalar_one()


def _shred(rt: Runtime, citizen_id: str) -> None:
    with rt.uow.begin(AccessContext(actor="operator-1", role="operator", basis="erasure request 42")) as tx:
        rt.vault.shred(tx, rt.vault.subject_ref(citizen_id))


def test_after_shredding_the_persons_records_raise_subject_shredded(rt: Runtime, people: People) -> None:
    alice = people.new()
    _ingest(rt, penalty(alice))
    _shred(rt, alice)
    with pytest.raises(SubjectShredded):
        _read_own(rt, alice)


def test_after_shredding_the_persons_identity_cannot_be_revealed(rt: Runtime, ring: Keyring, people: People) -> None:
    alice = people.new()
    _ingest(rt, penalty(alice))
    with rt.sessions() as session, session.begin():
        subject = _subject(session, rt, alice)
        assert subjects.reveal_identity(subjects.data_key(ring, subject), subject).citizen_id == alice
    _shred(rt, alice)
    with rt.sessions() as session, session.begin():
        subject = _subject(session, rt, alice)
        # No data key is left to reveal it with: the only way to one says the person is shredded.
        with pytest.raises(SubjectShredded):
            subjects.data_key(ring, subject)


def test_after_shredding_the_ciphertexts_remain_but_no_key_in_the_keyring_opens_them(
    rt: Runtime, ring: Keyring, people: People
) -> None:
    alice = people.new()
    [record_id] = _ingest(rt, penalty(alice))
    before = _sealed(rt, record_id)
    _shred(rt, alice)
    assert _sealed(rt, record_id) == before
    with rt.sessions() as session, session.begin():
        subject = _subject(session, rt, alice)
        assert subject.wrapped_dek is None
        assert subject.kek_version is None
        assert subject.shredded_at == rt.clock.now()
        assert subject.citizen_id_ct is not None
        ref, citizen_id_ct = subject.subject_ref, subject.citizen_id_ct
    every_key = [*ring.keks.values(), ring.blind_index_key, ring.session_secret, *ring.signing_keys.values()]
    for key in every_key:
        with pytest.raises(DecryptionFailed):
            crypto.unseal(key, before, crypto.record_aad(record_id, ref, "ADMINISTRATIVE_PENALTY_GENERAL"), "record")
        with pytest.raises(DecryptionFailed):
            crypto.unseal(key, citizen_id_ct, crypto.subject_aad(ref, "citizen_id"), "citizen ID")


def test_shredding_leaves_other_people_readable(rt: Runtime, people: People) -> None:
    alice, bob = people.new(), people.new()
    _, record_b = _ingest(rt, penalty(alice), penalty(bob))
    _shred(rt, alice)
    assert [v.id for v in _read_own(rt, bob)] == [record_b]


def test_shredding_is_audited(rt: Runtime, people: People) -> None:
    alice = people.new()
    _ingest(rt, penalty(alice))
    _shred(rt, alice)
    with rt.sessions() as session, session.begin():
        entry = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert entry.action == Tag.SUBJECT_SHREDDED
    assert entry.subject_ref == rt.vault.subject_ref(alice)
    assert (entry.actor, entry.role, entry.basis) == ("operator-1", "operator", "erasure request 42")
    assert entry.outcome == "allowed"


def test_after_an_erasure_nothing_sealed_is_left_and_no_key_in_the_keyring_opens_a_copy_of_it(
    rt: Runtime, ring: Keyring, people: People
) -> None:
    alice, bob = people.new(), people.new()
    [record_id, kept] = _ingest(rt, penalty(alice), penalty(bob))
    before = _sealed(rt, record_id)
    ref = rt.vault.subject_ref(alice)
    with rt.sessions() as session, session.begin():
        citizen_id_ct = _subject(session, rt, alice).citizen_id_ct
    assert citizen_id_ct is not None
    with rt.uow.begin(AccessContext(actor="operator-1", role="operator", basis="court order (2026) 7")) as tx:
        rt.vault.erase_subject(tx, ref)
    assert _sealed(rt, record_id) == b""
    with rt.sessions() as session, session.begin():
        assert session.execute(select(Subject).where(Subject.subject_ref == ref)).first() is None
        assert session.execute(select(Subject).where(Subject.citizen_id_ct == citizen_id_ct)).first() is None
    # A copy made before (a backup, say): no key this keyring holds opens it, now that the data key is gone.
    every_key = [*ring.keks.values(), ring.blind_index_key, ring.session_secret, *ring.signing_keys.values()]
    for key in every_key:
        with pytest.raises(DecryptionFailed):
            crypto.unseal(key, before, crypto.record_aad(record_id, ref, "ADMINISTRATIVE_PENALTY_GENERAL"), "record")
        with pytest.raises(DecryptionFailed):
            crypto.unseal(key, citizen_id_ct, crypto.subject_aad(ref, "citizen_id"), "citizen ID")
    assert [v.id for v in _read_own(rt, bob)] == [kept]


def test_a_batch_of_nonces_is_distinct_and_seals_as_a_drawn_one_does() -> None:
    key = crypto.new_data_key()
    nonces = crypto.nonces(500)
    assert len(nonces) == 500
    assert {len(n) for n in nonces} == {crypto.NONCE}
    assert len(set(nonces)) == 500
    sealed = crypto.seal(key, b"payload", b"aad", nonces[7])
    assert sealed[:crypto.NONCE] == nonces[7]
    assert crypto.unseal(key, sealed, b"aad", "record") == b"payload"
    assert crypto.seal(key, b"payload", b"aad")[:crypto.NONCE] not in nonces
