"""The vault's data types: what callers hand it and what its audited methods give back.

Plain frozen dataclasses with no key material but for `Release`, which carries the person's data
key privately so that the report made of a release is sealed for them without a second unwrap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from vault import _crypto


@dataclass(frozen=True, slots=True)
class Document:
    """The legally effective document a record rests on (认定失信行为必须以具有法律效力的文书为依据)."""

    type: str
    number: str
    authority: str
    effective_at: date


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record as a provider submits it, already shape-checked by the gateway."""

    citizen_id: str
    name: str | None
    category: str
    decided_at: date
    document: Document | None
    payload: dict[str, Any]
    idempotency_key: str | None = None
    display_until: date | None = None  # the record's own end, where its document sets one


@dataclass(frozen=True, slots=True)
class Provider:
    """The agency submitting records: the categories it is registered for, its agency role (a code of the
    catalogue's provider roles, or "legacy") and its administrative level."""

    client_id: str
    categories: frozenset[str]
    agency: str
    level: str | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A record already checked against the catalogue it names, ready to be stored as it is."""

    record: NewRecord
    catalogue_version: str
    payload: dict[str, Any]
    display_from: date
    display_until: date | None  # None: shown until the producing agency ends it
    fingerprint: str
    period_source: str = "catalogue"
    publication_due: date | None = None
    filed_late: bool = False


class Packed(NamedTuple):
    """A prepared record with the vault's work that needs no database done (`Vault.pack`): the person's blind
    index and the body to seal, encoded. Plain values in a tuple, so that a bulk import can prepare records in
    worker processes and hand them over for little: a pickled Prepared cost 15.6 us to send and 14.9 us to
    receive, this 3.4 and 1.4 (a busy machine). It holds plaintext (the citizen ID, the body): it never leaves
    the import's processes.
    """

    idempotency_key: str | None
    fingerprint: str
    citizen_id: str
    subject_ref: str
    category: str
    catalogue_version: str
    decided_at: date
    display_from: date
    display_until: date | None
    period_source: str
    publication_due: date | None
    filed_late: bool
    body: bytes

    def __repr__(self) -> str:
        return f"Packed(category={self.category!r}, decided_at={self.decided_at!r})"  # no ID, no payload


@dataclass(frozen=True, slots=True)
class Ingested:
    id: str
    status: str
    display_from: date
    display_until: date | None
    created: bool
    filed_late: bool = False
    version: int = 1


@dataclass(frozen=True, slots=True)
class PeriodState:
    """What a change of a record's end needs to know: no personal data, only its category and dates."""

    id: str
    category: str
    status: str
    decided_at: date
    display_until: date | None
    entry_until: date | None  # the end set on entry, before any change
    version: int


@dataclass(frozen=True, slots=True)
class PeriodChangeView:
    """One change of a record's end, as its person sees it."""

    version: int
    kind: str
    previous_until: date | None
    display_until: date | None
    document: dict[str, Any]
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class RecordView:
    """A record as released to someone entitled to see all of it."""

    id: str
    category: str
    provider_id: str
    status: str
    decided_at: date
    display_from: date
    display_until: date | None
    created_at: datetime
    revoked_at: datetime | None
    payload: dict[str, Any]
    document: dict[str, Any] | None
    version: int = 1
    period_changes: tuple[PeriodChangeView, ...] = ()
    repaired_at: datetime | None = None
    repair_effect: str | None = None
    period_source: str = "catalogue"  # where display_until comes from; anything else is the record's own period


@dataclass(frozen=True, slots=True)
class RecordDates:
    """A record's category, state and dates, without its contents: what an evaluation weighs (EVAL-7)."""

    id: str
    category: str
    status: str
    decided_at: date
    display_from: date
    display_until: date | None
    period_source: str
    repaired_at: datetime | None


@dataclass(frozen=True, slots=True)
class Identity:
    """A person's citizen ID and name, for their own eyes."""

    citizen_id: str
    name: str | None


@dataclass(frozen=True, slots=True)
class OwnFile:
    """Everything the vault holds about a person, for their own eyes."""

    identity: Identity
    records: list[RecordView]
    # What the person's report shows beside the records, read with them: the records with an open objection,
    # {record id: its open repair application}, {record id: the verified declaration it was made of}; and
    # whether the person has any listing (proposed, in effect or ended).
    objections: frozenset[str]
    repairs: Mapping[str, str]
    declarations: Mapping[str, str]
    listed: bool


@dataclass(frozen=True, slots=True)
class Selection:
    """What may be released: per category, the fields; and which records by date."""

    fields: Mapping[str, frozenset[str]]
    shown_on: date
    decided_since: date
    # Categories not released at all while an objection to the record is open (核实期间暂不执行, OBJ-2).
    withheld_while_disputed: frozenset[str] = frozenset()
    # (field, value): only records whose payload holds that value are released, e.g. one occupational group's.
    only: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Released:
    id: str
    category: str
    decided_at: date
    display_until: date | None
    fields: dict[str, Any]
    dispute_since: datetime | None = None  # an objection to it is open since then (OBJ-2)
    self_reported: bool = False  # made of the person's declaration, verified (VOL-1)


@dataclass(frozen=True, slots=True)
class Release:
    """What one audited release gave out: the masked ID and the selected fields of each record."""

    masked_citizen_id: str
    records: list[Released]
    listed: bool  # the person has a listing in effect (of any list): only then is there one to show
    _subject_ref: str = field(repr=False)
    _dek: bytes = field(repr=False)

    def seal_for_subject(self, report_id: str, data: bytes) -> bytes:
        """Encrypt the report made of this release under the person's data key, bound to the report id."""
        return _crypto.seal(self._dek, data, _crypto.report_aad(self._subject_ref, report_id))


@dataclass(frozen=True, slots=True)
class FilingRate:
    """How many records with a publication deadline a provider filed in a window, and how many late."""

    provider_id: str
    filed: int
    late: int


@dataclass(frozen=True, slots=True)
class Evidence:
    """One evidence file of an objection, as the person gave it (its type already checked by its bytes)."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ObjectionTexts:
    """The sealed parts of an objection, opened: the person's reason, the agency's words, the evidence."""

    id: str
    reason: str
    answer: str | None
    evidence: tuple[Evidence, ...]
    evidence_count: int


@dataclass(frozen=True, slots=True)
class RepairTexts:
    """The sealed parts of a repair application, opened: statement, commitment, the agency's words, evidence."""

    id: str
    statement: str
    commitment: str
    answer: str | None
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True, slots=True)
class ListingTexts:
    """The sealed parts of a listing, opened: the agency's reason and basis, and its words on each version."""

    id: str
    reason: str
    basis: str
    words: Mapping[int, str]  # version -> the agency's words on that change, where it gave any


@dataclass(frozen=True, slots=True)
class ExpiryCount:
    """Of one category: how many records are past their retention period now, and how many of those an open
    objection or repair application holds back until it is decided."""

    category: str
    due: int
    held: int


@dataclass(frozen=True, slots=True)
class ErasedRecord:
    """A record made a tombstone: its id, category and the day its display ended."""

    id: str
    category: str
    display_ended: date | None


@dataclass(frozen=True, slots=True)
class ErasedSubject:
    """A person erased: the blind index the audit log knew them by, and how many records became tombstones."""

    subject_ref: str
    records: int
    categories: dict[str, int]


@dataclass(frozen=True, slots=True)
class DeclarationTexts:
    """The sealed parts of a declaration, opened: what was declared, the texts accepted, the agency's words."""

    id: str
    payload: dict[str, Any] = field(repr=False)
    commitment: str = field(repr=False)
    authorisation: str = field(repr=False)
    answer: str | None = field(repr=False)
    evidence: tuple[Evidence, ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class CommitmentTexts:
    """The sealed parts of a credit commitment, opened: the text signed, the person's details, the body's words."""

    id: str
    text: str = field(repr=False)
    details: str | None = field(repr=False)
    answer: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class RecordDraft:
    """A record about a person the vault knows by blind index (a declaration verified, a commitment broken):
    everything but the identity, which the vault adds when it checks and stores it."""

    category: str
    decided_at: date
    document: Document | None
    payload: dict[str, Any] = field(repr=False)
