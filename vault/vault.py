"""The Vault: the one object that holds the keys, and the only door to plaintext.

Built once per process from the keyring. Every method that returns or stores plaintext (a
payload, a citizen ID, a name, a report sealed for its person) takes the request's `Tx` and
records its audit entry there, in the caller's transaction: if the entry cannot be written, the
transaction rolls back and nothing was released. Methods without plaintext (the blind index, a
keyed fingerprint, signatures) take no transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from audit.tags import Tag
from audit.tx import Tx
from vault import (
    _commitments,
    _crypto,
    _declarations,
    _erasure,
    _listings,
    _objections,
    _records,
    _releases,
    _repairs,
    _rotation,
    _signing,
    _subjects,
)
from vault._keyring import Keyring, load_keyring, save_keyring
from vault._records import PeriodRule
from vault.errors import UnknownKeyVersion
from vault.types import (
    CommitmentTexts,
    DeclarationTexts,
    Document,
    ErasedRecord,
    ErasedSubject,
    Evidence,
    ExpiryCount,
    FilingRate,
    Ingested,
    ListingTexts,
    NewRecord,
    ObjectionTexts,
    OwnFile,
    Packed,
    PeriodState,
    Prepared,
    Provider,
    RecordDates,
    RecordDraft,
    Release,
    RepairTexts,
    Selection,
)

KEYRING_CHECK_SECONDS = 2.0
T = TypeVar("T")


class Vault:
    """Keys, envelope encryption, blind index, subjects and records behind audited methods."""

    def __init__(self, ring: Keyring, path: Path | None = None) -> None:
        self._ring = ring
        self._path = path
        self._stamp = _stamp(path)
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> Vault:
        """Return the vault of the keyring file at `path`; raises KeyringError naming `xinyong init`."""
        stamp = _stamp(path)  # before reading: a file replaced meanwhile is then seen as changed
        vault = cls(load_keyring(path), path)
        vault._stamp = stamp
        return vault

    @classmethod
    def generate(cls) -> Vault:
        """Return a vault with fresh keys held in memory only (tests, benchmarks)."""
        return cls(Keyring.generate())

    @staticmethod
    def create_keyring(path: Path) -> bool:
        """Write a fresh keyring (mode 0600) at `path` unless one is there; return whether it was created."""
        if path.exists():
            return False
        save_keyring(Keyring.generate(), path)
        return True

    # --- keys: no plaintext -----------------------------------------------------------------

    def subject_ref(self, citizen_id: str) -> str:
        """Return the blind index of a (normalised) citizen ID: how the person is found and logged."""
        return _crypto.blind_index(self._ring, citizen_id)

    def pack(self, prepared: Prepared, idempotency_key: str | None = None) -> Packed:
        """Return a prepared record ready for `ingest`, with the work that needs no database done (the blind
        index, the body encoded): a bulk import does this in worker processes. `idempotency_key`, if given,
        replaces the record's own. Nothing is stored or released: the plaintext in it is the caller's own."""
        return _records.pack(self._ring, prepared, idempotency_key)

    def fingerprint(self, data: bytes) -> str:
        """Return a keyed hash of `data`, safe to store where a plain hash could be brute-forced."""
        return _crypto.keyed_fingerprint(self._ring, data)

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        """Return a compact EdDSA JWS over the canonical JSON of `claims` with the current key."""
        return _signing.sign(self._ring, claims, typ)

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a JWS signed by any published key; raises DecryptionFailed."""
        return _signing.verify(self._ring, token)

    def jwks(self) -> dict[str, Any]:
        """Return the JWK Set of every signing key's public half."""
        return _signing.public_jwks(self._ring)

    @property
    def session_secret(self) -> bytes:
        """Return the key that signs portal session cookies."""
        return self._ring.session_secret

    @property
    def current_kek(self) -> int:
        """Return the version of the key-encryption key new data keys are wrapped under."""
        return self._ring.current_kek

    @property
    def signing_kids(self) -> list[str]:
        """Return the ids of every published signing key."""
        return sorted(self._ring.signing_keys)

    def seal_credential(self, secret: bytes, owner: str, what: str) -> tuple[int, bytes]:
        """Return (key version, ciphertext) of a login secret that must be read back (a member of staff's TOTP
        seed: unlike a password it cannot be stored as a hash), bound to `owner` and `what`.

        Not a person's data: no entry is recorded. Old key versions stay in the keyring, so a rotation leaves
        it readable; the caller re-seals it under the current version when it next reads it.
        """
        return _crypto.seal_credential(self._ring, secret, owner, what)

    def open_credential(self, version: int, sealed: bytes, owner: str, what: str) -> bytes:
        """Return a login secret sealed by `seal_credential`; raises DecryptionFailed or UnknownKeyVersion."""
        return self._unwrapping(lambda: _crypto.open_credential(self._ring, version, sealed, owner, what))

    # --- the keyring file ----------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Reload the keyring if `xinyong keys rotate` changed its file (looked at every few seconds).

        A rotation adds a key-encryption key and re-wraps data keys under it while the service runs;
        a process holding the old keyring could not unwrap them until it saw the new version.
        """
        now = time.monotonic()
        if self._path is None or (not force and now - self._checked < KEYRING_CHECK_SECONDS):
            return
        with self._lock:
            self._checked = now
            stamp = _stamp(self._path)
            if stamp is None or stamp == self._stamp:
                return  # a file briefly absent: keep what we have
            self._ring.replace_with(load_keyring(self._path))
            self._stamp = stamp

    def add_kek(self) -> int:
        """Add a key-encryption key version, save the keyring, and return the version."""
        version = self._ring.add_kek()
        self._save()
        return version

    def add_signing_key(self) -> str:
        """Add an Ed25519 signing key, save the keyring, and return its key id."""
        kid = self._ring.add_signing_key()
        self._save()
        return kid

    def _save(self) -> None:
        if self._path is not None:
            save_keyring(self._ring, self._path)
            self._stamp = _stamp(self._path)

    # --- plaintext in or out: each takes the transaction and records its entry -----------------

    def enrol(self, tx: Tx, citizen_id: str, name: str | None, basis: str) -> str:
        """Store a person checked at a counter (ID and name sealed); return their blind index."""
        ref = next(iter(self._unwrapping(
            lambda: _subjects.ensure_subjects(tx.session, self._ring, tx.clock, [(citizen_id, name)], checked=True))))
        tx.under(basis=basis).record(Tag.SUBJECT_ENROLLED, subject_ref=ref)
        return ref

    def ingest(self, tx: Tx, provider: Provider, batch: Sequence[Prepared | Packed]) -> list[Ingested]:
        """Store prepared records (an entry each); a retried idempotency key returns the first result."""
        return self._unwrapping(lambda: _records.ingest(tx, self._ring, provider, batch))

    def revoke(self, tx: Tx, provider: Provider, record_id: str, reason: str) -> Ingested:
        """Revoke one of the provider's records, the reason sealed; raises RecordNotFound, RecordConflict."""
        return self._unwrapping(lambda: _records.revoke(tx, self._ring, provider, record_id, reason))

    def period_state(self, tx: Tx, provider: Provider, record_id: str) -> PeriodState:
        """Return the period of one of the provider's records, locked for a change; raises RecordNotFound."""
        return _records.period_state(tx, provider, record_id)

    def change_period(self, tx: Tx, provider: Provider, state: PeriodState, kind: str, until: date,
                      document: Document) -> Ingested:
        """Give the record read as `state` a new end (a new version, its document sealed, audited).

        Raises RecordNotFound, RecordConflict.
        """
        return self._unwrapping(lambda: _records.change_period(tx, self._ring, provider, state, kind, until, document))

    def reapply_periods(self, tx: Tx, categories: Collection[str], rule: PeriodRule) -> list[str]:
        """Lengthen the ends of records still shown where the catalogue's rules now give them more.

        The payloads are read (never returned) to find each record's case; each change is an entry in `tx`.
        """
        return self._unwrapping(lambda: _records.reapply_periods(tx, self._ring, categories, rule))

    @staticmethod
    def filing_rates(session: Session, since: datetime, until: datetime) -> list[FilingRate]:
        """Return, per provider, its records due by a publication deadline stored in the window, and the late ones.

        Dates and flags only, no plaintext: for the auditors' anomaly report, which records its own read.
        """
        return _records.filing_rates(session, since, until)

    def correct(self, tx: Tx, provider: Provider, record_id: str, payload: dict[str, Any],
                prepare: Callable[[NewRecord], Prepared], reason: str, decided_at: date | None = None,
                document: Document | None = None) -> Ingested:
        """Replace one of the provider's records by a corrected one (the old one revoked and kept); return it.

        The decision date and document stay the old record's unless given."""
        return self._unwrapping(lambda: _records.correct(tx, self._ring, provider, record_id, payload, prepare,
                                                         reason, decided_at, document))

    def file_objection(self, tx: Tx, subject_ref: str, record_id: str, reason: str, evidence: Sequence[Evidence],
                       accept_by: date) -> tuple[str, str]:
        """Store the person's objection, reason and evidence sealed; return (objection id, producing agency)."""
        return self._unwrapping(lambda: _objections.file(tx, self._ring, subject_ref, record_id, reason, evidence,
                                                         accept_by))

    def read_objections(self, tx: Tx, subject_ref: str, ids: Sequence[str]) -> dict[str, ObjectionTexts]:
        """Return the texts of the person's own objections (no evidence contents), recorded as their read."""
        return self._unwrapping(lambda: _objections.read_own(tx, self._ring, subject_ref, ids))

    def release_objection(self, tx: Tx, objection_id: str, provider_id: str,
                          detail: Mapping[str, Any]) -> ObjectionTexts:
        """Return an objection and its evidence to the agency answering it, recorded as a release."""
        return self._unwrapping(lambda: _objections.release_to_agency(tx, self._ring, objection_id, provider_id,
                                                                      detail))

    def answer_objection(self, tx: Tx, objection_id: str, words: str, step: str, detail: Mapping[str, Any]) -> None:
        """Seal the agency's words on an objection under the person's key, recorded as the step."""
        self._unwrapping(lambda: _objections.answer(tx, self._ring, objection_id, words, step, detail))

    def file_repair(self, tx: Tx, subject_ref: str, record_id: str, provider_id: str, methods: Sequence[str],
                    statement: str, commitment: str, evidence: Sequence[Evidence], decide_by: date) -> str:
        """Store the person's repair application, its statement, commitment and evidence sealed; return its id."""
        return self._unwrapping(lambda: _repairs.file(tx, self._ring, subject_ref, record_id, provider_id, methods,
                                                      statement, commitment, evidence, decide_by))

    def read_repairs(self, tx: Tx, subject_ref: str, ids: Sequence[str]) -> dict[str, RepairTexts]:
        """Return the texts of the person's own repair applications (no evidence contents), recorded."""
        return self._unwrapping(lambda: _repairs.read_own(tx, self._ring, subject_ref, ids))

    def release_repair(self, tx: Tx, repair_id: str, provider_id: str, detail: Mapping[str, Any]) -> RepairTexts:
        """Return a repair application and its evidence to the agency deciding it, recorded as a release."""
        return self._unwrapping(lambda: _repairs.release_to_agency(tx, self._ring, repair_id, provider_id, detail))

    def decide_repair(self, tx: Tx, repair_id: str, outcome: str, effect: str | None, words: str,
                      detail: Mapping[str, Any]) -> None:
        """Seal the agency's reason; a repair stops the record's release to third parties. Recorded."""
        self._unwrapping(lambda: _repairs.decide(tx, self._ring, repair_id, outcome, effect, words, detail))

    def propose_listing(self, tx: Tx, subject_ref: str, record_id: str, provider_id: str, kind: str, status: str,
                        measures: Sequence[str], reason: str, basis: str, objection_until: date | None,
                        until: date | None) -> str:
        """Store a listing (名单), its reason and basis sealed, as its first version; return its id. Recorded."""
        return self._unwrapping(lambda: _listings.propose(tx, self._ring, subject_ref, record_id, provider_id, kind,
                                                          status, measures, reason, basis, objection_until, until))

    def seal_listing_words(self, tx: Tx, listing_id: str, version: int, words: str) -> None:
        """Seal the agency's words on one version of a listing under the person's key. Recorded."""
        self._unwrapping(lambda: _listings.seal_words(tx, self._ring, listing_id, version, words))

    def read_listings(self, tx: Tx, subject_ref: str, ids: Sequence[str]) -> dict[str, ListingTexts]:
        """Return the texts of the person's own listings, recorded as their read."""
        return self._unwrapping(lambda: _listings.read_own(tx, self._ring, subject_ref, ids))
    def file_declaration(self, tx: Tx, subject_ref: str, category: str, payload: Mapping[str, Any],
                         commitment: str, authorisation: str, evidence: Sequence[Evidence], item_key: str,
                         verify_by: date) -> str:
        """Store the person's declaration (自愿注册), payload, texts and evidence sealed; return its id."""
        return self._unwrapping(lambda: _declarations.file(tx, self._ring, subject_ref, category, payload,
                                                           commitment, authorisation, evidence, item_key, verify_by))

    def read_declarations(self, tx: Tx, subject_ref: str, ids: Sequence[str]) -> dict[str, DeclarationTexts]:
        """Return the sealed parts of the person's own declarations, recorded as their read."""
        return self._unwrapping(lambda: _declarations.read_own(tx, self._ring, subject_ref, ids))

    def release_declaration(self, tx: Tx, declaration_id: str, provider_id: str, categories: Sequence[str],
                            detail: Mapping[str, Any]) -> DeclarationTexts:
        """Return a declaration in the agency's categories to it for verification, recorded as a release."""
        return self._unwrapping(lambda: _declarations.release_to_agency(tx, self._ring, declaration_id, provider_id,
                                                                        categories, detail))

    def decide_declaration(self, tx: Tx, provider: Provider, declaration_id: str, categories: Sequence[str],
                           outcome: str, words: str, draft: Callable[[DeclarationTexts], RecordDraft],
                           prepare: Callable[[NewRecord], Prepared]) -> Ingested:
        """Seal the agency's reason and store the record its outcome makes (checked by `prepare`). Recorded."""
        return self._unwrapping(lambda: _declarations.decide(tx, self._ring, provider, declaration_id, categories,
                                                             outcome, words, draft, prepare))

    def sign_commitment(self, tx: Tx, subject_ref: str, template: str, body: str, body_role: str, text: str,
                        details: str | None, due_date: date | None) -> str:
        """Store a credit commitment the person signed, its text and details sealed; return its id."""
        return self._unwrapping(lambda: _commitments.sign(tx, self._ring, subject_ref, template, body, body_role,
                                                          text, details, due_date))

    def read_commitments(self, tx: Tx, subject_ref: str, ids: Sequence[str]) -> dict[str, CommitmentTexts]:
        """Return the sealed parts of the person's own commitments, recorded as their read."""
        return self._unwrapping(lambda: _commitments.read_own(tx, self._ring, subject_ref, ids))

    def release_commitment(self, tx: Tx, commitment_id: str, body: str) -> CommitmentTexts:
        """Return a commitment's texts to the body it was made to, recorded as a release."""
        return self._unwrapping(lambda: _commitments.release_to_body(tx, self._ring, commitment_id, body))

    def close_commitment(self, tx: Tx, commitment_id: str, body: str, outcome: str, words: str,
                         breach: tuple[Provider, Callable[[CommitmentTexts], RecordDraft],
                                       Callable[[NewRecord], Prepared]] | None) -> str | None:
        """Seal the body's reason; a breach to an authority stores its record. Returns that record's id. Recorded."""
        return self._unwrapping(lambda: _commitments.close(tx, self._ring, commitment_id, body, outcome, words,
                                                           breach))

    def read_own(self, tx: Tx, subject_ref: str) -> OwnFile:
        """Return the person's identity and every record, recorded as a self report."""
        return self._unwrapping(lambda: _records.read_own(tx, self._ring, subject_ref))

    def release(self, tx: Tx, subject_ref: str, selection: Selection, detail: Mapping[str, Any]) -> Release:
        """Return the selected fields of the selected records, recorded as a release to a third party."""
        return self._unwrapping(lambda: _releases.release(tx, self._ring, subject_ref, selection, detail))

    def record_dates(self, tx: Tx, subject_ref: str, categories: Collection[str]) -> list[RecordDates]:
        """Return the state and dates of the person's records in these categories, never their contents.

        What an evaluation weighs for an incentive purpose (EVAL-7): the release it is part of is what the
        audit log records, since nothing sealed is opened here.
        """
        return _releases.record_dates(tx, subject_ref, categories)

    def open_report(self, tx: Tx, subject_ref: str, report_id: str, sealed: bytes) -> bytes:
        """Return a report sealed at its release, recorded as a retrieval by its recipient."""
        return self._unwrapping(
            lambda: _releases.open_for_recipient(tx, self._ring, subject_ref, report_id, sealed))

    def shred(self, tx: Tx, subject_ref: str) -> None:
        """Destroy the person's data key: every payload, the ID and the name become unreadable."""
        _subjects.shred(tx, subject_ref)

    # --- the end of a record's life: no plaintext out, each erasure an entry --------------------

    @staticmethod
    def count_expired(tx: Tx, bounds: Mapping[str, date]) -> list[ExpiryCount]:
        """Return per category how many records are past retention (display ended on or before its bound)."""
        return _erasure.count_due(tx, bounds)

    @staticmethod
    def expire(tx: Tx, bounds: Mapping[str, date], basis: Callable[[str], str], limit: int) -> list[ErasedRecord]:
        """Make tombstones of up to `limit` records past retention, one entry each in `tx`; return them."""
        return _erasure.expire(tx, bounds, basis, limit)

    @staticmethod
    def erase_subject(tx: Tx, subject_ref: str) -> ErasedSubject:
        """Crypto-shred a person (data key, sealed identity, blind index) and make tombstones of their records.

        The basis is the transaction's (`tx.under(basis=...)`). Raises SubjectNotFound.
        """
        return _erasure.erase_subject(tx, subject_ref, tx.access.basis or "")

    def pending_rewrap(self, tx: Tx) -> int:
        """Return how many data keys are not yet wrapped under the current key-encryption key."""
        return _rotation.pending_count(tx.session, self._ring)

    def rewrap(self, tx: Tx, limit: int) -> int:
        """Re-wrap up to `limit` data keys under the current key-encryption key; return how many."""
        return _rotation.rewrap_batch(tx.session, self._ring, limit)

    def _unwrapping(self, call: Callable[[], T]) -> T:
        """Run `call`; if it meets a key version this process has not loaded, reload the keyring and retry.

        During `xinyong keys rotate` another process re-wraps data keys under a new version; a worker
        that meets one reloads at once instead of failing until its next periodic look.
        """
        try:
            return call()
        except UnknownKeyVersion:
            # Keys are unwrapped before anything is written or recorded, so running the call again is safe.
            self.refresh(force=True)
            return call()


def _stamp(path: Path | None) -> tuple[int, int] | None:
    # The keyring is saved by replacing the file, so a new inode says "changed" even within one mtime tick.
    try:
        if path is None:
            return None
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns
